//! Owns the simulator's OAuth2: the authorization page (a plain HTML form: pick the Ponto
//! organization, switch on the account "sliders", allow or deny), the token endpoint (codes
//! single use with PKCE S256 enforced, refresh tokens rotated and single use, client
//! credentials) and revocation — all with Ponto's flat OAuth error shape.

use super::SandboxState;
use super::state::{
    ACCESS_TOKEN_SECS, AccessToken, AuthRequest, CODE_SECS, Code, Integration, RefreshToken, World,
};
use axum::Json;
use axum::extract::{Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

fn random_token() -> String {
    let mut a = [0u8; 24];
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut a);
    rand::rng().fill_bytes(&mut b);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(a),
        URL_SAFE_NO_PAD.encode(b)
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn html_error(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(page(
            "Authorization error",
            &format!("<p class=error>{}</p>", escape(message)),
        )),
    )
        .into_response()
}

pub(super) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{t} · Ponto sandbox</title>\
         <style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}label{{display:block;margin:.4em 0}}.error{{color:#b00}}</style>\
         </head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    )
}

/// Checks the parameters of an authorization request; errors are shown, never redirected to
/// an unchecked URI.
fn auth_request(world: &World, params: &HashMap<String, String>) -> Result<AuthRequest, String> {
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    if !world.clients.contains_key(get("client_id")) {
        return Err("unknown client_id".into());
    }
    let redirect =
        url::Url::parse(get("redirect_uri")).map_err(|_| "redirect_uri must be an absolute URL")?;
    if !matches!(redirect.scheme(), "http" | "https") {
        return Err("redirect_uri must be http(s)".into());
    }
    if get("response_type") != "code" {
        return Err("response_type must be code".into());
    }
    if get("code_challenge").len() < 43 || get("code_challenge_method") != "S256" {
        return Err("PKCE is required: code_challenge with code_challenge_method=S256".into());
    }
    Ok(AuthRequest {
        client_id: get("client_id").into(),
        redirect_uri: get("redirect_uri").into(),
        state: get("state").into(),
        scope: get("scope").into(),
        code_challenge: get("code_challenge").into(),
    })
}

const CARRIED: [&str; 7] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

fn hidden(params: &HashMap<String, String>) -> String {
    CARRIED
        .iter()
        .filter_map(|k| {
            params
                .get(*k)
                .map(|v| format!("<input type=hidden name=\"{k}\" value=\"{}\">", escape(v)))
        })
        .collect()
}

/// `GET /oauth2/auth`: first "log in" (pick the organization), then the sliders.
pub async fn authorize_page(
    State(s): State<SandboxState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let world = s.world.lock().expect("sandbox state");
    if let Err(e) = auth_request(&world, &params) {
        return html_error(&e);
    }
    let Some(org) = params
        .get("organization")
        .and_then(|o| Uuid::parse_str(o).ok())
        .and_then(|o| world.orgs.get(&o))
    else {
        let mut orgs: Vec<_> = world.orgs.values().collect();
        orgs.sort_by(|a, b| a.name.cmp(&b.name));
        if orgs.is_empty() {
            return html_error(
                "No Ponto organization exists yet: create one with POST /_sandbox/organizations.",
            );
        }
        let options: String = orgs
            .iter()
            .map(|o| format!("<option value=\"{}\">{}</option>", o.id, escape(&o.name)))
            .collect();
        let body = format!(
            "<form method=get action=\"/oauth2/auth\">{}<label>Log in as <select name=organization>{options}</select></label>\
             <button type=submit>Log in</button></form>",
            hidden(&params)
        );
        return Html(page("Log in to Ponto", &body)).into_response();
    };
    let active: BTreeSet<Uuid> = org
        .integration
        .as_ref()
        .filter(|i| !i.revoked)
        .map(|i| i.accounts.clone())
        .unwrap_or_default();
    let sliders: String = world
        .org_accounts(org.id)
        .iter()
        .map(|a| {
            format!(
                "<label><input type=checkbox name=account value=\"{}\"{}> {} · {} {}</label>",
                a.id,
                if active.contains(&a.id) {
                    " checked"
                } else {
                    ""
                },
                escape(&a.description),
                escape(&a.reference),
                escape(&a.currency)
            )
        })
        .collect();
    let body = format!(
        "<p>{} wants to access your accounts. Activate the accounts to share.</p>\
         <form method=post action=\"/oauth2/auth\">{}<input type=hidden name=organization value=\"{}\">{sliders}\
         <button type=submit name=decision value=allow>Allow</button> <button type=submit name=decision value=deny>Deny</button></form>",
        escape(params.get("client_id").map(String::as_str).unwrap_or("")),
        hidden(&params),
        org.id
    );
    Html(page(&format!("Ponto · {}", org.name), &body)).into_response()
}

