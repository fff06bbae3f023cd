//! Owns the periodic read: claims connections whose read is due (one instance each, by lease)
//! and reads them; woken at once when a link or a synchronization completes, otherwise polls.

use super::Puller;
use crate::backoff::Backoff;
use chrono::Duration;

/// How long a claimed read may take before another instance may claim it again.
const READ_LEASE_MINUTES: i64 = 10;

/// Runs until `shutdown` resolves.
pub async fn run_scheduler(puller: Puller, shutdown: impl std::future::Future<Output = ()>) {
    let owner = uuid::Uuid::new_v4().to_string();
    let wake = puller.store.bus().reads();
    let mut backoff = Backoff::new("scheduler", puller.metrics.step_failures.clone());
    tokio::pin!(shutdown);
    loop {
        let lease = puller.store.clock().now() + Duration::minutes(READ_LEASE_MINUTES);
        let due = backoff.note(puller.store.claim_due_reads(&owner, lease, 20).await);
        for org in due.unwrap_or_default() {
            if let Err(e) = puller.read_claimed(org, Some(&owner)).await {
                tracing::warn!(organization = %org, error = %crate::error::Esc(&e), "reading Ponto failed; will retry at the next read");
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(backoff.wait(puller.cfg.scheduler_poll)) => {}
        }
    }
}
