//! Owns the simulator's synchronization and re-authorization endpoints: create and read
//! synchronizations (asynchronous: pending → running → success or error), list what a
//! synchronization updated, and re-authorization requests with their own page.

use super::SandboxState;
use super::api::{Reject, error, json_response, not_found, shared_account, user};
use super::render::{self, CollectionDoc, PageQuery};
use axum::Json;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

#[derive(Deserialize)]
struct Envelope<A> {
    data: Data<A>,
}

#[derive(Deserialize)]
struct Data<A> {
    #[serde(rename = "type")]
    kind: String,
    attributes: A,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SyncAttributes {
    resource_type: String,
    resource_id: String,
    subtype: String,
    customer_ip_address: String,
}

fn invalid(detail: &'static str) -> Reject {
    error(StatusCode::BAD_REQUEST, "validationError", detail, None)
}

/// `POST /synchronizations`.
pub async fn create(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Reject> {
    let id = {
        let mut world = s.world.lock().expect("sandbox state");
        let (_, integration) = user(&world, &headers)?;
        let Ok(req) = serde_json::from_slice::<Envelope<SyncAttributes>>(&body) else {
            return Err(invalid(
                "Expected data.attributes with resourceType, resourceId, subtype and customerIpAddress.",
            ));
        };
        let a = req.data.attributes;
        if req.data.kind != "synchronization"
            || a.resource_type != "account"
            || !super::sync::SUBTYPES.contains(&a.subtype.as_str())
        {
            return Err(invalid("Unsupported synchronization."));
        }
        let key = headers
            .get("ibanity-idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(existing) = key.as_ref().and_then(|k| world.idempotency.get(k)) {
            let existing = &world.syncs[existing];
            return Ok(json_response(
                StatusCode::CREATED,
                &json!({"data": render::sync_json(&s.base_url, existing, false)}),
            ));
        }
        let account = shared_account(&world, integration, &a.resource_id)?;
        let now = world.now();
        let window = chrono::Duration::from_std(s.sync_window).unwrap_or_default();
        let recent = world.syncs.values().any(|x| {
            x.client_created
                && x.account == account
                && x.subtype == a.subtype
                && x.created_at > now - window
        });
        if recent {
            return Err(error(
                StatusCode::CONFLICT,
                "accountRecentlySynchronized",
                "The account was synchronized recently; try again later.",
                Some("synchronization"),
            ));
        }
        let id = world.create_sync(account, &a.subtype, Some(a.customer_ip_address), true);
        if let Some(k) = key {
            world.idempotency.insert(k, id);
        }
        id
    };
    // Like Ponto, the work happens after we answer.
    let (state, delay) = (s.clone(), s.sync_delay);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        state
            .world
            .lock()
            .expect("sandbox state")
            .set_sync_status(id, "running");
        tokio::time::sleep(delay).await;
        state.world.lock().expect("sandbox state").complete_sync(id);
    });
    let world = s.world.lock().expect("sandbox state");
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"data": render::sync_json(&s.base_url, &world.syncs[&id], false)}),
    ))
}

/// The synchronization `id` if it concerns an account shared with the caller's integration.
fn own_sync(s: &SandboxState, headers: &HeaderMap, id: &str) -> Result<Uuid, Reject> {
    let world = s.world.lock().expect("sandbox state");
    let (_, integration) = user(&world, headers)?;
    let id = Uuid::parse_str(id).map_err(|_| not_found("synchronization"))?;
    let sync = world
        .syncs
        .get(&id)
        .ok_or_else(|| not_found("synchronization"))?;
    shared_account(&world, integration, &sync.account.to_string())
        .map_err(|_| not_found("synchronization"))?;
    Ok(id)
}

