//! Owns the simulator's Ponto Connect API under `/ponto-connect`: userinfo, accounts,
//! transactions and pending transactions (paged like Ponto), financial institutions, account
//! revocation and integration deletion, with Ponto's JSON:API error bodies.

use super::SandboxState;
use super::render::{self, CollectionDoc, PageQuery, error_body};
use super::state::{AccessToken, World};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

/// A JSON body written with `serde_json::to_vec`, so exact numbers stay exact.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A refusal in Ponto's JSON:API error shape (small, so `Result`s carrying it stay cheap).
pub struct Reject {
    status: StatusCode,
    code: &'static str,
    detail: &'static str,
    resource: Option<&'static str>,
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        let meta = self
            .resource
            .map(|r| json!({"resource": r}))
            .unwrap_or_else(|| json!({}));
        (self.status, Json(error_body(self.code, self.detail, meta))).into_response()
    }
}

pub(super) fn error(
    status: StatusCode,
    code: &'static str,
    detail: &'static str,
    resource: Option<&'static str>,
) -> Reject {
    Reject {
        status,
        code,
        detail,
        resource,
    }
}

pub(super) fn not_found(resource: &'static str) -> Reject {
    error(
        StatusCode::NOT_FOUND,
        "resourceNotFound",
        "The requested resource was not found.",
        Some(resource),
    )
}

/// The caller's access token, or Ponto's `invalidAccessToken` answer.
fn bearer(world: &World, headers: &HeaderMap) -> Result<AccessToken, Reject> {
    let invalid = || {
        error(
            StatusCode::UNAUTHORIZED,
            "invalidAccessToken",
            "Your access token is invalid.",
            None,
        )
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(invalid)?;
    let t = world.access_tokens.get(token.trim()).ok_or_else(invalid)?;
    if t.expires_at < world.now() {
        return Err(invalid());
    }
    Ok(t.clone())
}

/// A user token's live integration and organization.
pub(super) fn user(world: &World, headers: &HeaderMap) -> Result<(Uuid, Uuid), Reject> {
    let t = bearer(world, headers)?;
    match (t.org, t.integration) {
        (Some(org), Some(_)) if world.orgs.get(&org).is_some_and(|o| o.blocked) => Err(error(
            StatusCode::FORBIDDEN,
            "organizationBlocked",
            "The organization is blocked.",
            None,
        )),
        (Some(org), Some(integration)) => Ok((org, integration)),
        _ => Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This endpoint needs a user access token.",
            None,
        )),
    }
}

pub async fn userinfo(
    State(s): State<SandboxState>,
    headers: HeaderMap,
) -> Result<Response, Reject> {
    let world = s.world.lock().expect("sandbox state");
    let (org, _) = user(&world, &headers)?;
    let name = world.orgs.get(&org).map(|o| o.name.clone());
    Ok(Json(json!({
        "name": name, "onboardingComplete": true, "paymentsActivated": false, "paymentsActivationRequested": false,
        "representativeOrganizationId": null, "representativeOrganizationName": null, "sub": org.to_string(),
    }))
    .into_response())
}

