//! Owns GraphiQL on `GET /graphql`: our own page with its assets embedded in the binary (pinned
//! npm builds refreshed by `scripts/refresh-graphiql-assets.sh`, licences in
//! `assets/graphiql/LICENSES.txt`), so it works offline and loads nothing from a CDN. Served
//! only while introspection is on.

use super::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The page and each asset it loads, by name: (content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.min.js",
        JS,
        include_bytes!("../../assets/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        JS,
        include_bytes!("../../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        JS,
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    ),
    (
        "graphql-ws.min.js",
        JS,
        include_bytes!("../../assets/graphiql/graphql-ws.min.js"),
    ),
    (
        "init.js",
        JS,
        include_bytes!("../../assets/graphiql/init.js"),
    ),
    (
        "LICENSES.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/graphiql/LICENSES.txt"),
    ),
];
const JS: &str = "text/javascript; charset=utf-8";
const PAGE: &str = include_str!("../../assets/graphiql/index.html");

/// Everything the page needs is ours; GraphiQL's dialogs inject a `<style>`, and its fonts and
/// icons are data: URIs in its CSS.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    connect-src 'self'; img-src 'self' data:; font-src 'self' data:; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";

fn respond(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // File names carry no version: revalidate (cheap, and a new release is picked up at once).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

pub async fn page(State(state): State<AppState>) -> Response {
    if !state.opts.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut resp = respond("text/html; charset=utf-8", PAGE.as_bytes());
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

pub async fn asset(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) if state.opts.graphiql => respond(content_type, body),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
