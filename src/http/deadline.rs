//! Owns the request deadline: a GraphQL, OAuth or webhook request is answered within
//! `PB_REQUEST_TIMEOUT_MS` whatever the database does (a black-holed connection included):
//! 503 `DEADLINE_EXCEEDED` with `Retry-After`. Steps that must not stop halfway (an OAuth code
//! exchange, `syncNow`, `requestReauthorization`) run shielded (`crate::shield`) and finish.

use super::errors::{Shape, retry_later};
use super::{AppState, pages};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

/// The answer to a request that ran past its deadline (pinned).
pub const DEADLINE_EXCEEDED: &str = "DEADLINE_EXCEEDED";
const RETRY_AFTER_SECS: u64 = 2;

/// Routes without this deadline: probes and metrics have their own, a WebSocket lives on after
/// its upgrade, and static assets touch nothing that can hang.
fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics" | "/graphql/ws")
        || path.starts_with("/graphql/assets/")
}

/// Pages a person's browser opens (linking, re-authorizing): they get a page, not JSON.
fn browser_flow(path: &str) -> bool {
    path.starts_with("/oauth/") || path.starts_with("/reauthorize/")
}

/// What a browser sees when a flow step ran long: its work goes on (shielded), so the person
/// is told to look in the app rather than to repeat a step that may already have finished.
fn slow_page() -> Response {
    let mut resp = pages::refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        DEADLINE_EXCEEDED,
        "Still working on it",
        "Your bank connection is taking longer than usual. It will finish without you: \
         go back to the application in a moment to see its status.",
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, RETRY_AFTER_SECS.into());
    resp
}

pub async fn deadline(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if exempt(path) {
        return next.run(req).await;
    }
    let (shape, page) = (Shape::of_path(path), browser_flow(path));
    let limit = state.opts.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            // The handler is dropped here: its open transaction rolls back, nothing half-written.
            state.metrics.http.timed_out.inc();
            tracing::warn!(?limit, "request ran past its deadline");
            if page {
                return slow_page();
            }
            retry_later(
                shape,
                DEADLINE_EXCEEDED,
                "The request took longer than its deadline; retry shortly.",
                RETRY_AFTER_SECS,
            )
        }
    }
}
