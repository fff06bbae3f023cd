//! Owns HTTP: the axum router, request limits, CORS and the mapping of errors to responses.
//! The only room that knows axum.

mod graphql;
mod health;

use crate::auth::Authenticator;
use crate::error::AppError;
use crate::graphql::AppSchema;
use crate::store::Store;
use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

/// Everything a handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub schema: AppSchema,
    pub auth: Arc<Authenticator>,
    pub identities: Arc<graphql::IdentityCache>,
    pub graphiql: bool,
}

impl AppState {
    pub fn new(store: Store, schema: AppSchema, auth: Arc<Authenticator>, graphiql: bool) -> Self {
        Self {
            store,
            schema,
            auth,
            identities: Arc::default(),
            graphiql,
        }
    }
}

pub struct HttpOptions {
    pub max_body_bytes: usize,
    pub cors_allowed_origins: Vec<String>,
}

pub fn router(state: AppState, opts: &HttpOptions) -> Router {
    Router::new()
        .route("/graphql", get(graphql::graphiql).post(graphql::execute))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(RequestBodyLimitLayer::new(opts.max_body_bytes))
        .layer(cors(&opts.cors_allowed_origins))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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

/// A JSON error body `{"error": {"code", "message"}}` with the code's HTTP status.
pub fn error_response(e: &AppError) -> Response {
    e.log_if_internal();
    let status =
        StatusCode::from_u16(e.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body =
        serde_json::json!({"error": {"code": e.code().as_str(), "message": e.public_message()}});
    (status, axum::Json(body)).into_response()
}