pub async fn accounts(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Response, Reject> {
    let world = s.world.lock().expect("sandbox state");
    let (_, integration) = user(&world, &headers)?;
    let shared = world.shared_accounts(integration);
    let ids: Vec<String> = shared.iter().map(|a| a.id.to_string()).collect();
    let url = format!("{}/ponto-connect/accounts", s.base_url);
    Ok(match render::paginate(&ids, &q, &url) {
        Ok((range, links, meta)) => {
            let data: Vec<_> = shared[range]
                .iter()
                .map(|a| render::account(&s.base_url, a))
                .collect();
            json_response(StatusCode::OK, &CollectionDoc { data, links, meta })
        }
        Err(body) => (StatusCode::BAD_REQUEST, Json(body)).into_response(),
    })
}

/// The shared account `id`, or Ponto's not-found answer.
pub(super) fn shared_account(world: &World, integration: Uuid, id: &str) -> Result<Uuid, Reject> {
    let id = Uuid::parse_str(id).map_err(|_| not_found("account"))?;
    let shared = world
        .orgs
        .values()
        .filter_map(|o| o.integration.as_ref())
        .any(|i| i.id == integration && i.accounts.contains(&id));
    if shared {
        Ok(id)
    } else {
        Err(not_found("account"))
    }
}

pub async fn account(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Reject> {
    let world = s.world.lock().expect("sandbox state");
    let (_, integration) = user(&world, &headers)?;
    let id = shared_account(&world, integration, &id)?;
    Ok(json_response(
        StatusCode::OK,
        &json_single(render::account(&s.base_url, &world.accounts[&id])),
    ))
}

#[derive(Serialize)]
pub(super) struct SingleDoc<T: Serialize> {
    data: T,
}

pub(super) fn json_single<T: Serialize>(data: T) -> SingleDoc<T> {
    SingleDoc { data }
}

/// `DELETE /accounts/{id}`: the account leaves the integration.
pub async fn revoke_account(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Reject> {
    let mut world = s.world.lock().expect("sandbox state");
    let (org, integration) = user(&world, &headers)?;
    let id = shared_account(&world, integration, &id)?;
    if let Some(i) = world
        .orgs
        .get_mut(&org)
        .and_then(|o| o.integration.as_mut())
        && i.accounts.remove(&id)
    {
        world.emit_account("pontoConnect.integration.accountRevoked", org, id);
    }
    Ok(Json(json!({"data": {"id": id.to_string(), "type": "account"}})).into_response())
}

fn listing(
    s: &SandboxState,
    headers: &HeaderMap,
    account: &str,
    q: &PageQuery,
    pending: bool,
) -> Result<Response, Reject> {
    let world = s.world.lock().expect("sandbox state");
    let id = user(&world, headers).and_then(|(_, i)| shared_account(&world, i, account))?;
    let txs = world.listed(id, pending);
    let ids: Vec<String> = txs.iter().map(|(t, _)| t.id.to_string()).collect();
    let kind = if pending {
        "pending-transactions"
    } else {
        "transactions"
    };
    let url = format!("{}/ponto-connect/accounts/{id}/{kind}", s.base_url);
    Ok(match render::paginate(&ids, q, &url) {
        Ok((range, links, meta)) => {
            let data: Vec<_> = txs[range]
                .iter()
                .map(|(t, d)| render::transaction(&s.base_url, t, d))
                .collect();
            let meta = render::transactions_meta(&s.base_url, &world.accounts[&id], meta);
            json_response(StatusCode::OK, &CollectionDoc { data, links, meta })
        }
        Err(body) => (StatusCode::BAD_REQUEST, Json(body)).into_response(),
    })
}

fn one_transaction(
    s: &SandboxState,
    headers: &HeaderMap,
    account: &str,
    tx: &str,
    pending: bool,
) -> Result<Response, Reject> {
    let world = s.world.lock().expect("sandbox state");
    let id = user(&world, headers).and_then(|(_, i)| shared_account(&world, i, account))?;
    let resource = if pending {
        "pendingTransaction"
    } else {
        "transaction"
    };
    let (t, d) = world
        .listed(id, pending)
        .into_iter()
        .find(|(t, _)| t.id.to_string() == tx)
        .ok_or_else(|| not_found(resource))?;
    Ok(json_response(
        StatusCode::OK,
        &json_single(render::transaction(&s.base_url, t, d)),
    ))
}

pub async fn transactions(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path(account): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, Reject> {
    listing(&s, &headers, &account, &q, false)
}

pub async fn pending_transactions(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path(account): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, Reject> {
    listing(&s, &headers, &account, &q, true)
}

pub async fn transaction(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path((account, tx)): Path<(String, String)>,
) -> Result<Response, Reject> {
    one_transaction(&s, &headers, &account, &tx, false)
}

pub async fn pending_transaction(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path((account, tx)): Path<(String, String)>,
) -> Result<Response, Reject> {
    one_transaction(&s, &headers, &account, &tx, true)
}

pub async fn financial_institutions(
    State(s): State<SandboxState>,
    Query(q): Query<PageQuery>,
) -> Response {
    let all = render::financial_institutions();
    let ids: Vec<String> = all
        .iter()
        .map(|f| f["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let url = format!("{}/ponto-connect/financial-institutions", s.base_url);
    match render::paginate(&ids, &q, &url) {
        Ok((range, links, meta)) => {
            let data = all[range].to_vec();
            json_response(StatusCode::OK, &CollectionDoc { data, links, meta })
        }
        Err(body) => (StatusCode::BAD_REQUEST, Json(body)).into_response(),
    }
}

pub async fn financial_institution(Path(id): Path<String>) -> Response {
    match render::financial_institutions()
        .into_iter()
        .find(|f| f["id"] == id.as_str())
    {
        Some(f) => Json(json!({"data": f})).into_response(),
        None => not_found("financialInstitution").into_response(),
    }
}

/// `DELETE /organizations/{id}/integration` with a client-credentials token.
pub async fn delete_integration(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> Result<Response, Reject> {
    let mut world = s.world.lock().expect("sandbox state");
    let token = bearer(&world, &headers)?;
    if token.org.is_some() {
        return Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This endpoint needs a client access token.",
            None,
        ));
    }
    let Some(org) = Uuid::parse_str(&org).ok().filter(|o| {
        world
            .orgs
            .get(o)
            .and_then(|o| o.integration.as_ref())
            .is_some_and(|i| !i.revoked && i.client_id == token.client_id)
    }) else {
        return Err(not_found("integration"));
    };
    let id = world.revoke_integration(org).expect("checked");
    Ok(Json(json!({"data": {"id": id.to_string(), "relationships": {"organization": {"data": {"id": org.to_string(), "type": "organization"}}}, "type": "integration"}}))
        .into_response())
}
