//! Owns the delivery log as subscribers see it: an endpoint's deliveries newest first with their
//! events and attempts, its health (success rate, last error, next retry, backlog), sending a
//! delivery again (`redeliver`) or everything an endpoint missed since a time (`recover`), and
//! the backlog figures behind `/metrics`.

use super::events::StoredEvent;
use super::{Store, WriteTx, find_in, stmt, update_in};
use crate::domain::event::EventType;
use crate::domain::ids::{DeliveryId, EndpointId, EventId, OrganizationId};
use crate::domain::status::{AttemptError, AttemptTrigger, DeliveryStatus};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{event, webhook_attempt, webhook_delivery};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;

/// One delivery with its event.
#[derive(Debug, Clone)]
pub struct DeliveryView {
    pub id: DeliveryId,
    pub endpoint_id: EndpointId,
    pub event: StoredEvent,
    pub status: DeliveryStatus,
    pub attempt_count: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub next_trigger: AttemptTrigger,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// One recorded attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptView {
    pub number: i32,
    pub trigger: AttemptTrigger,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub response_status: Option<i32>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub error_code: Option<AttemptError>,
}

impl AttemptView {
    pub fn succeeded(&self) -> bool {
        self.response_status
            .is_some_and(|s| (200..300).contains(&s))
    }
}

impl TryFrom<webhook_attempt::Model> for AttemptView {
    type Error = AppError;
    fn try_from(m: webhook_attempt::Model) -> AppResult<Self> {
        Ok(Self {
            number: m.attempt_number,
            trigger: AttemptTrigger::parse(&m.trigger)
                .ok_or_else(|| AppError::internal("unknown stored attempt trigger"))?,
            started_at: m.started_at,
            duration_ms: m.duration_ms,
            response_status: m.response_status,
            response_excerpt: m.response_body,
            error: m.error,
            error_code: m
                .error_code
                .as_deref()
                .map(|c| {
                    AttemptError::parse(c)
                        .ok_or_else(|| AppError::internal("unknown stored attempt error code"))
                })
                .transpose()?,
        })
    }
}

/// How an endpoint is doing.
#[derive(Debug, Clone, Default)]
pub struct EndpointHealth {
    /// Attempts and failed attempts since the window's start.
    pub attempts: i64,
    pub failures: i64,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure: Option<AttemptView>,
    /// When the earliest retry of a delivery that failed before is due.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Deliveries not yet made.
    pub backlog: i64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

/// What is waiting to be sent, across every organization (for `/metrics`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Backlog {
    pub pending: i64,
    pub oldest_created_at: Option<DateTime<Utc>>,
}

const SUCCESS: &str = "a.response_status >= 200 AND a.response_status < 300";

impl Store {
    /// The endpoint's deliveries newest first, of one status or all, older than `before`.
    pub async fn endpoint_deliveries(
        &self,
        org: OrganizationId,
        endpoint: EndpointId,
        status: Option<DeliveryStatus>,
        before: Option<DeliveryId>,
        limit: u64,
    ) -> AppResult<Vec<DeliveryView>> {
        use webhook_delivery::Column as C;
        let mut q = find_in::<webhook_delivery::Entity>(org).filter(C::EndpointId.eq(endpoint.0));
        if let Some(s) = status {
            q = q.filter(C::Status.eq(s.as_str()));
        }
        if let Some(b) = before {
            q = q.filter(C::Id.lt(b.0));
        }
        let rows = q.order_by_desc(C::Id).limit(limit).all(self.conn()).await?;
        self.with_events(org, rows).await
    }

    /// One delivery of the organization.
    pub async fn delivery(
        &self,
        org: OrganizationId,
        id: DeliveryId,
    ) -> AppResult<Option<DeliveryView>> {
        let found = self
            .deliveries_where(org, webhook_delivery::Column::Id.eq(id.0))
            .await?;
        Ok(found.into_iter().next())
    }

