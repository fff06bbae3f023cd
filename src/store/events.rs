//! Owns the event log (the transactional outbox): appending an event with its per-organization
//! sequence number and its webhook deliveries inside the caller's transaction, and reading the
//! log back in sequence order.
//!
//! Sequence numbers come from `UPDATE organization_event_seq … RETURNING`: the row lock lasts
//! until commit, so for one organization sequence order equals commit order on both backends
//! and a reader resuming "after n" can never skip a later-committing lower number
//! (ARCHITECTURE.md, trap 1).

use super::find_in;
use super::{Store, WriteTx, stmt};
use crate::bus::{EventSignal, PG_EVENT_CHANNEL};
use crate::domain::event::{Event, EventType};
use crate::domain::ids::{EndpointId, EventId, OrganizationId};
use crate::domain::status::AttemptTrigger;
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{event, webhook_delivery, webhook_endpoint};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: EventId,
    pub organization_id: OrganizationId,
    pub seq: i64,
    pub event_type: EventType,
    /// The envelope `{type, timestamp, data}` exactly as delivered.
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<event::Model> for StoredEvent {
    type Error = AppError;
    fn try_from(m: event::Model) -> AppResult<Self> {
        let event_type = EventType::parse(&m.event_type).ok_or_else(|| {
            AppError::internal(format!("unknown stored event type {}", m.event_type))
        })?;
        Ok(Self {
            id: m.id.into(),
            organization_id: m.organization_id.into(),
            seq: m.seq,
            event_type,
            payload: m.payload,
            created_at: m.created_at,
        })
    }
}

/// What `append_event` wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub id: EventId,
    pub seq: i64,
    pub deliveries: usize,
}

impl WriteTx {
    /// Appends `event` to the organization's log with the next sequence number and creates a
    /// pending delivery for every enabled endpoint subscribed to its type — all inside this
    /// transaction. With a `dedupe_key` already used by this organization nothing is written
    /// and `None` is returned ("once per Ponto transaction", "once per account and expiry").
    pub async fn append_event(
        &mut self,
        org: OrganizationId,
        event: &Event,
        dedupe_key: Option<&str>,
    ) -> AppResult<Option<Appended>> {
        self.append_one(org, event, dedupe_key, None).await
    }

    /// Appends an event meant for one endpoint only (`webhook_endpoint.test`): logged like any
    /// other, delivered to `endpoint` alone.
    pub async fn append_event_for(
        &mut self,
        org: OrganizationId,
        event: &Event,
        endpoint: EndpointId,
    ) -> AppResult<Appended> {
        self.append_one(org, event, None, Some(endpoint))
            .await?
            .ok_or_else(|| AppError::internal("an event without a dedupe key was skipped"))
    }

    async fn append_one(
        &mut self,
        org: OrganizationId,
        event: &Event,
        dedupe_key: Option<&str>,
        only: Option<EndpointId>,
    ) -> AppResult<Option<Appended>> {
        let backend = self.conn().get_database_backend();
        let seq = self.next_seq(org).await?;
        if let Some(key) = dedupe_key {
            let exists = find_in::<event::Entity>(org)
                .select_only()
                .column(event::Column::Id)
                .filter(event::Column::DedupeKey.eq(key))
                .into_tuple::<uuid::Uuid>()
                .one(self.conn())
                .await?
                .is_some();
            if exists {
                // We hold the sequence row lock, so nobody took a number after ours: give it back.
                self.conn()
                    .execute_raw(stmt(
                        backend,
                        "UPDATE organization_event_seq SET last_seq = last_seq - 1 WHERE organization_id = $1",
                        [org.0.into()],
                    ))
                    .await?;
                return Ok(None);
            }
        }

        let now = self.now();
        let id = EventId::new();
        let payload = event.envelope(now).to_string();
        event::Entity::insert(event::ActiveModel {
            id: Set(id.0),
            organization_id: Set(org.0),
            seq: Set(seq),
            event_type: Set(event.event_type().as_str().to_owned()),
            payload: Set(payload),
            dedupe_key: Set(dedupe_key.map(str::to_owned)),
            created_at: Set(now),
        })
        .exec_without_returning(self.conn())
        .await?;

        let deliveries = match only {
            Some(endpoint) => {
                let row = delivery_row(org, id, endpoint.0, AttemptTrigger::Test, now);
                webhook_delivery::Entity::insert(row)
                    .exec_without_returning(self.conn())
                    .await?;
                1
            }
            None => {
                let endpoints = self.live_endpoints(org).await?;
                self.insert_deliveries(org, &endpoints, &[(id, event.event_type())], now)
                    .await?
            }
        };

        if backend == DbBackend::Postgres {
            // Delivered by PostgreSQL only if and when this transaction commits.
            self.conn()
                .execute_raw(stmt(
                    backend,
                    "SELECT pg_notify($1, $2)",
                    [PG_EVENT_CHANNEL.into(), format!("{}:{seq}", org.0).into()],
                ))
                .await?;
        }
        self.signals.push(EventSignal {
            organization_id: org,
            seq,
        });
        Ok(Some(Appended {
            id,
            seq,
            deliveries,
        }))
    }

