//! Owns shielding: work that must not stop halfway once started — a Ponto authorization code
//! exchanged (it can be used once), a synchronization requested (it spends the account's slot),
//! a reauthorization requested (it counts against the account's limit) — runs on its own task,
//! so a request deadline or a client going away cannot cancel it between Ponto's answer and our
//! record of it. The caller still waits for the result when it can; shutdown waits for what is
//! still running before the database pool closes.

use crate::error::{AppError, AppResult};
use std::future::Future;
use std::time::Duration;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// The shielded work of one service. Cheap to clone (clones share the work).
#[derive(Clone, Default)]
pub struct Shield {
    tracker: TaskTracker,
}

impl Shield {
    /// Runs `work` to its end whatever happens to the caller, and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = AppResult<T>> + Send + 'static,
    ) -> AppResult<T> {
        match self.tracker.spawn(work.in_current_span()).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only when the runtime shuts down under it.
            Err(_) => Err(AppError::internal("shielded work cancelled by shutdown")),
        }
    }

    /// Waits up to `grace` for the shielded work still running (a caller the request deadline
    /// dropped leaves its work behind); false when some still is. Work started later still runs.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
    }
}
