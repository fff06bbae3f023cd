//! Owns deliveries on their way out: claimed by workers under a lease (`FOR UPDATE SKIP LOCKED`
//! on PostgreSQL, an immediate transaction on SQLite) for enabled endpoints only, each attempt
//! recorded with its outcome, and an endpoint disabled (with its event) when it answers 410 or
//! has failed for too long — each outcome one write transaction, applied only while the worker
//! still holds the claim.

use super::{Store, WriteTx, stmt, update_in};
use crate::domain::event::{EndpointDisabledData, Event};
use crate::domain::ids::{DeliveryId, EndpointId, EventId, OrganizationId};
use crate::domain::status::{AttemptError, AttemptTrigger, DeliveryStatus, EndpointStatus};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{event, webhook_attempt, webhook_delivery, webhook_endpoint};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QuerySelect,
};
use std::collections::HashMap;

/// The longest answer excerpt kept with an attempt, in bytes.
pub const EXCERPT_BYTES: usize = 1024;

/// A delivery a worker holds, with what sending it needs.
#[derive(Clone)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    pub organization_id: OrganizationId,
    pub event_id: EventId,
    pub endpoint_id: EndpointId,
    /// Attempts before this one.
    pub attempts_before: i32,
    /// What started this attempt.
    pub trigger: AttemptTrigger,
    /// This claim's token (the worker and the claim): a later claim of the same delivery,
    /// even by the same worker, has another, so a stale attempt neither sends nor records.
    pub lease_owner: String,
    /// Until when the claim holds it.
    pub lease_until: DateTime<Utc>,
    /// The envelope exactly as stored: the body sent.
    pub payload: String,
    pub url: String,
    pub rate_limit_per_second: Option<i32>,
    pub secret_enc: Vec<u8>,
    pub previous_secret: Option<(Vec<u8>, DateTime<Utc>)>,
    pub failing_since: Option<DateTime<Utc>>,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub status: Option<u16>,
    pub excerpt: Option<String>,
    /// Why there was no answer: a stable code and a few words.
    pub error: Option<(AttemptError, String)>,
}

/// What happens to the delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    RetryAt(DateTime<Utc>),
    /// No attempt left, or the endpoint is gone.
    Failed,
    /// The endpoint asked to stop (410: this delivery fails) or failed for too long (this
    /// delivery waits for its retry, sent if the endpoint is enabled again): disabled with
    /// this reason.
    DisableEndpoint(String, Option<DateTime<Utc>>),
}