    /// Appends many events at once (a page of imported transactions): one sequence update for
    /// the whole batch, events whose dedupe key was used before skipped, deliveries created.
    /// Returns how many were written.
    pub async fn append_events(
        &mut self,
        org: OrganizationId,
        events: Vec<(Event, Option<String>)>,
    ) -> AppResult<usize> {
        self.append_batch(org, events, true).await
    }

    /// `append_events` for events about rows inserted in this very transaction (a transaction
    /// seen for the first time): their dedupe keys cannot have been used, so the lookup is
    /// skipped — on a large event table it costs more than the rest of the page. The unique
    /// index still refuses a repeat, failing the transaction rather than announcing twice.
    pub async fn append_fresh_events(
        &mut self,
        org: OrganizationId,
        events: Vec<(Event, Option<String>)>,
    ) -> AppResult<usize> {
        self.append_batch(org, events, false).await
    }

    async fn append_batch(
        &mut self,
        org: OrganizationId,
        events: Vec<(Event, Option<String>)>,
        check_keys: bool,
    ) -> AppResult<usize> {
        if events.is_empty() {
            return Ok(0);
        }
        let keys: Vec<String> = if check_keys {
            events.iter().filter_map(|(_, k)| k.clone()).collect()
        } else {
            Vec::new()
        };
        let backend = self.conn().get_database_backend();
        // Lock the sequence first when keys are checked: it serializes appends per
        // organization, so the dedupe check cannot race.
        let last = if keys.is_empty() {
            None
        } else {
            Some(self.next_seqs(org, 0).await?)
        };
        let used: std::collections::HashSet<String> = if keys.is_empty() {
            Default::default()
        } else {
            find_in::<event::Entity>(org)
                .select_only()
                .column(event::Column::DedupeKey)
                .filter(event::Column::DedupeKey.is_in(keys))
                .into_tuple::<Option<String>>()
                .all(self.conn())
                .await?
                .into_iter()
                .flatten()
                .collect()
        };
        let mut seen = std::collections::HashSet::new();
        let fresh: Vec<(Event, Option<String>)> = events
            .into_iter()
            .filter(|(_, k)| {
                k.as_ref()
                    .is_none_or(|k| !used.contains(k) && seen.insert(k.clone()))
            })
            .collect();
        if fresh.is_empty() {
            return Ok(0);
        }
        let first = self.next_seqs(org, fresh.len() as i64).await? - fresh.len() as i64 + 1;
        if let Some(last) = last {
            debug_assert_eq!(first, last + 1);
        }
        let now = self.now();
        let mut rows = Vec::with_capacity(fresh.len());
        let mut appended = Vec::with_capacity(fresh.len());
        for (i, (e, key)) in fresh.iter().enumerate() {
            let id = EventId::new();
            let seq = first + i as i64;
            rows.push(event::ActiveModel {
                id: Set(id.0),
                organization_id: Set(org.0),
                seq: Set(seq),
                event_type: Set(e.event_type().as_str().to_owned()),
                payload: Set(e.envelope(now).to_string()),
                dedupe_key: Set(key.clone()),
                created_at: Set(now),
            });
            appended.push((id, seq, e.event_type()));
        }
        for chunk in rows.chunks(500) {
            event::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(self.conn())
                .await?;
        }
        let endpoints = self.live_endpoints(org).await?;
        let kinds: Vec<(EventId, EventType)> =
            appended.iter().map(|(id, _, ty)| (*id, *ty)).collect();
        self.insert_deliveries(org, &endpoints, &kinds, now).await?;
        if let Some((_, seq, _)) = appended.last() {
            self.signals.push(EventSignal {
                organization_id: org,
                seq: *seq,
            });
        }
        if backend == DbBackend::Postgres {
            let last = first + appended.len() as i64 - 1;
            self.conn()
                .execute_raw(stmt(
                    backend,
                    "SELECT pg_notify($1, $2)",
                    [PG_EVENT_CHANNEL.into(), format!("{}:{last}", org.0).into()],
                ))
                .await?;
        }
        Ok(appended.len())
    }

