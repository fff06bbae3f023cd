//! Owns the inbound Ponto event table: each verified webhook stored raw exactly once (unique on
//! Ponto's event id), keyed by Ponto's organization id and mapped to our tenant at processing
//! time; claimed by workers under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, an immediate
//! transaction on SQLite), then finished with its status. The one table keyed by Ponto's
//! organization rather than ours: it has no GraphQL read path.

use super::{Store, stmt};
use crate::domain::ids::OrganizationId;
use crate::domain::status::{ConnectionStatus, InboundStatus};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{inbound_ponto_event, ponto_connection};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

/// An update of event `id` that ends `owner`'s claim on it, applied only while `owner` still
/// holds it (a claim that ran out and was taken by another worker is left to that worker).
fn end_claim(id: uuid::Uuid, owner: &str) -> sea_orm::UpdateMany<inbound_ponto_event::Entity> {
    inbound_ponto_event::Entity::update_many()
        .col_expr(
            inbound_ponto_event::Column::LeaseOwner,
            Option::<String>::None.into(),
        )
        .col_expr(
            inbound_ponto_event::Column::LeaseUntil,
            Option::<DateTime<Utc>>::None.into(),
        )
        .filter(inbound_ponto_event::Column::Id.eq(id))
        .filter(inbound_ponto_event::Column::LeaseOwner.eq(owner))
}

/// A stored event a worker claimed.
#[derive(Debug, Clone)]
pub struct ClaimedEvent {
    pub id: uuid::Uuid,
    pub ponto_event_id: String,
    pub ponto_organization_id: Option<String>,
    pub event_type: String,
    pub raw_body: Vec<u8>,
    /// Attempts including this one.
    pub attempts: i32,
    pub received_at: DateTime<Utc>,
}