impl Store {
    /// Claims up to `limit` due deliveries for `owner` until `until`, oldest due first, for
    /// enabled endpoints not in `busy` (the endpoints this worker has no room for right now).
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        until: DateTime<Utc>,
        limit: u64,
        busy: &[EndpointId],
    ) -> AppResult<Vec<ClaimedDelivery>> {
        let now = self.clock().now();
        let lock = match self.backend() {
            DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
            _ => "",
        };
        // Each placeholder once and in order: SQLite's are positional. The busy endpoints are
        // bound like the rest (each backend stores a uuid its own way).
        let mut values: Vec<sea_orm::Value> = vec![
            owner.to_owned().into(),
            until.into(),
            DeliveryStatus::Pending.as_str().into(),
            now.into(),
            now.into(),
            EndpointStatus::Enabled.as_str().into(),
        ];
        let not_busy = if busy.is_empty() {
            String::new()
        } else {
            let first = values.len() + 1;
            let marks: Vec<String> = (0..busy.len()).map(|i| format!("${}", first + i)).collect();
            values.extend(busy.iter().map(|e| sea_orm::Value::from(e.0)));
            format!(" AND d.endpoint_id NOT IN ({})", marks.join(", "))
        };
        let limit_mark = values.len() + 1;
        values.push((limit as i64).into());
        let sql = format!(
            "UPDATE webhook_delivery SET lease_owner = $1, lease_until = $2 \
             WHERE id IN (SELECT d.id FROM webhook_delivery d WHERE d.status = $3 AND d.next_attempt_at <= $4 \
             AND (d.lease_until IS NULL OR d.lease_until < $5) \
             AND EXISTS (SELECT 1 FROM webhook_endpoint e WHERE e.id = d.endpoint_id AND e.status = $6 AND e.deleted_at IS NULL){not_busy} \
             ORDER BY d.next_attempt_at LIMIT ${limit_mark}{lock}) \
             RETURNING id, organization_id, event_id, endpoint_id, attempt_count, next_trigger"
        );
        let tx = self.begin_write().await?;
        let rows = tx
            .conn()
            .query_all_raw(stmt(self.backend(), &sql, values))
            .await?;
        struct Row {
            id: uuid::Uuid,
            org: uuid::Uuid,
            event: uuid::Uuid,
            endpoint: uuid::Uuid,
            attempts: i32,
            trigger: String,
        }
        let rows: Vec<Row> = rows
            .into_iter()
            .map(|r| {
                Ok(Row {
                    id: r.try_get("", "id")?,
                    org: r.try_get("", "organization_id")?,
                    event: r.try_get("", "event_id")?,
                    endpoint: r.try_get("", "endpoint_id")?,
                    attempts: r.try_get("", "attempt_count")?,
                    trigger: r.try_get("", "next_trigger")?,
                })
            })
            .collect::<Result<_, sea_orm::DbErr>>()?;
        // The events and endpoints of the whole claim in two statements, by primary key; each
        // checked below to be its delivery's organization's.
        let events: HashMap<uuid::Uuid, event::Model> = event::Entity::find()
            .filter(event::Column::Id.is_in(rows.iter().map(|r| r.event)))
            .all(tx.conn())
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let endpoints: HashMap<uuid::Uuid, webhook_endpoint::Model> =
            webhook_endpoint::Entity::find()
                .filter(webhook_endpoint::Column::Id.is_in(rows.iter().map(|r| r.endpoint)))
                .all(tx.conn())
                .await?
                .into_iter()
                .map(|e| (e.id, e))
                .collect();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let ev = events.get(&r.event).filter(|e| e.organization_id == r.org);
            let ep = endpoints
                .get(&r.endpoint)
                .filter(|e| e.organization_id == r.org);
            let (Some(ev), Some(ep)) = (ev, ep) else {
                return Err(AppError::internal(
                    "a delivery's event or endpoint is missing",
                ));
            };
            out.push(ClaimedDelivery {
                id: r.id.into(),
                organization_id: r.org.into(),
                event_id: r.event.into(),
                endpoint_id: r.endpoint.into(),
                attempts_before: r.attempts,
                trigger: AttemptTrigger::parse(&r.trigger)
                    .ok_or_else(|| AppError::internal("unknown stored attempt trigger"))?,
                lease_owner: owner.to_owned(),
                lease_until: until,
                payload: ev.payload.clone(),
                url: ep.url.clone(),
                rate_limit_per_second: ep.rate_limit_per_second,
                secret_enc: ep.secret_enc.clone(),
                previous_secret: ep
                    .previous_secret_enc
                    .clone()
                    .zip(ep.previous_secret_expires_at),
                failing_since: ep.failing_since,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Right before sending: extends the claim to `until` if it is still this claim's, still
    /// pending and not run out. `None` when it is not (send nothing); else since when the
    /// endpoint has been failing, as it is now.
    pub async fn confirm_lease(
        &self,
        d: &ClaimedDelivery,
        until: DateTime<Utc>,
    ) -> AppResult<Option<Option<DateTime<Utc>>>> {
        use webhook_delivery::Column as C;
        let now = self.clock().now();
        let held = update_in::<webhook_delivery::Entity>(d.organization_id)
            .filter(C::Id.eq(d.id.0))
            .filter(C::LeaseOwner.eq(d.lease_owner.as_str()))
            .filter(C::LeaseUntil.gt(now))
            .filter(C::Status.eq(DeliveryStatus::Pending.as_str()))
            .col_expr(C::LeaseUntil, Expr::value(Some(until)))
            .exec(self.conn())
            .await?
            .rows_affected
            == 1;
        if !held {
            return Ok(None);
        }
        let failing: Option<Option<DateTime<Utc>>> =
            super::find_in::<webhook_endpoint::Entity>(d.organization_id)
                .select_only()
                .column(webhook_endpoint::Column::FailingSince)
                .filter(webhook_endpoint::Column::Id.eq(d.endpoint_id.0))
                .into_tuple()
                .one(self.conn())
                .await?;
        Ok(Some(failing.flatten()))
    }

    /// Records an attempt and what follows it, if this claim still holds the delivery; whether
    /// it did. The endpoint's failure clock starts at its first failure and stops at a success.
    /// A delivery cancelled meanwhile (its endpoint deleted) keeps its status and gets the
    /// attempt on record.
    pub async fn finish_attempt(
        &self,
        d: &ClaimedDelivery,
        attempt: Attempt,
        next: Next,
    ) -> AppResult<bool> {
        use webhook_delivery::Column as C;
        let org = d.organization_id;
        let owner = d.lease_owner.as_str();
        let mut tx = self.begin_write().await?;
        if matches!(next, Next::DisableEndpoint(..)) {
            // Lock order: the event log before delivery rows, as deleting or disabling an
            // endpoint takes them (it cancels deliveries under that lock). The other way round
            // both waited on each other (a PostgreSQL deadlock, seen once under load).
            tx.lock_event_log(org).await?;
        }
        let now = tx.now();
        let (status, next_at, done) = match &next {
            Next::Succeeded => (DeliveryStatus::Succeeded, None, Some(now)),
            Next::RetryAt(at) => (DeliveryStatus::Pending, Some(*at), None),
            Next::DisableEndpoint(_, Some(at)) => (DeliveryStatus::Pending, Some(*at), None),
            Next::Failed | Next::DisableEndpoint(_, None) => {
                (DeliveryStatus::Failed, None, Some(now))
            }
        };
        let held = update_in::<webhook_delivery::Entity>(org)
            .filter(C::Id.eq(d.id.0))
            .filter(C::LeaseOwner.eq(owner))
            .filter(C::Status.eq(DeliveryStatus::Pending.as_str()))
            .col_expr(C::Status, Expr::value(status.as_str()))
            .col_expr(C::AttemptCount, Expr::value(d.attempts_before + 1))
            .col_expr(C::NextAttemptAt, Expr::value(next_at))
            .col_expr(C::LastAttemptAt, Expr::value(Some(attempt.started_at)))
            .col_expr(C::CompletedAt, Expr::value(done))
            .col_expr(
                C::NextTrigger,
                Expr::value(AttemptTrigger::Scheduled.as_str()),
            )
            .col_expr(C::LeaseOwner, Expr::value(None::<String>))
            .col_expr(C::LeaseUntil, Expr::value(None::<DateTime<Utc>>))
            .col_expr(C::UpdatedAt, Expr::value(now))
            .exec(tx.conn())
            .await?
            .rows_affected
            == 1;
        if !held {
            let cancelled = update_in::<webhook_delivery::Entity>(org)
                .filter(C::Id.eq(d.id.0))
                .filter(C::LeaseOwner.eq(owner))
                .filter(C::Status.eq(DeliveryStatus::Cancelled.as_str()))
                .col_expr(C::AttemptCount, Expr::value(d.attempts_before + 1))
                .col_expr(C::LeaseOwner, Expr::value(None::<String>))
                .col_expr(C::LeaseUntil, Expr::value(None::<DateTime<Utc>>))
                .exec(tx.conn())
                .await?
                .rows_affected
                == 1;
            if cancelled {
                insert_attempt(&tx, d, attempt).await?;
                tx.commit().await?;
            }
            return Ok(cancelled);
        }
        insert_attempt(&tx, d, attempt.clone()).await?;
        use webhook_endpoint::Column as E;
        let endpoint = update_in::<webhook_endpoint::Entity>(org).filter(E::Id.eq(d.endpoint_id.0));
        match next {
            Next::Succeeded => {
                endpoint
                    .col_expr(E::FailingSince, Expr::value(None::<DateTime<Utc>>))
                    .exec(tx.conn())
                    .await?;
            }
            Next::RetryAt(_) | Next::Failed => {
                endpoint
                    .filter(E::FailingSince.is_null())
                    .col_expr(E::FailingSince, Expr::value(Some(attempt.started_at)))
                    .exec(tx.conn())
                    .await?;
            }
            Next::DisableEndpoint(reason, _) => {
                tx.disable_failing_endpoint(org, d, &reason).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Hands a claimed delivery back untouched, for a later claim.
    pub async fn release_deliveries(&self, ds: &[ClaimedDelivery]) -> AppResult<()> {
        use webhook_delivery::Column as C;
        let Some(first) = ds.first() else {
            return Ok(());
        };
        // One claim's deliveries: one token. Not scoped by organization (a claim spans them);
        // the token is the claim's own, so only what this claim holds is released.
        debug_assert!(ds.iter().all(|d| d.lease_owner == first.lease_owner));
        webhook_delivery::Entity::update_many()
            .filter(C::Id.is_in(ds.iter().map(|d| d.id.0)))
            .filter(C::LeaseOwner.eq(first.lease_owner.as_str()))
            .col_expr(C::LeaseOwner, Expr::value(None::<String>))
            .col_expr(C::LeaseUntil, Expr::value(None::<DateTime<Utc>>))
            .exec(self.conn())
            .await?;
        Ok(())
    }
}

async fn insert_attempt(tx: &WriteTx, d: &ClaimedDelivery, attempt: Attempt) -> AppResult<()> {
    webhook_attempt::Entity::insert(webhook_attempt::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        organization_id: Set(d.organization_id.0),
        delivery_id: Set(d.id.0),
        attempt_number: Set(d.attempts_before + 1),
        trigger: Set(d.trigger.as_str().to_owned()),
        started_at: Set(attempt.started_at),
        duration_ms: Set(attempt.duration_ms),
        response_status: Set(attempt.status.map(i32::from)),
        response_body: Set(attempt.excerpt),
        error_code: Set(attempt.error.as_ref().map(|(c, _)| c.as_str().to_owned())),
        error: Set(attempt.error.map(|(_, words)| words)),
    })
    .exec_without_returning(tx.conn())
    .await?;
    Ok(())
}

impl WriteTx {
    /// Disables the endpoint (once) and announces it. Its pending deliveries stay pending: they
    /// are sent if a person enables it again.
    async fn disable_failing_endpoint(
        &mut self,
        org: OrganizationId,
        d: &ClaimedDelivery,
        reason: &str,
    ) -> AppResult<()> {
        use webhook_endpoint::Column as E;
        self.lock_event_log(org).await?;
        let now = self.now();
        let changed = update_in::<webhook_endpoint::Entity>(org)
            .filter(E::Id.eq(d.endpoint_id.0))
            .filter(E::Status.eq(EndpointStatus::Enabled.as_str()))
            .col_expr(E::Status, Expr::value(EndpointStatus::Disabled.as_str()))
            .col_expr(E::DisabledReason, Expr::value(Some(reason.to_owned())))
            .col_expr(E::DisabledAt, Expr::value(Some(now)))
            .col_expr(E::UpdatedAt, Expr::value(now))
            .exec(self.conn())
            .await?
            .rows_affected
            == 1;
        if !changed {
            return Ok(());
        }
        let origin = url::Url::parse(&d.url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        let event = Event::endpoint_disabled(EndpointDisabledData {
            endpoint_id: d.endpoint_id.to_string(),
            origin,
            reason: reason.to_owned(),
        });
        self.append_event(org, &event, None).await?;
        Ok(())
    }
}