    /// The deliveries of an event (a test event has one).
    pub async fn deliveries_of_event(
        &self,
        org: OrganizationId,
        event: EventId,
    ) -> AppResult<Vec<DeliveryView>> {
        self.deliveries_where(org, webhook_delivery::Column::EventId.eq(event.0))
            .await
    }

    async fn deliveries_where(
        &self,
        org: OrganizationId,
        condition: sea_orm::sea_query::SimpleExpr,
    ) -> AppResult<Vec<DeliveryView>> {
        let rows = find_in::<webhook_delivery::Entity>(org)
            .filter(condition)
            .all(self.conn())
            .await?;
        self.with_events(org, rows).await
    }

    async fn with_events(
        &self,
        org: OrganizationId,
        rows: Vec<webhook_delivery::Model>,
    ) -> AppResult<Vec<DeliveryView>> {
        let mut events: HashMap<uuid::Uuid, StoredEvent> = HashMap::new();
        for e in find_in::<event::Entity>(org)
            .filter(event::Column::Id.is_in(rows.iter().map(|r| r.event_id)))
            .all(self.conn())
            .await?
        {
            events.insert(e.id, e.try_into()?);
        }
        rows.into_iter()
            .map(|r| {
                let event = events
                    .remove(&r.event_id)
                    .ok_or_else(|| AppError::internal("a delivery's event is missing"))?;
                Ok(DeliveryView {
                    id: r.id.into(),
                    endpoint_id: r.endpoint_id.into(),
                    event,
                    status: DeliveryStatus::parse(&r.status)
                        .ok_or_else(|| AppError::internal("unknown stored delivery status"))?,
                    attempt_count: r.attempt_count,
                    next_attempt_at: r.next_attempt_at,
                    next_trigger: AttemptTrigger::parse(&r.next_trigger)
                        .ok_or_else(|| AppError::internal("unknown stored attempt trigger"))?,
                    last_attempt_at: r.last_attempt_at,
                    completed_at: r.completed_at,
                    created_at: r.created_at,
                })
            })
            .collect()
    }

    /// The attempts of a delivery, oldest first.
    pub async fn attempts_of(
        &self,
        org: OrganizationId,
        delivery: DeliveryId,
    ) -> AppResult<Vec<AttemptView>> {
        find_in::<webhook_attempt::Entity>(org)
            .filter(webhook_attempt::Column::DeliveryId.eq(delivery.0))
            .order_by_asc(webhook_attempt::Column::AttemptNumber)
            .order_by_asc(webhook_attempt::Column::StartedAt)
            .all(self.conn())
            .await?
            .into_iter()
            .map(AttemptView::try_from)
            .collect()
    }

