//! Owns liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database does).

use super::{AppState, error_response};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %crate::error::Esc(&e), "readiness check failed");
            let unavailable =
                crate::error::AppError::UpstreamUnavailable("database unavailable".into());
            error_response(&unavailable)
        }
    }
}
