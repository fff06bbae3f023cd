//! Owns GraphiQL on `GET /graphql`: our own page with its assets embedded in the binary (pinned
//! npm builds refreshed by `scripts/refresh-graphiql-assets.sh`, licences in
//! `assets/graphiql/LICENSES.txt`), so it works offline and loads nothing from a CDN. Served
//! only while introspection is on.

use super::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const JS: &str = "text/javascript; charset=utf-8";

/// Each asset the page loads, by name: (content type, bytes).
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
const PAGE: &[u8] = include_bytes!("../../assets/graphiql/index.html");

/// Everything the page needs is ours; GraphiQL's dialogs inject a `<style>`, and its fonts and
/// icons are data: URIs in its CSS.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    connect-src 'self'; img-src 'self' data:; font-src 'self' data:; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";

/// Strong validators of the page and the assets (in `ASSETS` order, the page last), computed
/// once.
fn etags() -> &'static [HeaderValue] {
    static TAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(_, _, body)| *body)
            .chain([PAGE])
            .map(|body| {
                let hex: String = Sha256::digest(body)[..12]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is ASCII")
            })
            .collect()
    })
}

fn respond(
    headers: &HeaderMap,
    content_type: &'static str,
    body: &'static [u8],
    tag: &HeaderValue,
) -> Response {
    let mut resp = if headers.get(header::IF_NONE_MATCH) == Some(tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // File names carry no version: revalidate, which costs a 304 when nothing changed.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::ETAG, tag.clone());
    resp
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.opts.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    let tag = &etags()[ASSETS.len()];
    let mut resp = respond(&headers, "text/html; charset=utf-8", PAGE, tag);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

pub async fn asset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    match ASSETS.iter().position(|(n, _, _)| *n == name) {
        Some(i) if state.opts.graphiql => {
            let (_, content_type, body) = ASSETS[i];
            respond(&headers, content_type, body, &etags()[i])
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