    /// The endpoint's health: attempts since `since`, its last success and failure ever, what
    /// waits.
    pub async fn endpoint_health(
        &self,
        org: OrganizationId,
        endpoint: EndpointId,
        since: DateTime<Utc>,
    ) -> AppResult<EndpointHealth> {
        let backend = self.backend();
        let of_endpoint = "FROM webhook_attempt a JOIN webhook_delivery d ON d.id = a.delivery_id \
             WHERE d.organization_id = $1 AND d.endpoint_id = $2";
        let counts = self
            .conn()
            .query_one_raw(stmt(
                backend,
                &format!(
                    "SELECT COUNT(*) AS attempts, \
                     COALESCE(SUM(CASE WHEN {SUCCESS} THEN 0 ELSE 1 END), 0) AS failures \
                     {of_endpoint} AND a.started_at >= $3"
                ),
                [org.0.into(), endpoint.0.into(), since.into()],
            ))
            .await?
            .ok_or_else(|| AppError::internal("an aggregate returned no row"))?;
        let last = |success: bool| {
            let cond = if success {
                SUCCESS.to_owned()
            } else {
                format!("NOT ({SUCCESS}) OR a.response_status IS NULL")
            };
            stmt(
                backend,
                &format!(
                    "SELECT a.* {of_endpoint} AND ({cond}) ORDER BY a.started_at DESC LIMIT 1"
                ),
                [org.0.into(), endpoint.0.into()],
            )
        };
        let last_success = webhook_attempt::Entity::find()
            .from_raw_sql(last(true))
            .one(self.conn())
            .await?;
        let last_failure = webhook_attempt::Entity::find()
            .from_raw_sql(last(false))
            .one(self.conn())
            .await?
            .map(AttemptView::try_from)
            .transpose()?;

        use webhook_delivery::Column as C;
        let pending = || {
            find_in::<webhook_delivery::Entity>(org)
                .filter(C::EndpointId.eq(endpoint.0))
                .filter(C::Status.eq(DeliveryStatus::Pending.as_str()))
        };
        let (backlog, oldest): (i64, Option<DateTime<Utc>>) = pending()
            .select_only()
            .column_as(C::Id.count(), "n")
            .column_as(C::CreatedAt.min(), "oldest")
            .into_tuple()
            .one(self.conn())
            .await?
            .unwrap_or_default();
        let next_retry_at: Option<DateTime<Utc>> = pending()
            .filter(C::AttemptCount.gt(0))
            .select_only()
            .column_as(C::NextAttemptAt.min(), "next")
            .into_tuple()
            .one(self.conn())
            .await?
            .flatten();
        Ok(EndpointHealth {
            attempts: counts.try_get("", "attempts")?,
            failures: counts.try_get("", "failures")?,
            last_success_at: last_success.map(|a| a.started_at),
            last_failure,
            next_retry_at,
            backlog,
            oldest_pending_at: oldest,
        })
    }

    /// Deliveries not yet made, across organizations (a metrics read, not a tenant one).
    pub async fn delivery_backlog(&self) -> AppResult<Backlog> {
        use webhook_delivery::Column as C;
        let (pending, oldest_created_at): (i64, Option<DateTime<Utc>>) =
            webhook_delivery::Entity::find()
                .filter(C::Status.eq(DeliveryStatus::Pending.as_str()))
                .select_only()
                .column_as(C::Id.count(), "n")
                .column_as(C::CreatedAt.min(), "oldest")
                .into_tuple()
                .one(self.conn())
                .await?
                .unwrap_or_default();
        Ok(Backlog {
            pending,
            oldest_created_at,
        })
    }
}

impl WriteTx {
    /// Makes a delivery due now for one more attempt, started by `MANUAL`; a finished one
    /// becomes pending again. Not while an attempt of it is in flight (its outcome would
    /// overwrite the request): `false`, as for one the organization does not have or that was
    /// cancelled (its endpoint is gone) — the caller tells them apart.
    pub async fn redeliver(&mut self, org: OrganizationId, id: DeliveryId) -> AppResult<bool> {
        use webhook_delivery::Column as C;
        let now = self.now();
        Ok(update_in::<webhook_delivery::Entity>(org)
            .filter(C::Id.eq(id.0))
            .filter(C::Status.ne(DeliveryStatus::Cancelled.as_str()))
            .filter(
                sea_orm::Condition::any()
                    .add(C::LeaseUntil.is_null())
                    .add(C::LeaseUntil.lt(now)),
            )
            .col_expr(C::Status, Expr::value(DeliveryStatus::Pending.as_str()))
            .col_expr(C::NextAttemptAt, Expr::value(Some(now)))
            .col_expr(C::NextTrigger, Expr::value(AttemptTrigger::Manual.as_str()))
            .col_expr(C::CompletedAt, Expr::value(None::<DateTime<Utc>>))
            .col_expr(C::UpdatedAt, Expr::value(now))
            .exec(self.conn())
            .await?
            .rows_affected
            == 1)
    }

