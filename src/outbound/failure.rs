//! Owns telling why a delivery attempt got no answer: a stable code (`AttemptError`) and a few
//! words, never the URL's query (it may hold the subscriber's token).

use crate::domain::status::AttemptError;

/// A transport failure as a code and a few words (never the URL's query, which may hold a
/// token).
pub(super) fn describe(e: &reqwest::Error) -> (AttemptError, String) {
    if let Some(refused) = super::guard::refused(e) {
        return (
            AttemptError::TargetNotAllowed,
            format!("not sent: {refused}"),
        );
    }
    if let Some(tls) = tls_failure(e) {
        return (
            AttemptError::TlsFailed,
            format!("TLS handshake failed: {tls}"),
        );
    }
    let (code, words) = if e.is_timeout() {
        (AttemptError::Timeout, "timed out")
    } else if e.is_connect() {
        (AttemptError::ConnectionFailed, "could not connect")
    } else {
        (AttemptError::RequestFailed, "the request failed")
    };
    (code, words.to_owned())
}

/// The TLS error behind a transport failure, if that is what it was. rustls' error travels
/// inside `io::Error`s (nested), whose `source()` skips the error they wrap: those are walked
/// into by `get_ref`.
fn tls_failure(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}