/// Our tenant for a Ponto organization, as far as its link goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tenant {
    /// No link to this Ponto organization has committed (yet).
    Unknown,
    Linked(OrganizationId),
    /// The user unlinked it: Ponto's events about it have no effect.
    Disconnected(OrganizationId),
}

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
            status: Set(InboundStatus::Pending.as_str().into()),
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

    /// Claims up to `limit` due events for `owner` until `until`, oldest first; each claim
    /// counts as an attempt. Several instances never claim one event at once: PostgreSQL skips
    /// rows another transaction holds, SQLite serializes the immediate transactions.
    pub async fn claim_inbound(
        &self,
        owner: &str,
        until: DateTime<Utc>,
        limit: u64,
    ) -> AppResult<Vec<ClaimedEvent>> {
        let now = self.clock().now();
        let lock = match self.backend() {
            DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
            _ => "",
        };
        // Each placeholder once and in order: SQLite's are positional.
        let sql = format!(
            "UPDATE inbound_ponto_event SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM inbound_ponto_event WHERE status = $3 AND next_attempt_at <= $4 \
             AND (lease_until IS NULL OR lease_until < $5) ORDER BY received_at LIMIT $6{lock}) \
             RETURNING id, ponto_event_id, ponto_organization_id, event_type, raw_body, attempts, received_at"
        );
        let values: [sea_orm::Value; 6] = [
            owner.to_owned().into(),
            until.into(),
            InboundStatus::Pending.as_str().into(),
            now.into(),
            now.into(),
            (limit as i64).into(),
        ];
        let tx = self.begin_write().await?;
        let rows = tx
            .conn()
            .query_all_raw(stmt(self.backend(), &sql, values))
            .await?;
        tx.commit().await?;
        rows.into_iter()
            .map(|r| {
                Ok(ClaimedEvent {
                    id: r.try_get("", "id")?,
                    ponto_event_id: r.try_get("", "ponto_event_id")?,
                    ponto_organization_id: r.try_get("", "ponto_organization_id")?,
                    event_type: r.try_get("", "event_type")?,
                    raw_body: r.try_get("", "raw_body")?,
                    attempts: r.try_get("", "attempts")?,
                    received_at: r.try_get("", "received_at")?,
                })
            })
            .collect::<Result<_, sea_orm::DbErr>>()
            .map_err(AppError::from)
    }

    /// Who the tenant of a Ponto organization is now.
    pub async fn tenant_of(&self, ponto_org: &str) -> AppResult<Tenant> {
        let row: Option<(uuid::Uuid, String)> = ponto_connection::Entity::find()
            .select_only()
            .column(ponto_connection::Column::OrganizationId)
            .column(ponto_connection::Column::Status)
            .filter(ponto_connection::Column::PontoOrganizationId.eq(ponto_org))
            .into_tuple()
            .one(self.conn())
            .await?;
        Ok(match row {
            None => Tenant::Unknown,
            Some((org, status)) => match ConnectionStatus::parse(&status) {
                Some(ConnectionStatus::Disconnected) => Tenant::Disconnected(org.into()),
                Some(ConnectionStatus::NotConnected) => Tenant::Unknown,
                Some(_) => Tenant::Linked(org.into()),
                None => {
                    return Err(AppError::internal(format!(
                        "unknown connection status {status:?} in the database"
                    )));
                }
            },
        })
    }

    /// Ends `owner`'s claim on an event with `status` (mapped to `org` when known). `false`
    /// when the claim was lost (the lease ran out and another worker took the event).
    pub async fn finish_inbound(
        &self,
        id: uuid::Uuid,
        owner: &str,
        status: InboundStatus,
        org: Option<OrganizationId>,
        error: Option<&str>,
    ) -> AppResult<bool> {
        let now = self.clock().now();
        let done = matches!(
            status,
            InboundStatus::Processed | InboundStatus::Ignored | InboundStatus::Failed
        );
        let mut q = end_claim(id, owner)
            .col_expr(inbound_ponto_event::Column::Status, status.as_str().into())
            .col_expr(
                inbound_ponto_event::Column::LastError,
                error.map(str::to_owned).into(),
            )
            .col_expr(
                inbound_ponto_event::Column::ProcessedAt,
                done.then_some(now).into(),
            );
        if let Some(org) = org {
            q = q.col_expr(
                inbound_ponto_event::Column::OrganizationId,
                Some(org.0).into(),
            );
        }
        Ok(q.exec(self.conn()).await?.rows_affected == 1)
    }

    /// Gives a claimed event back for another attempt at `next`.
    pub async fn retry_inbound_at(
        &self,
        id: uuid::Uuid,
        owner: &str,
        next: DateTime<Utc>,
        error: &str,
    ) -> AppResult<bool> {
        let n = end_claim(id, owner)
            .col_expr(
                inbound_ponto_event::Column::NextAttemptAt,
                Some(next).into(),
            )
            .col_expr(
                inbound_ponto_event::Column::LastError,
                Some(error.to_owned()).into(),
            )
            .exec(self.conn())
            .await?
            .rows_affected;
        Ok(n == 1)
    }

    /// Makes the parked events of a Ponto organization due now (its link just committed).
    pub async fn unpark_inbound(&self, ponto_org: &str) -> AppResult<u64> {
        let now = self.clock().now();
        Ok(inbound_ponto_event::Entity::update_many()
            .col_expr(
                inbound_ponto_event::Column::Status,
                InboundStatus::Pending.as_str().into(),
            )
            .col_expr(inbound_ponto_event::Column::NextAttemptAt, Some(now).into())
            .filter(inbound_ponto_event::Column::PontoOrganizationId.eq(ponto_org))
            .filter(inbound_ponto_event::Column::Status.eq(InboundStatus::Parked.as_str()))
            .exec(self.conn())
            .await?
            .rows_affected)
    }

    /// Requeues the failed events of `org`'s Ponto organization received since `since`.
    pub async fn requeue_failed_inbound(
        &self,
        org: OrganizationId,
        since: DateTime<Utc>,
    ) -> AppResult<u64> {
        let now = self.clock().now();
        Ok(inbound_ponto_event::Entity::update_many()
            .col_expr(
                inbound_ponto_event::Column::Status,
                InboundStatus::Pending.as_str().into(),
            )
            .col_expr(inbound_ponto_event::Column::Attempts, 0.into())
            .col_expr(inbound_ponto_event::Column::NextAttemptAt, Some(now).into())
            .col_expr(
                inbound_ponto_event::Column::ProcessedAt,
                Option::<DateTime<Utc>>::None.into(),
            )
            .filter(inbound_ponto_event::Column::OrganizationId.eq(org.0))
            .filter(inbound_ponto_event::Column::Status.eq(InboundStatus::Failed.as_str()))
            .filter(inbound_ponto_event::Column::ReceivedAt.gte(since))
            .exec(self.conn())
            .await?
            .rows_affected)
    }

    /// Deletes processed and ignored events finished before `before` (their retention).
    pub async fn delete_finished_inbound(&self, before: DateTime<Utc>) -> AppResult<u64> {
        Ok(inbound_ponto_event::Entity::delete_many()
            .filter(inbound_ponto_event::Column::Status.is_in([
                InboundStatus::Processed.as_str(),
                InboundStatus::Ignored.as_str(),
            ]))
            .filter(inbound_ponto_event::Column::ProcessedAt.lt(before))
            .exec(self.conn())
            .await?
            .rows_affected)
    }

    /// Events by status and Ponto type (metrics and tests).
    pub async fn inbound_counts(&self) -> AppResult<Vec<(String, String, i64)>> {
        Ok(inbound_ponto_event::Entity::find()
            .select_only()
            .column(inbound_ponto_event::Column::Status)
            .column(inbound_ponto_event::Column::EventType)
            .column_as(inbound_ponto_event::Column::Id.count(), "n")
            .group_by(inbound_ponto_event::Column::Status)
            .group_by(inbound_ponto_event::Column::EventType)
            .into_tuple()
            .all(self.conn())
            .await?)
    }

    /// How many events are `PENDING` (an index lookup: metrics read it every second).
    pub async fn pending_inbound_count(&self) -> AppResult<u64> {
        Ok(inbound_ponto_event::Entity::find()
            .filter(inbound_ponto_event::Column::Status.eq(InboundStatus::Pending.as_str()))
            .count(self.conn())
            .await?)
    }

    /// When the oldest due `PENDING` event was received (parked ones are not waiting on us).
    pub async fn oldest_pending_inbound(&self) -> AppResult<Option<DateTime<Utc>>> {
        Ok(inbound_ponto_event::Entity::find()
            .select_only()
            .column(inbound_ponto_event::Column::ReceivedAt)
            .filter(inbound_ponto_event::Column::Status.eq(InboundStatus::Pending.as_str()))
            .order_by_asc(inbound_ponto_event::Column::ReceivedAt)
            .into_tuple()
            .one(self.conn())
            .await?)
    }

    /// An event's status by Ponto's event id (tests and operations).
    pub async fn inbound_status(&self, ponto_event_id: &str) -> AppResult<Option<String>> {
        Ok(inbound_ponto_event::Entity::find()
            .select_only()
            .column(inbound_ponto_event::Column::Status)
            .filter(inbound_ponto_event::Column::PontoEventId.eq(ponto_event_id))
            .into_tuple()
            .one(self.conn())
            .await?)
    }
}
