//! Owns load shedding: at most `PB_MAX_REQUESTS_IN_FLIGHT` requests are served at once; one
//! more is answered 503 `OVERLOADED` with `Retry-After` at once instead of queueing behind the
//! others. Probes and metrics are never shed.

use super::AppState;
use super::errors::{Shape, retry_later};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// The answer to a request over the bound (pinned).
pub const OVERLOADED: &str = "OVERLOADED";
const RETRY_AFTER_SECS: u64 = 1;

/// Routes answered whatever the load: a load balancer must still learn the truth.
fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

pub async fn shed(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if exempt(req.uri().path()) {
        return next.run(req).await;
    }
    let Ok(permit) = state.in_flight.clone().try_acquire_owned() else {
        state.metrics.http.shed.inc();
        return retry_later(
            Shape::of_path(req.uri().path()),
            OVERLOADED,
            "Too many requests in flight; retry shortly.",
            RETRY_AFTER_SECS,
        );
    };
    let _counted = Counted::new(&state.metrics.http.in_flight);
    let response = next.run(req).await;
    drop(permit);
    response
}

/// One request in the gauge, counted out however it ends (also when the client goes away and
/// the handler is dropped).
struct Counted(prometheus_client::metrics::gauge::Gauge);

impl Counted {
    fn new(gauge: &prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dec();
    }
}