    /// Advances the sequence by `n` (0 just locks it) and returns the last number taken.
    /// Holds the organization's event sequence until commit: events appended meanwhile wait, so
    /// a change of which endpoints receive them (a deletion, a disabling) is never raced by an
    /// event that already read the endpoints as they were.
    pub async fn lock_event_log(&mut self, org: OrganizationId) -> AppResult<()> {
        self.next_seqs(org, 0).await.map(|_| ())
    }

    async fn next_seqs(&self, org: OrganizationId, n: i64) -> AppResult<i64> {
        let backend = self.conn().get_database_backend();
        let row = self
            .conn()
            .query_one_raw(stmt(
                backend,
                "UPDATE organization_event_seq SET last_seq = last_seq + $1 WHERE organization_id = $2 RETURNING last_seq",
                [n.into(), org.0.into()],
            ))
            .await?
            .ok_or_else(|| AppError::internal(format!("no event sequence for organization {org}")))?;
        Ok(row.try_get_by_index::<i64>(0)?)
    }

    /// Takes the organization's next sequence number, holding its row lock until commit.
    async fn next_seq(&self, org: OrganizationId) -> AppResult<i64> {
        let backend = self.conn().get_database_backend();
        let row = self
            .conn()
            .query_one_raw(stmt(
                backend,
                "UPDATE organization_event_seq SET last_seq = last_seq + 1 WHERE organization_id = $1 RETURNING last_seq",
                [org.0.into()],
            ))
            .await?
            .ok_or_else(|| AppError::internal(format!("no event sequence for organization {org}")))?;
        Ok(row.try_get_by_index::<i64>(0)?)
    }

    /// The organization's enabled endpoints and their subscription lists.
    async fn live_endpoints(&self, org: OrganizationId) -> AppResult<Vec<(uuid::Uuid, String)>> {
        Ok(find_in::<webhook_endpoint::Entity>(org)
            .select_only()
            .column(webhook_endpoint::Column::Id)
            .column(webhook_endpoint::Column::EventTypes)
            .filter(
                webhook_endpoint::Column::Status
                    .eq(crate::domain::status::EndpointStatus::Enabled.as_str()),
            )
            .filter(webhook_endpoint::Column::DeletedAt.is_null())
            .into_tuple()
            .all(self.conn())
            .await?)
    }

    /// Pending deliveries of `events` to one endpoint, their first attempt started by `trigger`.
    pub(crate) async fn insert_deliveries_triggered(
        &self,
        org: OrganizationId,
        endpoint: EndpointId,
        events: &[(EventId, EventType)],
        trigger: AttemptTrigger,
        now: DateTime<Utc>,
    ) -> AppResult<usize> {
        let rows: Vec<_> = events
            .iter()
            .map(|(e, _)| delivery_row(org, *e, endpoint.0, trigger, now))
            .collect();
        self.insert_delivery_rows(rows).await
    }

    /// Pending deliveries of events to the endpoints subscribed to their types.
    async fn insert_deliveries(
        &self,
        org: OrganizationId,
        endpoints: &[(uuid::Uuid, String)],
        events: &[(EventId, EventType)],
        now: DateTime<Utc>,
    ) -> AppResult<usize> {
        let rows: Vec<_> = events
            .iter()
            .flat_map(|(event_id, event_type)| {
                endpoints
                    .iter()
                    .filter(|(_, types)| subscribes_to(types, *event_type))
                    .map(move |(endpoint_id, _)| {
                        delivery_row(org, *event_id, *endpoint_id, AttemptTrigger::Scheduled, now)
                    })
            })
            .collect();
        self.insert_delivery_rows(rows).await
    }