/// `POST /oauth2/auth`: the user's decision; redirects back with `code` or `error`.
pub async fn authorize_decision(State(s): State<SandboxState>, RawForm(form): RawForm) -> Response {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&form).into_owned().collect();
    let params: HashMap<String, String> = pairs
        .iter()
        .filter(|(k, _)| k != "account")
        .cloned()
        .collect();
    let selected: BTreeSet<Uuid> = pairs
        .iter()
        .filter(|(k, _)| k == "account")
        .filter_map(|(_, v)| Uuid::parse_str(v).ok())
        .collect();
    let mut world = s.world.lock().expect("sandbox state");
    let request = match auth_request(&world, &params) {
        Ok(r) => r,
        Err(e) => return html_error(&e),
    };
    let mut back = url::Url::parse(&request.redirect_uri).expect("checked above");
    if params.get("decision").map(String::as_str) != Some("allow") {
        back.query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("state", &request.state);
        return Redirect::to(back.as_str()).into_response();
    }
    let Some(org_id) = params
        .get("organization")
        .and_then(|o| Uuid::parse_str(o).ok())
        .filter(|o| world.orgs.contains_key(o))
    else {
        return html_error("unknown organization");
    };
    let own: BTreeSet<Uuid> = world.org_accounts(org_id).iter().map(|a| a.id).collect();
    let now = world.now();
    let org = world.orgs.get_mut(&org_id).expect("checked");
    let activated: BTreeSet<Uuid> = selected.intersection(&own).copied().collect();
    let before: BTreeSet<Uuid> = org
        .integration
        .as_ref()
        .filter(|i| !i.revoked && i.client_id == request.client_id)
        .map(|i| i.accounts.clone())
        .unwrap_or_default();
    let (integration, created) = match org.integration.as_mut() {
        Some(i) if !i.revoked && i.client_id == request.client_id => {
            i.accounts = activated.clone();
            (i.id, false)
        }
        _ => {
            let i = Integration {
                id: Uuid::new_v4(),
                client_id: request.client_id.clone(),
                accounts: selected.intersection(&own).copied().collect(),
                revoked: false,
            };
            let id = i.id;
            org.integration = Some(i);
            (id, true)
        }
    };
    if created {
        world.emit_org("pontoConnect.integration.created", org_id);
    }
    for account in before.difference(&activated) {
        world.emit_account("pontoConnect.integration.accountRevoked", org_id, *account);
    }
    // Ponto synchronizes an account as soon as it is authorized.
    for account in activated.difference(&before) {
        world.emit_account("pontoConnect.integration.accountAdded", org_id, *account);
        world.sync_account_now(*account);
    }
    let code = random_token();
    world.codes.insert(
        code.clone(),
        Code {
            request: request.clone(),
            org: org_id,
            integration,
            grant: Uuid::new_v4(),
            expires_at: now + chrono::Duration::seconds(CODE_SECS),
            used: false,
        },
    );
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &request.state);
    Redirect::to(back.as_str()).into_response()
}

/// HTTP Basic client authentication.
fn client(world: &World, headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let expected = world.clients.get(id)?;
    (expected.expose().as_bytes() == secret.as_bytes()).then(|| id.to_owned())
}

