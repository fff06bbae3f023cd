//! Owns liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database does,
//! within its own time limit — a probe gets an answer, never a wait).

use super::AppState;
use super::errors::{Shape, json_error};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `/readyz` while the database cannot be reached in time (pinned).
pub const DATABASE_UNAVAILABLE: &str = "DATABASE_UNAVAILABLE";

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let why = match tokio::time::timeout(state.opts.readyz_timeout, state.store.ping()).await {
        Ok(Ok(())) => {
            state.metrics.database_up.set(1);
            return Json(serde_json::json!({"status": "ready"})).into_response();
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {:?}", state.opts.readyz_timeout),
    };
    state.metrics.database_up.set(0);
    tracing::warn!(error = %crate::error::Esc(&why), "readiness check failed");
    let mut response = json_error(
        Shape::Plain,
        StatusCode::SERVICE_UNAVAILABLE,
        DATABASE_UNAVAILABLE,
        "The database cannot be reached.",
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        crate::error::DATABASE_RETRY_AFTER_SECS.into(),
    );
    response
}
