//! Owns the browser side of linking Ponto: `/oauth/ponto/start` (sets the flow cookie and goes
//! to Ponto) and `/oauth/ponto/callback` (back from Ponto, on to the `returnUrl`).

use super::AppState;
use crate::connect::flow::{Next, Refusal};
use crate::connect::reauth::LinkRefusal;
use crate::connect::{COOKIE, CallbackParams};
use axum::extract::{Path, Query, State};
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

fn refused(r: Refusal) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Ponto link</title></head><body>\
         <h1>This link cannot be used</h1><p>Start connecting Ponto again from your accounting application.</p>\
         <p>Error code: <code>{}</code></p></body></html>",
        r.code()
    );
    let mut resp = (StatusCode::BAD_REQUEST, Html(body)).into_response();
    resp.headers_mut()
        .insert("x-error-code", HeaderValue::from_static(r.code()));
    resp
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
            resp.headers_mut()
                .insert(header::SET_COOKIE, cookie("", 0, secure));
            resp
        }
    }
}

pub async fn start(State(state): State<AppState>, Query(q): Query<StartQuery>) -> Response {
    let secure = state.connect.secure_cookies();
    let Some(ticket) = q.ticket.filter(|t| !t.is_empty() && t.len() <= 128) else {
        return refused(Refusal::InvalidTicket);
    };
    match state.connect.start(&ticket).await {
        Ok(Ok(started)) => {
            let mut resp = Redirect::to(&started.redirect).into_response();
            resp.headers_mut().insert(
                header::SET_COOKIE,
                cookie(&started.cookie_value, started.cookie_max_age_secs, secure),
            );
            resp
        }
        Ok(Err(n)) => next(n, secure),
        Err(e) => super::error_response(&e),
    }
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
    Path(account): Path<String>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let token = q.t.unwrap_or_default();
    match state
        .connect
        .open_reauthorization_link(&account, &token)
        .await
    {
        Ok(Ok(to)) => Redirect::to(&to).into_response(),
        Ok(Err(refusal)) => {
            let status = if refusal == LinkRefusal::Expired {
                StatusCode::GONE
            } else {
                StatusCode::BAD_REQUEST
            };
            let body = format!(
                "<!doctype html><html><head><meta charset=utf-8><title>Re-authorize</title></head><body>\
                 <h1>This re-authorization link cannot be used</h1><p>Ask your accounting application for a new one.</p>\
                 <p>Error code: <code>{}</code></p></body></html>",
                refusal.code()
            );
            let mut resp = (status, Html(body)).into_response();
            resp.headers_mut()
                .insert("x-error-code", HeaderValue::from_static(refusal.code()));
            resp
        }
        Err(e) => super::error_response(&e),
    }
}

/// Where Ponto sends the browser after a re-authorization.
pub async fn reauthorized(
    State(state): State<AppState>,
    Query(q): Query<CallbackQuery>,
) -> Response {
    match state
        .connect
        .reauthorized(q.state.as_deref(), q.error.as_deref())
        .await
    {
        Ok(n) => next(n, state.connect.secure_cookies()),
        Err(e) => super::error_response(&e),
    }
}

/// The end of a re-authorization started from one of our links.
pub async fn reauthorize_done(
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Html<String> {
    let ok = q.get("ponto_status").map(String::as_str) == Some("REAUTHORIZED");
    let text = if ok {
        "Your bank account is authorized again. You can close this window."
    } else {
        "The re-authorization was cancelled."
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Re-authorize</title></head><body><p>{text}</p></body></html>"
    ))
}