    async fn insert_delivery_rows(
        &self,
        rows: Vec<webhook_delivery::ActiveModel>,
    ) -> AppResult<usize> {
        let n = rows.len();
        for chunk in rows.chunks(500) {
            webhook_delivery::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(self.conn())
                .await?;
        }
        Ok(n)
    }
}

/// A pending delivery of an event to an endpoint, due now.
fn delivery_row(
    org: OrganizationId,
    event: EventId,
    endpoint: uuid::Uuid,
    trigger: AttemptTrigger,
    now: DateTime<Utc>,
) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        organization_id: Set(org.0),
        event_id: Set(event.0),
        endpoint_id: Set(endpoint),
        status: Set(crate::domain::status::DeliveryStatus::Pending
            .as_str()
            .to_owned()),
        attempt_count: Set(0),
        next_attempt_at: Set(Some(now)),
        last_attempt_at: Set(None),
        completed_at: Set(None),
        lease_until: Set(None),
        lease_owner: Set(None),
        next_trigger: Set(trigger.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// An endpoint's subscription list is a JSON array of type names; empty means every type.
/// An event meant for one endpoint reaches no other, whatever it subscribes to.
fn subscribes_to(types_json: &str, event_type: EventType) -> bool {
    match serde_json::from_str::<Vec<String>>(types_json) {
        Ok(names) => {
            let types: Vec<EventType> = names.iter().filter_map(|n| EventType::parse(n)).collect();
            // A list of names none of which we know any more subscribes to nothing, not all.
            (names.is_empty() || !types.is_empty()) && event_type.subscribed_by(&types)
        }
        Err(_) => false,
    }
}

/// What the organization's event log holds: the oldest sequence number still kept (none when
/// nothing is), and the last one handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBounds {
    pub oldest_kept: Option<i64>,
    pub last: i64,
}

impl Store {
    pub async fn event_log_bounds(&self, org: OrganizationId) -> AppResult<LogBounds> {
        let oldest_kept: Option<i64> = find_in::<event::Entity>(org)
            .select_only()
            .column(event::Column::Seq)
            .order_by_asc(event::Column::Seq)
            .limit(1)
            .into_tuple()
            .one(self.conn())
            .await?;
        // Keyed by the organization itself.
        let last: Option<i64> = entity::organization_event_seq::Entity::find_by_id(org.0)
            .select_only()
            .column(entity::organization_event_seq::Column::LastSeq)
            .into_tuple()
            .one(self.conn())
            .await?;
        Ok(LogBounds {
            oldest_kept,
            last: last.unwrap_or(0),
        })
    }

    /// The organization's events of these types (all when empty) with a sequence number above
    /// `after`, in sequence order.
    pub async fn events_of_types_after(
        &self,
        org: OrganizationId,
        types: &[EventType],
        after: i64,
        limit: u64,
    ) -> AppResult<Vec<StoredEvent>> {
        let mut q = find_in::<event::Entity>(org).filter(event::Column::Seq.gt(after));
        if !types.is_empty() {
            q = q.filter(event::Column::EventType.is_in(types.iter().map(|t| t.as_str())));
        }
        q.order_by_asc(event::Column::Seq)
            .limit(limit)
            .all(self.conn())
            .await?
            .into_iter()
            .map(StoredEvent::try_from)
            .collect()
    }

    /// The organization's events with a sequence number above `after`, in sequence order.
    pub async fn events_after(
        &self,
        org: OrganizationId,
        after: i64,
        limit: u64,
    ) -> AppResult<Vec<StoredEvent>> {
        find_in::<event::Entity>(org)
            .filter(event::Column::Seq.gt(after))
            .order_by_asc(event::Column::Seq)
            .limit(limit)
            .all(self.conn())
            .await?
            .into_iter()
            .map(StoredEvent::try_from)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_lists() {
        assert!(subscribes_to("[]", EventType::InvoicePaid));
        assert!(subscribes_to(r#"["invoice.paid"]"#, EventType::InvoicePaid));
        assert!(!subscribes_to(
            r#"["invoice.paid"]"#,
            EventType::ConnectionBroken
        ));
        assert!(!subscribes_to("not json", EventType::InvoicePaid));
        // A test event goes only where it was asked to.
        assert!(!subscribes_to("[]", EventType::WebhookEndpointTest));
        assert!(!subscribes_to(
            r#"["webhook_endpoint.test"]"#,
            EventType::WebhookEndpointTest
        ));
    }
}
