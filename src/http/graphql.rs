//! Owns the `/graphql` endpoint: bearer-token authentication, tenant resolution, request-level
//! refusals (size, batches, malformed bodies).

use super::AppState;
use super::errors::{Shape, app_error, json_error, too_large};
use crate::domain::ids::OrganizationId;
use crate::error::AppResult;
use crate::graphql::Principal;
use async_graphql_axum::GraphQLResponse;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Mutex;

/// Organization claim → tenant id, so a request does not write to find its tenant.
#[derive(Default)]
pub struct IdentityCache(Mutex<HashMap<String, OrganizationId>>);

const IDENTITY_CACHE_MAX: usize = 10_000;

impl IdentityCache {
    async fn organization(&self, state: &AppState, claim: &str) -> AppResult<OrganizationId> {
        if let Some(id) = self.0.lock().expect("identity cache").get(claim) {
            return Ok(*id);
        }
        let id = state.store.ensure_organization(claim).await?;
        let mut map = self.0.lock().expect("identity cache");
        if map.len() >= IDENTITY_CACHE_MAX {
            map.clear();
        }
        map.insert(claim.to_owned(), id);
        Ok(id)
    }
}

/// Request-level refusals, before GraphQL sees the document.
pub const BATCH_NOT_SUPPORTED: &str = "BATCH_NOT_SUPPORTED";
pub const MALFORMED_REQUEST: &str = "MALFORMED_REQUEST";

fn refused(status: StatusCode, code: &str, message: &str) -> Response {
    json_error(Shape::GraphQl, status, code, message)
}

/// Reads one GraphQL request from a JSON body: batches (JSON arrays) are refused, and so is
/// a body over the configured size, with a GraphQL-shaped error and a stable code.
async fn read_request(body: Body, max: usize) -> Result<async_graphql::Request, Response> {
    let bytes = super::read_body(body, max)
        .await
        .ok_or_else(|| too_large(Shape::GraphQl, max))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| {
        refused(
            StatusCode::BAD_REQUEST,
            MALFORMED_REQUEST,
            "the body is not JSON",
        )
    })?;
    if value.is_array() {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            BATCH_NOT_SUPPORTED,
            "batched requests are not supported",
        ));
    }
    serde_json::from_value(value).map_err(|_| {
        refused(
            StatusCode::BAD_REQUEST,
            MALFORMED_REQUEST,
            "expected {\"query\", \"variables\", \"operationName\"}",
        )
    })
}

pub async fn execute(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let mut request = match read_request(body, state.opts.max_body_bytes).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match principal_from_headers(&state, &headers).await {
        Ok(Some(p)) => {
            request = request
                .data(crate::graphql::Loaders::new(
                    &state.store,
                    p.organization_id,
                ))
                .data(p);
        }
        Ok(None) => {}
        Err(e) => return unauthenticated(&e),
    }
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
}

/// `None` without an Authorization header (fields then answer UNAUTHENTICATED); an error when
/// a token is present but not acceptable.
pub async fn principal_from_headers(
    state: &AppState,
    headers: &HeaderMap,
) -> AppResult<Option<Principal>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            crate::error::AppError::Unauthenticated("expected Authorization: Bearer <token>".into())
        })?;
    Ok(Some(principal_from_token(state, token).await?.0))
}

/// The caller a bearer token names, and the last second (Unix time) it is accepted.
pub async fn principal_from_token(state: &AppState, token: &str) -> AppResult<(Principal, i64)> {
    let claims = state.auth.verify(token)?;
    let organization_id = state
        .identities
        .organization(state, &claims.organization)
        .await?;
    let principal = Principal {
        organization_id,
        organization: claims.organization,
        organization_name: claims.organization_name,
        subject: claims.subject,
        scopes: claims.scopes,
    };
    Ok((principal, claims.valid_until))
}

/// A GraphQL-shaped 401, so GraphQL clients read `errors[0].extensions.code` as usual.
fn unauthenticated(e: &crate::error::AppError) -> Response {
    let mut resp = app_error(Shape::GraphQl, e);
    if resp.status() == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    resp
}
