//! Owns the one error enum of the service and its stable machine codes.
//!
//! It is mapped once to HTTP (`http`) and once to GraphQL `extensions.code` (`graphql::errors`).
//! Internal causes are logged where they are mapped and never shown to clients.

use std::fmt;

/// Stable, documented error codes. Clients branch on these, never on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    RateLimited,
    UpstreamUnavailable,
    /// An event cursor older than the retained event log.
    CursorExpired,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Conflict => "CONFLICT",
            Self::RateLimited => "RATE_LIMITED",
            Self::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Self::CursorExpired => "CURSOR_EXPIRED",
            Self::Internal => "INTERNAL",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::BadUserInput => 400,
            Self::Conflict => 409,
            Self::RateLimited => 429,
            Self::UpstreamUnavailable => 503,
            Self::CursorExpired => 410,
            Self::Internal => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The service's error. Client-facing variants carry a message that is safe to show;
/// `Internal` carries a cause that is only logged.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    BadUserInput {
        message: String,
        field: Option<Vec<String>>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    UpstreamUnavailable(String),
    /// The database cannot be reached: `UPSTREAM_UNAVAILABLE`, retry after
    /// [`DATABASE_RETRY_AFTER_SECS`].
    #[error("The database cannot be reached right now; retry shortly.")]
    DatabaseUnavailable,
    #[error("{0}")]
    CursorExpired(String),
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::BadUserInput { .. } => ErrorCode::BadUserInput,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::UpstreamUnavailable(_) | Self::DatabaseUnavailable => {
                ErrorCode::UpstreamUnavailable
            }
            Self::CursorExpired(_) => ErrorCode::CursorExpired,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The message a client may see. Internal causes are replaced by a generic text.
    /// Seconds the client should wait before retrying, when that is known.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            Self::DatabaseUnavailable => Some(DATABASE_RETRY_AFTER_SECS),
            _ => None,
        }
    }

    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "An internal error occurred.".to_owned(),
            other => other.to_string(),
        }
    }

    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadUserInput {
            message: message.into(),
            field: None,
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// Logs an internal cause once, at the boundary that hides it from the client.
    pub fn log_if_internal(&self) {
        if let Self::Internal(cause) = self {
            tracing::error!(error = %Esc(Chain(cause.as_ref())), "internal error");
        }
    }
}

/// Seconds a client is told to wait before retrying while the database cannot be reached.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 2;

/// Whether `e` says the database could not be reached (no connection, a lost one, a pool that
/// timed out), as opposed to a statement that failed.
pub fn database_unreachable(e: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{DbErr, RuntimeErr};
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => matches!(
            **s,
            Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed
        ),
        _ => false,
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        if database_unreachable(&e) {
            // Once per request while it lasts: `/readyz` and the workers say it at warn level.
            tracing::debug!(error = %Esc(&e), "the database cannot be reached");
            return Self::DatabaseUnavailable;
        }
        Self::Internal(Box::new(e))
    }
}

impl From<sea_orm::TransactionError<AppError>> for AppError {
    fn from(e: sea_orm::TransactionError<AppError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(app) => app,
        }
    }
}

/// An error with every cause behind it, `outer: inner: innermost`, for a log line.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// Text from outside (users, Ponto, parsers) on a log line: control characters escaped, so it
/// cannot forge lines or hide in the text log format. Use as `error = %Esc(&e)`.
pub struct Esc<T>(pub T);

impl<T: fmt::Display> fmt::Display for Esc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for c in self.0.to_string().chars() {
            // Line and paragraph separators and bidirectional overrides can fake or hide text
            // as much as control characters.
            let hiding = matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || hiding {
                for e in c.escape_default() {
                    f.write_char(e)?;
                }
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod esc_tests {
    use super::{Chain, Esc};

    #[test]
    fn the_whole_chain_is_shown() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("reading the key set failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("connection reset"));
        assert_eq!(
            Chain(&e).to_string(),
            "reading the key set failed: connection reset"
        );
    }

    #[test]
    fn control_characters_cannot_forge_log_lines() {
        let forged = "bad\n2026-12-01T00:00:00Z  INFO admin logged in\r\u{1b}[31m";
        let shown = Esc(forged).to_string();
        assert!(!shown.contains('\n') && !shown.contains('\r') && !shown.contains('\u{1b}'));
        assert_eq!(Esc("été €").to_string(), "été €");
        let hidden = Esc("invoice\u{202e}fdp.exe\u{2028}x").to_string();
        assert!(
            !hidden.contains('\u{202e}') && !hidden.contains('\u{2028}'),
            "{hidden}"
        );
    }

    #[test]
    fn an_unreachable_database_is_upstream_unavailable_with_a_retry() {
        use super::{AppError, DATABASE_RETRY_AFTER_SECS, ErrorCode};
        use sea_orm::sqlx::Error as Sqlx;
        use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};
        use std::sync::Arc;
        let io = || {
            Arc::new(Sqlx::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            )))
        };
        for unreachable in [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::Conn(RuntimeErr::SqlxError(io())),
            DbErr::Query(RuntimeErr::SqlxError(io())),
            DbErr::Exec(RuntimeErr::SqlxError(Arc::new(Sqlx::PoolTimedOut))),
        ] {
            let e = AppError::from(unreachable);
            assert_eq!(e.code(), ErrorCode::UpstreamUnavailable, "{e}");
            assert_eq!(e.retry_after_secs(), Some(DATABASE_RETRY_AFTER_SECS));
        }
        // A statement that failed is ours to look into.
        let failed = DbErr::Query(RuntimeErr::SqlxError(Arc::new(Sqlx::RowNotFound)));
        assert_eq!(AppError::from(failed).code(), ErrorCode::Internal);
        assert_eq!(
            AppError::from(DbErr::Custom("x".into())).code(),
            ErrorCode::Internal
        );
    }
}
