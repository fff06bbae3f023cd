//! Owns the organization's event log in the API (scope `admin`): `events(after, types, first)`
//! in sequence order, each `Event { id, seq, cursor, type, timestamp, data }` (pinned) exactly
//! as subscribers receive it; a cursor older than the retained log is `CURSOR_EXPIRED`.

use super::errors::GqlResult;
use super::{ContextExt, RequireScope, ids};
use crate::domain::event::EventType;
use crate::domain::scope::Scope;
use crate::error::AppError;
use crate::store::events::{LogBounds, StoredEvent};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, Json, Object, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

pub const EVENT_TYPE: &str = "Event";
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 100;

/// One entry of the event log: the envelope delivered to webhook endpoints.
#[derive(SimpleObject)]
pub struct Event {
    /// The `webhook-id` its deliveries carry.
    pub id: ID,
    /// Its place in the organization's log: commit order, no gaps.
    pub seq: i64,
    /// Pass as `after` to read what follows it.
    pub cursor: String,
    #[graphql(name = "type")]
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    pub data: Json<serde_json::Value>,
}

fn encode_cursor(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
}

fn decode_cursor(c: &str) -> Option<i64> {
    let raw = URL_SAFE_NO_PAD.decode(c).ok()?;
    let seq: i64 = std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("seq:")?
        .parse()
        .ok()?;
    (seq >= 0).then_some(seq)
}

impl TryFrom<StoredEvent> for Event {
    type Error = AppError;
    fn try_from(e: StoredEvent) -> Result<Self, AppError> {
        let mut envelope: serde_json::Value = serde_json::from_str(&e.payload)
            .map_err(|_| AppError::internal("a stored event is not JSON"))?;
        let timestamp = envelope["timestamp"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or(e.created_at, |t| t.with_timezone(&Utc));
        Ok(Self {
            id: ID(ids::encode(EVENT_TYPE, e.id.0)),
            seq: e.seq,
            cursor: encode_cursor(e.seq),
            event_type: e.event_type.as_str().to_owned(),
            timestamp,
            data: Json(envelope["data"].take()),
        })
    }
}

/// Where reading starts: after the cursor, or at the oldest event kept. A cursor whose next
/// events are no longer kept would silently skip them: refused instead.
pub(super) fn start(after: Option<&str>, bounds: LogBounds) -> Result<i64, AppError> {
    let Some(c) = after else {
        return Ok(bounds.oldest_kept.map_or(bounds.last, |o| o - 1));
    };
    let seq = decode_cursor(c)
        .filter(|s| *s <= bounds.last)
        .ok_or_else(|| AppError::bad_input("`after` is not a cursor of this event log"))?;
    let next_kept = bounds.oldest_kept.unwrap_or(bounds.last + 1);
    if seq + 1 < next_kept {
        return Err(AppError::CursorExpired(format!(
            "events after this cursor are no longer kept (the oldest kept is number {next_kept}): read from the start, without `after`"
        )));
    }
    Ok(seq)
}

/// Catalogue names as event types (none: every type).
pub(super) fn parse_types(types: Option<Vec<String>>) -> Result<Vec<EventType>, AppError> {
    types
        .unwrap_or_default()
        .iter()
        .map(|t| {
            EventType::parse(t)
                .ok_or_else(|| AppError::bad_input(format!("{t:?} is not an event type")))
        })
        .collect()
}

#[derive(Default)]
pub struct EventsQuery;

#[Object]
impl EventsQuery {
    /// The organization's events in sequence order, after `after` (an event's `cursor`), of
    /// `types` only (catalogue names; all when omitted), at most `first` (default 50, at most
    /// 100). `CURSOR_EXPIRED` when events after the cursor are no longer kept.
    #[graphql(
        guard = "RequireScope(Scope::Admin)",
        complexity = "super::page_complexity(first, None, child_complexity)"
    )]
    async fn events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        types: Option<Vec<String>>,
        first: Option<i32>,
    ) -> GqlResult<Connection<String, Event>> {
        let org = ctx.principal()?.organization_id;
        let first = super::page_size(first, DEFAULT_PAGE, MAX_PAGE)?;
        let types = parse_types(types)?;
        let store = ctx.store()?;
        let from = start(after.as_deref(), store.event_log_bounds(org).await?)?;
        let mut found = store
            .events_of_types_after(org, &types, from, first as u64 + 1)
            .await?;
        // Retention may delete events between the two reads: the cursor is checked again after,
        // so a page never skips what was deleted meanwhile.
        if after.is_some() {
            start(after.as_deref(), store.event_log_bounds(org).await?)?;
        }
        let more = found.len() > first;
        found.truncate(first);
        let mut c = Connection::new(after.is_some(), more);
        for e in found {
            let e = Event::try_from(e)?;
            c.edges.push(Edge::new(e.cursor.clone(), e));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn bounds(oldest_kept: Option<i64>, last: i64) -> LogBounds {
        LogBounds { oldest_kept, last }
    }

    #[test]
    fn cursors_start_after_themselves_and_expire_with_the_log() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(start(None, bounds(Some(5), 9)).unwrap(), 4);
        assert_eq!(start(None, bounds(None, 0)).unwrap(), 0);
        assert_eq!(start(None, bounds(None, 7)).unwrap(), 7);
        assert_eq!(
            start(Some(&encode_cursor(4)), bounds(Some(5), 9)).unwrap(),
            4
        );
        assert_eq!(
            start(Some(&encode_cursor(9)), bounds(Some(5), 9)).unwrap(),
            9
        );
        let code = |r: Result<i64, AppError>| r.unwrap_err().code();
        assert_eq!(
            code(start(Some(&encode_cursor(3)), bounds(Some(5), 9))),
            ErrorCode::CursorExpired
        );
        assert_eq!(
            code(start(Some(&encode_cursor(6)), bounds(None, 7))),
            ErrorCode::CursorExpired
        );
        assert_eq!(
            code(start(Some(&encode_cursor(10)), bounds(Some(5), 9))),
            ErrorCode::BadUserInput
        );
        assert_eq!(
            code(start(Some("garbage"), bounds(Some(5), 9))),
            ErrorCode::BadUserInput
        );
    }
}
