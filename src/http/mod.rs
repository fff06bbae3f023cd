//! Owns HTTP: the axum router, request limits, CORS and the mapping of errors to responses.
//! The only room that knows axum.

mod deadline;
mod errors;
mod graphiql;
mod graphql;
mod health;
mod metrics;
mod oauth;
mod pages;
mod ponto_webhook;
mod shed;
mod ws;

pub use ws::WsOptions;

pub(crate) use errors::error_response;

use crate::auth::Authenticator;
use crate::error::AppError;
use crate::graphql::AppSchema;
use crate::store::Store;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

/// Everything a handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub schema: AppSchema,
    pub auth: Arc<Authenticator>,
    pub identities: Arc<graphql::IdentityCache>,
    pub opts: Arc<HttpOptions>,
    pub connect: crate::connect::Connect,
    /// `None` when Ponto webhooks are not configured.
    pub inbound: Option<Arc<crate::inbound::Inbound>>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// GraphQL WebSocket connections open here, per organization.
    pub ws_connections: Arc<ws::Connections>,
    /// Requests served at once (load shedding beyond).
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    pub fn new(
        store: Store,
        schema: AppSchema,
        auth: Arc<Authenticator>,
        opts: HttpOptions,
        connect: crate::connect::Connect,
        inbound: Option<Arc<crate::inbound::Inbound>>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            store,
            schema,
            auth,
            identities: Arc::default(),
            connect,
            inbound,
            ws_connections: Arc::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(
                opts.max_requests_in_flight.max(1),
            )),
            opts: Arc::new(opts),
            metrics,
        }
    }
}

pub struct HttpOptions {
    pub max_body_bytes: usize,
    pub ponto_webhook_max_body_bytes: usize,
    pub cors_allowed_origins: Vec<String>,
    /// Serve GraphiQL on `GET /graphql` (follows the introspection switch).
    pub graphiql: bool,
    pub ws: WsOptions,
    /// How long `/readyz` waits for the database.
    pub readyz_timeout: std::time::Duration,
    /// Requests served at once; more are answered 503 `OVERLOADED`.
    pub max_requests_in_flight: usize,
    /// How long a request may run before it is answered 503 `DEADLINE_EXCEEDED`.
    pub request_timeout: std::time::Duration,
}

pub fn router(state: AppState) -> Router {
    let opts = state.opts.clone();
    Router::new()
        .route("/graphql", get(graphiql::page).post(graphql::execute))
        .route("/graphql/ws", get(ws::upgrade))
        .route("/graphql/assets/{name}", get(graphiql::asset))
        .route("/oauth/ponto/start", get(oauth::confirm).post(oauth::start))
        .route(
            "/oauth/ponto/reauthorize",
            get(oauth::start_reauthorization),
        )
        .route("/oauth/ponto/callback", get(oauth::callback))
        .route("/oauth/ponto/reauthorized", get(oauth::reauthorized))
        .route("/reauthorize/done", get(oauth::reauthorize_done))
        .route("/reauthorize/{account}", get(oauth::reauthorize))
        .route("/webhooks/ponto", post(ponto_webhook::receive))
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(middleware::from_fn_with_state(
            opts.max_body_bytes,
            limit_body,
        ))
        // Inside shedding: a request past its deadline gives its place back at once.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            deadline::deadline,
        ))
        // Inside CORS: a browser reads the 503 OVERLOADED instead of a network error.
        .layer(middleware::from_fn_with_state(state.clone(), shed::shed))
        .layer(cors(&opts.cors_allowed_origins))
        // Inside the trace layer, so a panic's 500 shows in its request's span.
        .layer(CatchPanicLayer::custom(panicked))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of a request: method and path only. Query strings never reach a log at any level:
/// on `/oauth/*` and `/reauthorize/*` they hold one-time tickets, codes, states and link tokens.
fn request_span(req: &Request) -> tracing::Span {
    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
}

/// A bug must not cost the client its connection: a panic becomes a logged 500 with the
/// GraphQL-shaped INTERNAL error, like any other masked internal error.
fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = %crate::error::Esc(detail), "request handler panicked");
    // The payload does not say which route panicked; most requests are GraphQL.
    errors::app_error(errors::Shape::GraphQl, &AppError::internal("panic"))
}

/// Refuses a declared huge body at once (413, JSON); handlers read at most the limit.
async fn limit_body(State(max): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Modestly oversized bodies are drained by the handler so the client reads the 413; a
    // huge one is refused without reading it.
    if declared.is_some_and(|n| n > max.saturating_mul(DRAIN_FACTOR) as u64) {
        return errors::too_large(errors::Shape::of_path(req.uri().path()), max);
    }
    next.run(req).await
}

/// How far past the limit a body is still read (and discarded) before we answer 413.
const DRAIN_FACTOR: usize = 16;

/// Reads at most `max` bytes of a body; `None` when it is longer. An oversized body is still
/// drained (up to a bound, briefly) so the client reads our 413 instead of a reset connection.
pub async fn read_body(body: axum::body::Body, max: usize) -> Option<bytes::Bytes> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    let drained = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len();
            if seen <= max {
                buf.extend_from_slice(&chunk);
            } else if seen > max.saturating_mul(DRAIN_FACTOR) {
                break;
            }
        }
    })
    .await;
    (drained.is_ok() && seen <= max).then(|| buf.freeze())
}

/// No cross-origin access unless origins are configured; then exactly those.
fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter(|o| !o.trim().is_empty())
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
}
