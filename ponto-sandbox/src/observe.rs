//! Owns what every request to the simulated Ponto API goes through: the counters, the number of
//! requests in flight (with peaks, globally and per Ponto organization), the log of recent
//! requests with their start and end times, and injected faults (for a number of requests, or
//! for a period). Request times are wall-clock times, not the sandbox's clock: they measure
//! real concurrency, which a manual test clock cannot show.

use super::SandboxState;
use super::control_tx::bad;
use super::render;
use super::state::World;
use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Requests remembered for `GET /_sandbox/requests`.
const LOG_CAPACITY: usize = 10_000;

/// One API request: when it started and ended (wall clock) and how it was answered.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The Ponto organization of the access token, if the request carried one.
    pub organization: Option<String>,
    pub started_at: DateTime<Utc>,
    /// `None` while in flight (or when the client went away first).
    pub ended_at: Option<DateTime<Utc>>,
    pub status: Option<u16>,
}

/// The recent requests, each with the sequence number it was logged under.
#[derive(Default)]
pub struct RequestLog {
    records: VecDeque<RequestRecord>,
    /// Sequence number of the front record.
    first: u64,
}

impl RequestLog {
    fn push(&mut self, r: RequestRecord) -> u64 {
        if self.records.len() == LOG_CAPACITY {
            self.records.pop_front();
            self.first += 1;
        }
        self.records.push_back(r);
        self.first + self.records.len() as u64 - 1
    }

    fn get_mut(&mut self, seq: u64) -> Option<&mut RequestRecord> {
        let i = seq.checked_sub(self.first)?;
        self.records.get_mut(usize::try_from(i).ok()?)
    }
}

/// Keeps a request counted as in flight until it is answered or dropped.
struct InFlight {
    world: Arc<Mutex<World>>,
    organization: Option<Uuid>,
    seq: u64,
    status: Option<u16>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut world = self.world.lock().expect("sandbox state");
        let stats = &mut world.stats;
        stats.concurrent_requests = stats.concurrent_requests.saturating_sub(1);
        if let Some(org) = self.organization
            && let Some(n) = stats.concurrent_by_organization.get_mut(&org)
        {
            *n = n.saturating_sub(1);
        }
        if let Some(r) = world.request_log.get_mut(self.seq) {
            r.ended_at = Some(Utc::now());
            r.status = self.status;
        }
    }
}

/// The organization an `Authorization: Bearer` access token was issued for.
fn organization(world: &World, req: &Request) -> Option<Uuid> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    world.access_tokens.get(token)?.org
}

/// Counts and logs API requests, and answers with a queued fault instead when one matches.
pub async fn faults(State(s): State<SandboxState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let (fault, mut in_flight) = {
        let mut world = s.world.lock().expect("sandbox state");
        let org = organization(&world, &req);
        let stats = &mut world.stats;
        stats.api_requests += 1;
        *stats
            .requests
            .entry(format!("{} {path}", req.method()))
            .or_default() += 1;
        stats.concurrent_requests += 1;
        stats.peak_concurrent_requests = stats
            .peak_concurrent_requests
            .max(stats.concurrent_requests);
        if let Some(org) = org {
            let n = stats.concurrent_by_organization.entry(org).or_default();
            *n += 1;
            let now = *n;
            let peak = stats
                .peak_concurrent_requests_by_organization
                .entry(org.to_string())
                .or_default();
            *peak = (*peak).max(now);
        }
        // The full path: inside `/ponto-connect` the router sees it without that prefix.
        let full_path = req
            .extensions()
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| path.clone(), |u| u.path().to_owned());
        let seq = world.request_log.push(RequestRecord {
            method: req.method().to_string(),
            path: full_path,
            organization: org.map(|o| o.to_string()),
            started_at: Utc::now(),
            ended_at: None,
            status: None,
        });
        let in_flight = InFlight {
            world: s.world.clone(),
            organization: org,
            seq,
            status: None,
        };
        (take_fault(&mut world, &path), in_flight)
    };
    let resp = match fault {
        None => next.run(req).await,
        Some(f) => answer_fault(f, req, next).await,
    };
    in_flight.status = Some(resp.status().as_u16());
    resp
}

/// The fault the request to `path` meets, if any: a period fault applies until it ends, a
/// counted one to its next `count` requests.
fn take_fault(world: &mut World, path: &str) -> Option<super::state::Fault> {
    let now = std::time::Instant::now();
    world.faults.retain(|f| f.until.is_none_or(|u| u > now));
    let i = world
        .faults
        .iter()
        .position(|f| f.path.as_deref().is_none_or(|p| path.contains(p)))?;
    let f = world.faults.get_mut(i)?;
    let out = f.clone();
    if f.until.is_none() {
        f.count -= 1;
        if f.count == 0 {
            world.faults.remove(i);
        }
    }
    Some(out)
}

async fn answer_fault(f: super::state::Fault, req: Request, next: Next) -> Response {
    if f.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(f.delay_ms)).await;
    }
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let body = match f.body.as_deref() {
        Some("malformed") => "<html>not json</html>".to_owned(),
        Some("truncated") => r#"{"data":[{"attributes":{"amount":12.3"#.to_owned(),
        _ if status.is_success() => {
            let resp = next.run(req).await;
            tokio::time::sleep(std::time::Duration::from_millis(f.delay_after_ms)).await;
            return resp;
        }
        _ => {
            render::error_body("sandboxFault", "Injected fault.", serde_json::json!({})).to_string()
        }
    };
    let mut resp = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(secs) = f.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// `POST /_sandbox/stats/reset`: counters and peaks start again from what is in flight now.
pub async fn reset_stats(State(s): State<SandboxState>) -> Response {
    let mut world = s.world.lock().expect("sandbox state");
    let stats = &mut world.stats;
    let in_flight = std::mem::take(&mut stats.concurrent_by_organization);
    *stats = super::state::Stats {
        concurrent_requests: stats.concurrent_requests,
        peak_concurrent_requests: stats.concurrent_requests,
        peak_concurrent_requests_by_organization: in_flight
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(o, n)| (o.to_string(), *n))
            .collect(),
        concurrent_by_organization: in_flight,
        ..Default::default()
    };
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
pub struct Since {
    since: Option<String>,
}

/// `GET /_sandbox/requests?since=<RFC 3339>`: the API requests started since then (all
/// remembered ones without `since`), oldest first.
pub async fn requests(State(s): State<SandboxState>, Query(q): Query<Since>) -> Response {
    let since = match q.since.as_deref().map(DateTime::parse_from_rfc3339) {
        Some(Ok(t)) => Some(t.to_utc()),
        Some(Err(_)) => return bad("since is an RFC 3339 time"),
        None => None,
    };
    let world = s.world.lock().expect("sandbox state");
    let requests: Vec<&RequestRecord> = world
        .request_log
        .records
        .iter()
        .filter(|r| since.is_none_or(|t| r.started_at >= t))
        .collect();
    Json(serde_json::json!({ "requests": requests })).into_response()
}
