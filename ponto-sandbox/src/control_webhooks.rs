//! Owns the control API of the sandbox's outgoing webhooks, under `/_sandbox/webhooks`: the
//! target, emitting any of the 15 types on demand, the misbehaviour controls (duplicate, delay,
//! hold and release, pause and resume) and the delivery log. Documented in the README.

use super::SandboxState;
use super::control_tx::{bad, missing};
use crate::deliver::Order;
use crate::events::EmitRequest;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    url: Option<String>,
}

/// `PUT /_sandbox/webhooks/target` `{url}`: where webhooks go from now on (`null`: nowhere).
pub async fn target(State(s): State<SandboxState>, Json(t): Json<Target>) -> Response {
    let url = match t.url.as_deref().map(url::Url::parse) {
        Some(Ok(u)) if matches!(u.scheme(), "http" | "https") => Some(u),
        Some(_) => return bad("url must be an http(s) URL"),
        None => None,
    };
    s.outbox.set_target(url);
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /_sandbox/webhooks/emit`: one event of any type, as if Ponto had seen it happen.
pub async fn emit(State(s): State<SandboxState>, Json(r): Json<EmitRequest>) -> Response {
    let world = s.world.lock().expect("sandbox state");
    if !world.orgs.contains_key(&r.organization()) {
        return missing("organization");
    }
    if let Some(a) = r.account()
        && world
            .accounts
            .get(&a)
            .is_none_or(|a| a.org != r.organization())
    {
        return missing("account");
    }
    match r.event(world.now()) {
        Ok(e) => {
            let body = json!({"id": e.id.to_string(), "type": e.event_type});
            world.emit(e);
            (StatusCode::CREATED, Json(body)).into_response()
        }
        Err(message) => bad(message),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Duplicate {
    events: u32,
    times: u32,
}

/// `POST /_sandbox/webhooks/duplicate` `{events, times}`: each of the next `events` events is
/// delivered `times` times (same `data.id`).
pub async fn duplicate(State(s): State<SandboxState>, Json(d): Json<Duplicate>) -> Response {
    if d.times == 0 || d.times > 100 {
        return bad("times is 1 to 100");
    }
    s.outbox.duplicate(d.events, d.times);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Delay {
    ms: u64,
    events: Option<u32>,
}

/// `POST /_sandbox/webhooks/delay` `{ms, events?}`: the next `events` events (every one while
/// set, without `events`) wait `ms` before their first attempt; `ms: 0` ends it.
pub async fn delay(State(s): State<SandboxState>, Json(d): Json<Delay>) -> Response {
    if d.ms > 3_600_000 {
        return bad("ms is at most an hour");
    }
    s.outbox.delay(Duration::from_millis(d.ms), d.events);
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /_sandbox/webhooks/hold`: events are kept back until released.
pub async fn hold(State(s): State<SandboxState>) -> Response {
    s.outbox.hold();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Release {
    order: Option<Order>,
}

/// `POST /_sandbox/webhooks/release` `{order?: "emitted"|"reverse"|"random"}`: the held
/// events go out one after another in that order; holding ends. → `{released}`
pub async fn release(State(s): State<SandboxState>, body: Option<Json<Release>>) -> Response {
    let order = body.and_then(|b| b.0.order).unwrap_or(Order::Emitted);
    let released = s.outbox.release(order);
    Json(json!({ "released": released })).into_response()
}

/// `POST /_sandbox/webhooks/pause`: no attempt is made, retries included, until resumed.
pub async fn pause(State(s): State<SandboxState>) -> Response {
    s.outbox.set_paused(true);
    StatusCode::NO_CONTENT.into_response()
}

pub async fn resume(State(s): State<SandboxState>) -> Response {
    s.outbox.set_paused(false);
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /_sandbox/webhooks/deliveries`: every delivery (one per event and copy), oldest first.
pub async fn deliveries(State(s): State<SandboxState>) -> Response {
    Json(json!({ "deliveries": s.outbox.deliveries() })).into_response()
}