fn issue(
    world: &mut World,
    client_id: &str,
    org: Option<Uuid>,
    integration: Option<Uuid>,
    grant: Option<Uuid>,
    scope: &str,
    refresh: bool,
) -> Response {
    let access = random_token();
    let expires_at = world.now() + chrono::Duration::seconds(ACCESS_TOKEN_SECS);
    world.access_tokens.insert(
        access.clone(),
        AccessToken {
            client_id: client_id.into(),
            org,
            integration,
            grant,
            expires_at,
        },
    );
    let mut body = json!({"access_token": access, "expires_in": ACCESS_TOKEN_SECS, "scope": scope, "token_type": "bearer"});
    if refresh && let (Some(org), Some(integration), Some(grant)) = (org, integration, grant) {
        let token = random_token();
        world.refresh_tokens.insert(
            token.clone(),
            RefreshToken {
                client_id: client_id.into(),
                org,
                integration,
                grant,
                scope: scope.into(),
                used: false,
            },
        );
        body["refresh_token"] = json!(token);
    }
    Json(body).into_response()
}

/// `POST /ponto-connect/oauth2/token`.
pub async fn token(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    RawForm(form): RawForm,
) -> Response {
    let params: HashMap<String, String> = url::form_urlencoded::parse(&form).into_owned().collect();
    let mut world = s.world.lock().expect("sandbox state");
    world.stats.token_requests += 1;
    let Some(client_id) = client(&world, &headers) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed.",
        );
    };
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let now = world.now();
    match get("grant_type") {
        "authorization_code" => {
            let Some(code) = world.codes.get_mut(get("code")) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The authorization code is invalid.",
                );
            };
            if code.used {
                // A replayed code revokes what it produced (RFC 6749 §4.1.2).
                let grant = code.grant;
                world.refresh_tokens.retain(|_, t| t.grant != grant);
                world.access_tokens.retain(|_, t| t.grant != Some(grant));
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The authorization code was already used.",
                );
            }
            code.used = true;
            let code = code.clone();
            if code.expires_at < now
                || code.request.client_id != client_id
                || code.request.redirect_uri != get("redirect_uri")
            {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The authorization code does not match this request.",
                );
            }
            if crate::wire::pkce_challenge(get("code_verifier")) != code.request.code_challenge {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The PKCE code verifier does not match.",
                );
            }
            let live = world
                .orgs
                .get(&code.org)
                .and_then(|o| o.integration.as_ref())
                .is_some_and(|i| i.id == code.integration && !i.revoked);
            if !live {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The integration was revoked.",
                );
            }
            issue(
                &mut world,
                &client_id,
                Some(code.org),
                Some(code.integration),
                Some(code.grant),
                &code.request.scope,
                true,
            )
        }
        "refresh_token" => {
            let Some(rt) = world.refresh_tokens.get_mut(get("refresh_token")) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The refresh token is invalid.",
                );
            };
            if rt.used || rt.client_id != client_id {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The refresh token was already used.",
                );
            }
            rt.used = true;
            let rt = rt.clone();
            issue(
                &mut world,
                &client_id,
                Some(rt.org),
                Some(rt.integration),
                Some(rt.grant),
                &rt.scope,
                true,
            )
        }
        "client_credentials" => issue(&mut world, &client_id, None, None, None, "", false),
        other => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("grant_type {other:?} is not supported"),
        ),
    }
}

/// `POST /ponto-connect/oauth2/revoke`: revoking a refresh token revokes the integration.
pub async fn revoke(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    RawForm(form): RawForm,
) -> Response {
    let params: HashMap<String, String> = url::form_urlencoded::parse(&form).into_owned().collect();
    let mut world = s.world.lock().expect("sandbox state");
    if client(&world, &headers).is_none() {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed.",
        );
    }
    let token = params.get("token").cloned().unwrap_or_default();
    if let Some(grant) = world.refresh_tokens.get(&token).map(|t| t.grant) {
        world.revoke_grant(grant);
    }
    Json(json!({})).into_response()
}
