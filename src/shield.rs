//! Owns shielding: work that must not stop halfway once started — a Ponto authorization code
//! exchanged (it can be used once), a synchronization requested (it spends the account's slot),
//! a reauthorization requested (it counts against the account's limit) — runs on its own task,
//! so a request deadline or a client going away cannot cancel it between Ponto's answer and our
//! record of it. The caller still waits for the result when it can.

use crate::error::{AppError, AppResult};
use std::future::Future;
use tracing::Instrument;

/// Runs `work` to its end whatever happens to the caller, and returns its result.
pub async fn shielded<T: Send + 'static>(
    work: impl Future<Output = AppResult<T>> + Send + 'static,
) -> AppResult<T> {
    match tokio::spawn(work.in_current_span()).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only when the runtime shuts down under it.
        Err(_) => Err(AppError::internal("shielded work cancelled by shutdown")),
    }
}
