//! Owns the browser side of linking Ponto: `/oauth/ponto/start` (the confirmation page, then its
//! form: sets the flow cookie and goes to Ponto), `/oauth/ponto/callback` (back from Ponto, on to
//! the `returnUrl`), and the re-authorization steps (`/oauth/ponto/reauthorize`, our
//! `/reauthorize/{account}` links, `/oauth/ponto/reauthorized`). Pages: `pages`.

use super::AppState;
use crate::connect::flow::{Next, Refusal};
use crate::connect::reauth::LinkRefusal;
use crate::connect::{COOKIE, CallbackParams, Started};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct StartQuery {
    ticket: Option<String>,
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

use super::pages;

fn refused(r: Refusal) -> Response {
    pages::refusal(
        StatusCode::BAD_REQUEST,
        r.code(),
        "This link cannot be used",
        "Start connecting Ponto again from your accounting application.",
    )
}

fn cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/oauth/ponto; Max-Age={max_age}{secure}"
    ))
    .expect("cookie is ASCII")
}

fn next(n: Next, secure: bool) -> Response {
    match n {
        Next::Refused(r) => refused(r),
        Next::Redirect(to) => {
            let mut resp = Redirect::to(&to).into_response();
            pages::harden(&mut resp);
            resp.headers_mut()
                .insert(header::SET_COOKIE, cookie("", 0, secure));
            resp
        }
    }
}

/// `GET /oauth/ponto/start?ticket=…`: the confirmation page (uses nothing). It names the
/// organization and where the browser returns, and posts back with a token bound to the flow
/// cookie it sets (or keeps, when this browser already has one).
pub async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> Response {
    let secure = state.connect.secure_cookies();
    let Some(ticket) = q.ticket.filter(|t| valid_token(t)) else {
        return refused(Refusal::InvalidTicket);
    };
    let cookie_value = read_cookie(&headers)
        .filter(|c| valid_token(c))
        .unwrap_or_else(crate::connect::flow::random_token);
    match state.connect.confirmation(&ticket, &cookie_value).await {
        Ok(Ok(c)) => {
            let mut resp = (StatusCode::OK, Html(pages::confirm(&c, &ticket))).into_response();
            pages::harden(&mut resp);
            resp.headers_mut().insert(
                header::SET_COOKIE,
                cookie(&cookie_value, crate::connect::FLOW_TTL_SECS, secure),
            );
            resp
        }
        Ok(Err(n)) => next(n, secure),
        Err(e) => super::error_response(&e),
    }
}

#[derive(Deserialize)]
pub struct StartForm {
    ticket: Option<String>,
    csrf: Option<String>,
    /// `continue` or `decline`.
    decision: Option<String>,
}

/// `POST /oauth/ponto/start`: the confirmation form. Consumes the ticket. A body that is not
/// the form gets the same refusal page as a bad ticket.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<StartForm>, FormRejection>,
) -> Response {
    let secure = state.connect.secure_cookies();
    let Ok(Form(f)) = form else {
        return refused(Refusal::InvalidTicket);
    };
    let Some(ticket) = f.ticket.filter(|t| valid_token(t)) else {
        return refused(Refusal::InvalidTicket);
    };
    let cookie = read_cookie(&headers);
    let proceed = f.decision.as_deref() == Some("continue");
    let csrf = f.csrf.unwrap_or_default();
    match state
        .connect
        .start(&ticket, cookie.as_deref(), &csrf, proceed)
        .await
    {
        Ok(Ok(started)) => started_response(started, secure),
        Ok(Err(n)) => next(n, secure),
        Err(e) => super::error_response(&e),
    }
}

/// `GET /oauth/ponto/reauthorize?ticket=…`: the one-time URL of `requestReauthorization`.
pub async fn start_reauthorization(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> Response {
    let secure = state.connect.secure_cookies();
    let Some(ticket) = q.ticket.filter(|t| valid_token(t)) else {
        return refused(Refusal::InvalidTicket);
    };
    let cookie = read_cookie(&headers).filter(|c| valid_token(c));
    match state
        .connect
        .start_reauthorization(&ticket, cookie.as_deref())
        .await
    {
        Ok(Ok(started)) => started_response(started, secure),
        Ok(Err(n)) => next(n, secure),
        Err(e) => super::error_response(&e),
    }
}

/// Tickets, cookies and states we hand out are base64url of 32 bytes; anything much longer or
/// with other characters is not ours.
fn valid_token(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Sets the flow cookie and goes to Ponto.
fn started_response(started: Started, secure: bool) -> Response {
    let mut resp = Redirect::to(&started.redirect).into_response();
    pages::harden(&mut resp);
    resp.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&started.cookie_value, started.cookie_max_age_secs, secure),
    );
    resp
}

fn read_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let secure = state.connect.secure_cookies();
    let params = CallbackParams {
        code: q.code,
        state: q.state,
        error: q.error,
    };
    match state
        .connect
        .callback(params, read_cookie(&headers).as_deref())
        .await
    {
        Ok(n) => next(n, secure),
        Err(e) => super::error_response(&e),
    }
}

#[derive(Deserialize)]
pub struct LinkQuery {
    t: Option<String>,
}

/// `GET /reauthorize/{account}?t=…`: our link from events; on to a fresh Ponto request.
pub async fn reauthorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(account): Path<String>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let token = q.t.unwrap_or_default();
    let secure = state.connect.secure_cookies();
    let cookie = read_cookie(&headers).filter(|c| valid_token(c));
    match state
        .connect
        .open_reauthorization_link(&account, &token, cookie.as_deref())
        .await
    {
        Ok(Ok(started)) => started_response(started, secure),
        Ok(Err(refusal)) => {
            let (status, text) = match refusal {
                LinkRefusal::Expired => (
                    StatusCode::GONE,
                    "Ask your accounting application for a new one.",
                ),
                LinkRefusal::RateLimited { .. } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many re-authorizations were asked for this account; try again in a few minutes.",
                ),
                LinkRefusal::Invalid => (
                    StatusCode::BAD_REQUEST,
                    "Ask your accounting application for a new one.",
                ),
            };
            let mut resp = pages::refusal(
                status,
                refusal.code(),
                "This re-authorization link cannot be used now",
                text,
            );
            if let LinkRefusal::RateLimited { retry_after_secs } = refusal {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            resp
        }
        Err(e) => super::error_response(&e),
    }
}

/// Where Ponto sends the browser after a re-authorization: only the browser that went there.
pub async fn reauthorized(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    match state
        .connect
        .reauthorized(
            q.state.as_deref(),
            read_cookie(&headers).as_deref(),
            q.error.as_deref(),
        )
        .await
    {
        Ok(n) => next(n, state.connect.secure_cookies()),
        Err(e) => super::error_response(&e),
    }
}

/// The end of a re-authorization started from one of our links.
pub async fn reauthorize_done(
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let text = match q.get("ponto_status").map(String::as_str) {
        Some("REAUTHORIZED") => "Your bank account is authorized again. You can close this window.",
        Some("EXPIRED") => "This re-authorization took too long. Open the link again.",
        Some("UPSTREAM_UNAVAILABLE") => "Ponto could not be reached. Try again in a moment.",
        _ => "The re-authorization was cancelled.",
    };
    pages::message(StatusCode::OK, "Re-authorize", text)
}
