//! Owns what can go wrong talking to Ponto, with stable codes, and how each maps onto the
//! service's own error codes.

use crate::error::AppError;
use std::time::Duration;

/// One entry of a JSON:API error body `{"errors":[{code, detail, meta}]}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct ApiErrorEntry {
    pub code: String,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub meta: Option<serde_json::Value>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PontoError {
    /// OAuth2 error body `{error, error_description}` from `/oauth2/*`.
    #[error("Ponto OAuth error {error}: {}", description.as_deref().unwrap_or(""))]
    OAuth {
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// JSON:API error body from the API.
    #[error("Ponto answered {status}: {}", errors.first().map(|e| e.code.as_str()).unwrap_or("?"))]
    Api {
        status: u16,
        errors: Vec<ApiErrorEntry>,
    },
    /// Still 429 after our retries.
    #[error("Ponto is rate limiting us")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, timeouts or connection failures after our retries.
    #[error("Ponto is unavailable: {0}")]
    Unavailable(String),
    /// An answer we cannot read: not JSON, truncated, or not the documented shape.
    #[error("malformed answer from Ponto: {0}")]
    Malformed(String),
    /// Client configuration problem (missing credentials, unreadable certificate).
    #[error("Ponto client misconfigured: {0}")]
    Config(String),
}

impl PontoError {
    /// Stable code for logs, metrics and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Self::OAuth { error, .. } => match error.as_str() {
                "invalid_grant" => "PONTO_INVALID_GRANT",
                "invalid_client" => "PONTO_INVALID_CLIENT",
                "access_denied" => "PONTO_ACCESS_DENIED",
                _ => "PONTO_OAUTH_ERROR",
            },
            Self::Api { errors, .. } => match errors.first().map(|e| e.code.as_str()) {
                Some("invalidAccessToken") => "PONTO_INVALID_ACCESS_TOKEN",
                Some("resourceNotFound") => "PONTO_RESOURCE_NOT_FOUND",
                Some("accountRecentlySynchronized") => "PONTO_RECENTLY_SYNCHRONIZED",
                Some("authorizationInvalid") => "PONTO_AUTHORIZATION_INVALID",
                Some("organizationBlocked") => "PONTO_ORGANIZATION_BLOCKED",
                _ => "PONTO_API_ERROR",
            },
            Self::RateLimited { .. } => "PONTO_RATE_LIMITED",
            Self::Unavailable(_) => "PONTO_UNAVAILABLE",
            Self::Malformed(_) => "PONTO_MALFORMED_RESPONSE",
            Self::Config(_) => "PONTO_CONFIG",
        }
    }

    /// The refresh token (or code) was refused: the link is broken, not just flaky.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Self::OAuth { error, .. } if error == "invalid_grant")
    }

    /// Whether the first API error has this Ponto code.
    pub fn has_api_code(&self, code: &str) -> bool {
        matches!(self, Self::Api { errors, .. } if errors.first().is_some_and(|e| e.code == code))
    }
}

impl From<PontoError> for AppError {
    fn from(e: PontoError) -> Self {
        let retry = |d: Option<Duration>| d.map_or(60, |d| d.as_secs().max(1));
        match &e {
            PontoError::RateLimited { retry_after } => AppError::RateLimited {
                message: "Ponto is rate limiting requests; try again later.".into(),
                retry_after_secs: retry(*retry_after),
            },
            PontoError::Api { .. } if e.has_api_code("accountRecentlySynchronized") => {
                AppError::RateLimited {
                    message: "Ponto synchronized this account recently; try again later.".into(),
                    retry_after_secs: 30 * 60,
                }
            }
            PontoError::Api { .. } if e.has_api_code("resourceNotFound") => {
                AppError::NotFound("not found at Ponto".into())
            }
            PontoError::Config(_) => AppError::internal(e),
            _ => AppError::UpstreamUnavailable(format!("Ponto request failed ({})", e.code())),
        }
    }
}
