//! Owns the inbound Ponto event table: each verified webhook stored raw exactly once (unique on
//! Ponto's event id), keyed by Ponto's organization id and mapped to our tenant when a
//! connection links that Ponto organization. The one table keyed by Ponto's organization rather
//! than ours: it has no GraphQL read path.

use super::Store;
use crate::error::AppResult;
use entity::{inbound_ponto_event, ponto_connection};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

/// A verified Ponto webhook, as received.
pub struct NewInboundEvent<'a> {
    pub ponto_event_id: &'a str,
    pub ponto_organization_id: Option<&'a str>,
    pub event_type: &'a str,
    pub raw_body: &'a [u8],
}

impl Store {
    /// Stores the event unless its Ponto id is already stored; `true` when written now.
    pub async fn store_inbound_event(&self, e: NewInboundEvent<'_>) -> AppResult<bool> {
        let organization: Option<uuid::Uuid> = match e.ponto_organization_id {
            Some(ponto_org) => {
                ponto_connection::Entity::find()
                    .select_only()
                    .column(ponto_connection::Column::OrganizationId)
                    .filter(ponto_connection::Column::PontoOrganizationId.eq(ponto_org))
                    .into_tuple()
                    .one(self.conn())
                    .await?
            }
            None => None,
        };
        let now = self.clock().now();
        let row = inbound_ponto_event::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            ponto_event_id: Set(e.ponto_event_id.to_owned()),
            ponto_organization_id: Set(e.ponto_organization_id.map(str::to_owned)),
            event_type: Set(e.event_type.to_owned()),
            raw_body: Set(e.raw_body.to_vec()),
            received_at: Set(now),
            organization_id: Set(organization),
            status: Set("RECEIVED".into()),
            attempts: Set(0),
            next_attempt_at: Set(Some(now)),
            processed_at: Set(None),
            last_error: Set(None),
            lease_until: Set(None),
            lease_owner: Set(None),
        };
        let inserted = inbound_ponto_event::Entity::insert(row)
            .on_conflict(
                OnConflict::column(inbound_ponto_event::Column::PontoEventId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(self.conn())
            .await?;
        Ok(inserted == 1)
    }

    /// How many inbound events are stored (operations and tests).
    pub async fn inbound_event_count(&self) -> AppResult<u64> {
        Ok(inbound_ponto_event::Entity::find()
            .count(self.conn())
            .await?)
    }

    /// The raw body stored for a Ponto event id.
    pub async fn inbound_event_body(&self, ponto_event_id: &str) -> AppResult<Option<Vec<u8>>> {
        Ok(inbound_ponto_event::Entity::find()
            .select_only()
            .column(inbound_ponto_event::Column::RawBody)
            .filter(inbound_ponto_event::Column::PontoEventId.eq(ponto_event_id))
            .into_tuple()
            .one(self.conn())
            .await?)
    }
}
