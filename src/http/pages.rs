//! Owns the few HTML pages of the browser flows: the connect confirmation page, and the headers
//! every flow response carries (no framing, no caching, no referrer: their URLs hold one-time
//! tickets). Pages work without JavaScript; every value shown is HTML-escaped.

use crate::connect::flow::Confirmation;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}\
    h1{font-size:1.4rem}.who{font-weight:600}form{display:flex;gap:.75rem;margin-top:1.5rem}\
    button{font-size:1rem;padding:.6rem 1.2rem;border-radius:.4rem;border:1px solid #555;background:#fff;cursor:pointer}\
    button.primary{background:#0b5cad;border-color:#0b5cad;color:#fff}\
    .note{color:#555;font-size:.9rem}";

/// The connect confirmation page: one button continues to Ponto, the other declines.
pub fn confirm(c: &Confirmation, ticket: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>Connect your bank through Ponto</title><style>{STYLE}</style></head><body><main>\
         <h1>Connect your bank accounts through Ponto</h1>\
         <p>You are about to share bank accounts with <span class=who id=organization>{org}</span>.</p>\
         <p>Afterwards you return to <span class=who id=return-origin>{origin}</span>.</p>\
         <p class=note>Continue only if you started this yourself from that application. \
         If someone sent you this link, cancel: nothing is shared.</p>\
         <form method=post action=start>\
         <input type=hidden name=ticket value=\"{ticket}\"><input type=hidden name=csrf value=\"{csrf}\">\
         <button class=primary type=submit name=decision value=continue id=continue>Continue to Ponto</button>\
         <button type=submit name=decision value=decline id=decline>Cancel</button>\
         </form></main></body></html>",
        org = escape(&c.organization),
        origin = escape(&c.return_origin),
        ticket = escape(ticket),
        csrf = escape(&c.csrf),
    )
}

/// A plain page with one message.
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body><main><p>{text}</p></main></body></html>",
        title = escape(title),
        text = escape(text),
    );
    let mut resp = (status, Html(body)).into_response();
    harden(&mut resp);
    resp
}

/// A refused step: the page says why and what to do; `x-error-code` carries the stable code.
pub fn refusal(status: StatusCode, code: &'static str, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body><main><h1>{title}</h1>\
         <p>{text}</p><p class=note>Error code: <code>{code}</code></p></main></body></html>",
        title = escape(title),
        text = escape(text),
    );
    let mut resp = (status, Html(body)).into_response();
    harden(&mut resp);
    resp.headers_mut()
        .insert("x-error-code", HeaderValue::from_static(code));
    resp
}

/// Headers of every flow page and redirect.
pub fn harden(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let c = Confirmation {
            organization: "<script>alert('x')</script> & \"Co\"".into(),
            return_origin: "https://app.example".into(),
            csrf: "abc".into(),
        };
        let page = confirm(&c, "t\"><img src=x>");
        assert!(!page.contains("<script>"));
        assert!(!page.contains("<img"));
        assert!(
            page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Co&quot;")
        );
    }
}
