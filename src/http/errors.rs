//! Owns the JSON body of every error we answer outside GraphQL execution: one helper, in the
//! GraphQL shape on `/graphql` (clients read `errors[0].extensions.code` there as everywhere
//! else in GraphQL) and as `{"error": {"code", "message"}}` on every other route; and the one
//! 413 all routes answer, whether the size was declared or found while reading.

use crate::error::AppError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";

/// Which body an error answer has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `{"data": null, "errors": [{"message", "extensions": {"code"}}]}`
    GraphQl,
    /// `{"error": {"code", "message"}}`
    Plain,
}

impl Shape {
    pub fn of_path(path: &str) -> Self {
        if path == "/graphql" {
            Shape::GraphQl
        } else {
            Shape::Plain
        }
    }
}

/// An error answer: `status`, with `code` and `message` in the route's shape.
pub fn json_error(shape: Shape, status: StatusCode, code: &str, message: &str) -> Response {
    let body = match shape {
        Shape::GraphQl => {
            json!({"data": null, "errors": [{"message": message, "extensions": {"code": code}}]})
        }
        Shape::Plain => json!({"error": {"code": code, "message": message}}),
    };
    (status, Json(body)).into_response()
}

/// 503 with `Retry-After: secs`: nothing went wrong with the request, retry it later. On
/// `/graphql` the delay is also `extensions.retryAfter`, where GraphQL clients read it.
pub fn retry_later(shape: Shape, code: &str, message: &str, secs: u64) -> Response {
    let mut response = match shape {
        Shape::GraphQl => {
            let body = json!({"data": null, "errors": [{"message": message,
                "extensions": {"code": code, "retryAfter": secs}}]});
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
        Shape::Plain => json_error(shape, StatusCode::SERVICE_UNAVAILABLE, code, message),
    };
    response
        .headers_mut()
        .insert(axum::http::header::RETRY_AFTER, secs.into());
    response
}

/// An application error with its code's HTTP status (internal ones logged, never shown).
pub fn app_error(shape: Shape, e: &AppError) -> Response {
    e.log_if_internal();
    let status =
        StatusCode::from_u16(e.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_error(shape, status, e.code().as_str(), &e.public_message());
    if let Some(secs) = e.retry_after_secs() {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, secs.into());
    }
    response
}

/// An application error on a route outside GraphQL.
pub fn error_response(e: &AppError) -> Response {
    app_error(Shape::Plain, e)
}

/// The one answer to a body over `max` bytes.
pub fn too_large(shape: Shape, max: usize) -> Response {
    json_error(
        shape,
        StatusCode::PAYLOAD_TOO_LARGE,
        PAYLOAD_TOO_LARGE,
        &format!("request body over {max} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn one_413_in_each_shape() {
        let r = too_large(Shape::GraphQl, 10);
        assert_eq!(r.status(), 413);
        let b = body(r).await;
        assert_eq!(b["errors"][0]["extensions"]["code"], PAYLOAD_TOO_LARGE);
        assert!(b["data"].is_null());
        let b = body(too_large(Shape::of_path("/webhooks/ponto"), 10)).await;
        assert_eq!(b["error"]["code"], PAYLOAD_TOO_LARGE);
        assert_eq!(b["error"]["message"], "request body over 10 bytes");
    }
}