    /// Sends an endpoint everything it missed since `since`: its failed deliveries become due
    /// now, and events of the types it subscribes to that it never got a delivery of (it was
    /// disabled then) get one — each attempt started by `RECOVERY`. How many were queued.
    pub async fn recover_endpoint(
        &mut self,
        org: OrganizationId,
        endpoint: EndpointId,
        subscribed: &[EventType],
        since: DateTime<Utc>,
    ) -> AppResult<u64> {
        use webhook_delivery::Column as C;
        let now = self.now();
        let requeued = update_in::<webhook_delivery::Entity>(org)
            .filter(C::EndpointId.eq(endpoint.0))
            .filter(C::Status.eq(DeliveryStatus::Failed.as_str()))
            .filter(C::CreatedAt.gte(since))
            .col_expr(C::Status, Expr::value(DeliveryStatus::Pending.as_str()))
            .col_expr(C::NextAttemptAt, Expr::value(Some(now)))
            .col_expr(
                C::NextTrigger,
                Expr::value(AttemptTrigger::Recovery.as_str()),
            )
            .col_expr(C::CompletedAt, Expr::value(None::<DateTime<Utc>>))
            .col_expr(C::UpdatedAt, Expr::value(now))
            .exec(self.conn())
            .await?
            .rows_affected;
        // Events it never had a delivery of, a page at a time in sequence order.
        let mut after = 0i64;
        let mut created = 0u64;
        loop {
            let page: Vec<(uuid::Uuid, i64, String)> = find_in::<event::Entity>(org)
                .select_only()
                .column(event::Column::Id)
                .column(event::Column::Seq)
                .column(event::Column::EventType)
                .filter(event::Column::CreatedAt.gte(since))
                .filter(event::Column::Seq.gt(after))
                .filter(
                    event::Column::Id.not_in_subquery(
                        sea_orm::sea_query::Query::select()
                            .column(C::EventId)
                            .from(webhook_delivery::Entity)
                            .and_where(C::OrganizationId.eq(org.0))
                            .and_where(C::EndpointId.eq(endpoint.0))
                            .to_owned(),
                    ),
                )
                .order_by_asc(event::Column::Seq)
                .limit(RECOVER_PAGE)
                .into_tuple()
                .all(self.conn())
                .await?;
            let Some(last) = page.last() else { break };
            after = last.1;
            let events: Vec<(EventId, EventType)> = page
                .iter()
                .filter_map(|(id, _, t)| Some(((*id).into(), EventType::parse(t)?)))
                .filter(|(_, t)| t.subscribed_by(subscribed))
                .collect();
            created += self
                .insert_deliveries_triggered(org, endpoint, &events, AttemptTrigger::Recovery, now)
                .await? as u64;
            if (page.len() as u64) < RECOVER_PAGE {
                break;
            }
        }
        Ok(requeued + created)
    }
}

const RECOVER_PAGE: u64 = 1000;

/// What a retention pass deleted (an event's deliveries go with it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub attempts: u64,
    pub events: u64,
}

impl Store {
    /// Deletes attempts started before `attempts_before`, and events logged before
    /// `events_before` with their deliveries — only an organization's oldest ones, up to its
    /// oldest event with a delivery still pending, so the log stays a contiguous tail (a
    /// reader's cursor expires rather than skipping) and nothing waiting to be sent is lost.
    /// A delivery lives as long as its event: recovery reads "no delivery" as "never sent".
    pub async fn purge_delivery_log(
        &self,
        attempts_before: DateTime<Utc>,
        events_before: DateTime<Utc>,
    ) -> AppResult<Purged> {
        let attempts = webhook_attempt::Entity::delete_many()
            .filter(webhook_attempt::Column::StartedAt.lt(attempts_before))
            .exec(self.conn())
            .await?
            .rows_affected;
        let events = self
            .conn()
            .execute_raw(stmt(
                self.backend(),
                "DELETE FROM event WHERE created_at < $1 AND NOT EXISTS (\
                 SELECT 1 FROM webhook_delivery d JOIN event kept ON kept.id = d.event_id \
                 WHERE d.status = $2 AND kept.organization_id = event.organization_id \
                 AND kept.seq <= event.seq)",
                [
                    events_before.into(),
                    DeliveryStatus::Pending.as_str().into(),
                ],
            ))
            .await?
            .rows_affected();
        Ok(Purged { attempts, events })
    }
}
