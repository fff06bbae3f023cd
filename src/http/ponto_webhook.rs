//! Owns `POST /webhooks/ponto`: the raw body read as bytes, at most the webhook limit, then
//! handed to `inbound`.

use super::AppState;
use super::errors::{Shape, json_error, too_large};
use crate::inbound::{Intake, IntakeError};
use crate::ponto::webhook::Rejection;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

fn answer(status: StatusCode, code: &str, message: &str) -> Response {
    json_error(Shape::Plain, status, code, message)
}

pub async fn receive(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let Some(inbound) = s.inbound.clone() else {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "WEBHOOKS_NOT_CONFIGURED",
            "Ponto webhooks are not configured here (PB_PONTO_APPLICATION_ID)",
        );
    };
    let max = s.opts.ponto_webhook_max_body_bytes;
    let Some(bytes) = super::read_body(body, max).await else {
        s.metrics.webhooks.received.inc();
        s.metrics.webhooks.rejected(Rejection::BodyTooLarge);
        return too_large(Shape::Plain, max);
    };
    let signature = headers.get("signature").and_then(|v| v.to_str().ok());
    match inbound.receive(signature, &bytes).await {
        Ok(Intake::Stored) => {
            (StatusCode::OK, axum::Json(json!({"status": "stored"}))).into_response()
        }
        Ok(Intake::Duplicate) => {
            (StatusCode::OK, axum::Json(json!({"status": "duplicate"}))).into_response()
        }
        // Not the sender's fault: Ponto retries later.
        Err(IntakeError::Rejected(r @ Rejection::KeysUnavailable)) => {
            answer(StatusCode::SERVICE_UNAVAILABLE, r.code(), r.message())
        }
        Err(IntakeError::Rejected(r)) => answer(StatusCode::BAD_REQUEST, r.code(), r.message()),
        Err(IntakeError::NotAnEvent) => answer(
            StatusCode::BAD_REQUEST,
            "NOT_AN_EVENT",
            "the body is not a Ponto event (data.id and data.type are required)",
        ),
        Err(IntakeError::Internal(e)) => super::error_response(&e),
    }
}
