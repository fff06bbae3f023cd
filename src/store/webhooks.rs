//! Owns webhook endpoints and their deliveries as rows (the outbound room adds signing and
//! sending on top).

use super::find_in;
use super::{Store, WriteTx};
use crate::domain::event::EventType;
use crate::domain::ids::{EndpointId, EventId, OrganizationId};
use crate::domain::status::DeliveryStatus;
use crate::error::{AppError, AppResult};
use entity::{webhook_delivery, webhook_endpoint};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

/// A new endpoint. `secret_enc` is the signing secret already sealed by the caller.
#[derive(Clone)]
pub struct NewEndpoint {
    pub url: String,
    pub description: Option<String>,
    /// Subscribed types; empty means every type.
    pub event_types: Vec<EventType>,
    pub secret_enc: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub endpoint_id: EndpointId,
    pub event_id: EventId,
    pub status: DeliveryStatus,
    pub attempt_count: i32,
}

impl WriteTx {
    pub async fn create_endpoint(
        &mut self,
        org: OrganizationId,
        new: NewEndpoint,
    ) -> AppResult<EndpointId> {
        let id = EndpointId::new();
        let now = self.now();
        let types: Vec<&str> = new.event_types.iter().map(|t| t.as_str()).collect();
        webhook_endpoint::Entity::insert(webhook_endpoint::ActiveModel {
            id: Set(id.0),
            organization_id: Set(org.0),
            url: Set(new.url),
            description: Set(new.description),
            event_types: Set(serde_json::to_string(&types).expect("strings serialize")),
            status: Set(crate::domain::status::EndpointStatus::Enabled
                .as_str()
                .to_owned()),
            disabled_reason: Set(None),
            disabled_at: Set(None),
            secret_enc: Set(new.secret_enc),
            previous_secret_enc: Set(None),
            previous_secret_expires_at: Set(None),
            failing_since: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        })
        .exec_without_returning(self.conn())
        .await?;
        Ok(id)
    }
}

impl Store {
    /// Deliveries created for one event of the organization.
    pub async fn deliveries_for_event(
        &self,
        org: OrganizationId,
        event: EventId,
    ) -> AppResult<Vec<Delivery>> {
        find_in::<webhook_delivery::Entity>(org)
            .filter(webhook_delivery::Column::EventId.eq(event.0))
            .order_by_asc(webhook_delivery::Column::EndpointId)
            .all(self.conn())
            .await?
            .into_iter()
            .map(|d| {
                Ok(Delivery {
                    endpoint_id: d.endpoint_id.into(),
                    event_id: d.event_id.into(),
                    status: DeliveryStatus::parse(&d.status).ok_or_else(|| {
                        AppError::internal(format!(
                            "unknown delivery status {:?} in the database",
                            d.status
                        ))
                    })?,
                    attempt_count: d.attempt_count,
                })
            })
            .collect()
    }
}