/// `GET /synchronizations/{id}`.
pub async fn get(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Reject> {
    let id = own_sync(&s, &headers, &id)?;
    let world = s.world.lock().expect("sandbox state");
    Ok(
        Json(json!({"data": render::sync_json(&s.base_url, &world.syncs[&id], true)}))
            .into_response(),
    )
}

fn updated(
    s: &SandboxState,
    headers: &HeaderMap,
    id: &str,
    q: &PageQuery,
    pending: bool,
) -> Result<Response, Reject> {
    let id = own_sync(s, headers, id)?;
    let world = s.world.lock().expect("sandbox state");
    let sync = &world.syncs[&id];
    let wanted = if pending {
        &sync.updated_pending
    } else {
        &sync.updated
    };
    let rows: Vec<_> = world
        .listed(sync.account, pending)
        .into_iter()
        .filter(|(t, _)| wanted.contains(&t.id))
        .collect();
    let ids: Vec<String> = rows.iter().map(|(t, _)| t.id.to_string()).collect();
    let kind = if pending {
        "updated-pending-transactions"
    } else {
        "updated-transactions"
    };
    let url = format!("{}/ponto-connect/synchronizations/{id}/{kind}", s.base_url);
    Ok(match render::paginate(&ids, q, &url) {
        Ok((range, links, meta)) => {
            let data: Vec<_> = rows[range]
                .iter()
                .map(|(t, d)| render::transaction(&s.base_url, t, d))
                .collect();
            json_response(StatusCode::OK, &CollectionDoc { data, links, meta })
        }
        Err(body) => (StatusCode::BAD_REQUEST, Json(body)).into_response(),
    })
}

pub async fn updated_transactions(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, Reject> {
    updated(&s, &headers, &id, &q, false)
}

pub async fn updated_pending_transactions(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, Reject> {
    updated(&s, &headers, &id, &q, true)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReauthAttributes {
    redirect_uri: String,
}

/// `POST /accounts/{id}/reauthorization-requests`: a link where the user renews consent.
pub async fn request_reauthorization(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path(account): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, Reject> {
    let mut world = s.world.lock().expect("sandbox state");
    let (org, integration) = user(&world, &headers)?;
    let account = shared_account(&world, integration, &account)?;
    let redirect = serde_json::from_slice::<Envelope<ReauthAttributes>>(&body)
        .ok()
        .filter(|e| e.data.kind == "reauthorizationRequest")
        .map(|e| e.data.attributes.redirect_uri)
        .filter(|u| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")));
    let Some(redirect_uri) = redirect else {
        return Err(invalid(
            "Expected data.attributes.redirectUri, an absolute URL.",
        ));
    };
    let id = Uuid::new_v4();
    world.reauthorizations.insert(
        id,
        super::state::Reauthorization {
            id,
            org,
            integration,
            account,
            redirect_uri,
            used: false,
        },
    );
    let link = format!(
        "{}/organizations/{org}/sandbox/integrations/{integration}/accounts/{account}/reauthorization-requests/{id}",
        s.base_url
    );
    Ok((StatusCode::CREATED, Json(json!({"data": {"attributes": {}, "id": id.to_string(), "links": {"redirect": link}, "type": "reauthorizationRequest"}})))
        .into_response())
}

/// The re-authorization page: the user confirms at "the bank".
pub async fn reauthorization_page(
    State(s): State<SandboxState>,
    Path(p): Path<HashMap<String, String>>,
) -> Response {
    let world = s.world.lock().expect("sandbox state");
    let Some(r) = pending_request(&world, &p) else {
        return unknown_request();
    };
    let a = &world.accounts[&world.reauthorizations[&r].account];
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Re-authorize · Ponto sandbox</title></head><body>\
         <h1>Re-authorize your account</h1><p>{} · {} at Super Sandbox Bank</p>\
         <form method=post><button type=submit name=decision value=allow>Re-authorize</button> \
         <button type=submit name=decision value=deny>Cancel</button></form></body></html>",
        super::oauth::escape(&a.description),
        super::oauth::escape(&a.reference)
    ))
    .into_response()
}

/// The user's decision: consent renewed (dates move, Ponto synchronizes) or not.
pub async fn reauthorization_decision(
    State(s): State<SandboxState>,
    Path(p): Path<HashMap<String, String>>,
    RawForm(form): RawForm,
) -> Response {
    let allow = url::form_urlencoded::parse(&form).any(|(k, v)| k == "decision" && v == "allow");
    let mut world = s.world.lock().expect("sandbox state");
    let now = world.now();
    let Some(r) = pending_request(&world, &p) else {
        return unknown_request();
    };
    let r = world.reauthorizations.get_mut(&r).expect("found above");
    r.used = true;
    let (account, mut back) = (
        r.account,
        url::Url::parse(&r.redirect_uri).expect("checked at creation"),
    );
    if allow {
        if let Some(a) = world.accounts.get_mut(&account) {
            a.authorized_at = now;
            a.authorization_expires_at = now + chrono::Duration::days(180);
            a.authorization_invalid = false;
            let org = a.org;
            world.emit_account("pontoConnect.account.reauthorized", org, account);
        }
        world.sync_account_now(account);
    } else {
        back.query_pairs_mut().append_pair("error", "access_denied");
    }
    Redirect::to(back.as_str()).into_response()
}

/// The unused request the page's path names, only when every id in the path is its own: a link
/// with another organization's or account's ids in it is as unknown as a made-up one.
fn pending_request(world: &super::state::World, p: &HashMap<String, String>) -> Option<Uuid> {
    let id = |k: &str| p.get(k).and_then(|v| Uuid::parse_str(v).ok());
    let r = world.reauthorizations.get(&id("request")?)?;
    let own = Some(r.org) == id("org")
        && Some(r.integration) == id("integration")
        && Some(r.account) == id("account");
    (own && !r.used).then_some(r.id)
}

fn unknown_request() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html("<p>Unknown or used re-authorization request.</p>"),
    )
        .into_response()
}

/// How long each step of a client-created synchronization takes.
pub const DEFAULT_SYNC_DELAY: Duration = Duration::from_millis(50);
/// How soon a second synchronization of the same account and subtype is refused.
pub const DEFAULT_SYNC_WINDOW: Duration = Duration::from_secs(30 * 60);
