//! Owns one HTTP exchange with Ponto: bounded retries with exponential backoff and full jitter
//! on 429, 5xx and transport failures, `Retry-After` honoured, and error bodies decoded into
//! [`PontoError`]. Requests that must not be replayed (single-use codes and refresh tokens)
//! are retried only when they provably never reached Ponto.

use super::error::{ApiErrorEntry, PontoError};
use bytes::Bytes;
use rand::Rng;
use reqwest::{RequestBuilder, StatusCode};
use std::time::Duration;

/// How a request may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Safe to send again (reads, idempotent deletes, requests with an idempotency key).
    Safe,
    /// Consumes something single-use: resend only when the request never left us, or on 429.
    Once,
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A longer `Retry-After` than this is not waited for: the error goes to the caller.
    pub max_retry_after: Duration,
    /// Shared by every clone of the policy, so by every request of one client.
    pub gate: RateGate,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
            gate: RateGate::default(),
        }
    }
}

/// Ponto's rate limit is per client, not per request: a 429's `Retry-After` holds back every
/// request of the client until it has passed, not only the one that was refused.
#[derive(Debug, Clone, Default)]
pub struct RateGate(std::sync::Arc<std::sync::Mutex<Option<tokio::time::Instant>>>);

impl RateGate {
    /// Waits until no `Retry-After` is pending.
    pub async fn pass(&self) {
        loop {
            let until = *self.0.lock().expect("rate gate");
            match until {
                Some(t) if t > tokio::time::Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }

    /// Closes the gate for `wait` (never shortens an existing pause).
    pub fn close_for(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut g = self.0.lock().expect("rate gate");
        if g.is_none_or(|t| t < until) {
            *g = Some(until);
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a random delay up to `base * 2^attempt`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        let millis = ceiling.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis.max(1)))
    }
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.timestamp() - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(delta.max(0) as u64))
}

/// Decodes a non-2xx body into the most specific error.
pub fn error_from(status: StatusCode, body: &[u8]) -> PontoError {
    #[derive(serde::Deserialize)]
    struct ApiErrors {
        errors: Vec<ApiErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: String,
        error_description: Option<String>,
    }
    if status.is_server_error() {
        // Ponto's side failed, whatever the body says: retry later.
        let code = serde_json::from_slice::<ApiErrors>(body)
            .ok()
            .and_then(|e| e.errors.into_iter().next())
            .map(|e| e.code);
        return PontoError::Unavailable(format!(
            "HTTP {status}{}",
            code.map(|c| format!(" ({c})")).unwrap_or_default()
        ));
    }
    if let Ok(e) = serde_json::from_slice::<ApiErrors>(body)
        && !e.errors.is_empty()
    {
        return PontoError::Api {
            status: status.as_u16(),
            errors: e.errors,
        };
    }
    if let Ok(e) = serde_json::from_slice::<OAuthError>(body) {
        return PontoError::OAuth {
            status: status.as_u16(),
            error: e.error,
            description: e.error_description,
        };
    }
    PontoError::Malformed(format!("HTTP {status} with an unrecognised error body"))
}

/// Sends the request built by `build` (rebuilt for every attempt) and returns a 2xx body.
pub async fn send(
    policy: &RetryPolicy,
    replay: Replay,
    build: impl Fn() -> RequestBuilder,
) -> Result<Bytes, PontoError> {
    let mut attempt = 0;
    loop {
        let last = attempt >= policy.max_retries;
        policy.gate.pass().await;
        let result = build().send().await;
        let delay = match result {
            Err(e) => {
                // A connect failure means the request never reached Ponto.
                let never_sent = e.is_connect();
                if last || (replay == Replay::Once && !never_sent) {
                    let what = if e.is_timeout() {
                        "timeout"
                    } else if never_sent {
                        "connection failed"
                    } else {
                        "transport error"
                    };
                    return Err(PontoError::Unavailable(what.into()));
                }
                policy.backoff(attempt)
            }
            Ok(resp) => {
                let status = resp.status();
                let after = retry_after(resp.headers());
                if status.is_success() {
                    return resp
                        .bytes()
                        .await
                        .map_err(|_| PontoError::Malformed("body cut off".into()));
                }
                let body = resp.bytes().await.unwrap_or_default();
                let retryable = status == StatusCode::TOO_MANY_REQUESTS
                    || (status.is_server_error() && replay == Replay::Safe);
                let wait = after.unwrap_or_else(|| policy.backoff(attempt));
                if status == StatusCode::TOO_MANY_REQUESTS
                    && let Some(after) = after
                {
                    policy.gate.close_for(after.min(policy.max_retry_after));
                }
                if !retryable || last || wait > policy.max_retry_after {
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        return Err(PontoError::RateLimited { retry_after: after });
                    }
                    return Err(error_from(status, &body));
                }
                wait
            }
        };
        tracing::debug!(attempt, ?delay, "retrying Ponto request");
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_classified() {
        let api = error_from(StatusCode::NOT_FOUND, br#"{"errors":[{"code":"resourceNotFound","detail":"x","meta":{"resource":"account"}}]}"#);
        assert_eq!(api.code(), "PONTO_RESOURCE_NOT_FOUND");
        let oauth = error_from(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"used"}"#,
        );
        assert!(oauth.is_invalid_grant());
        assert_eq!(
            error_from(StatusCode::BAD_GATEWAY, b"<html>").code(),
            "PONTO_UNAVAILABLE"
        );
        assert_eq!(
            error_from(StatusCode::BAD_REQUEST, b"garbage").code(),
            "PONTO_MALFORMED_RESPONSE"
        );
        assert_eq!(
            error_from(StatusCode::BAD_REQUEST, br#"{"errors":[]}"#).code(),
            "PONTO_MALFORMED_RESPONSE"
        );
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let p = RetryPolicy::default();
        for attempt in 0..20 {
            let d = p.backoff(attempt);
            assert!(d <= p.max_delay, "{d:?}");
        }
        assert!(p.backoff(0) <= Duration::from_millis(200));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
