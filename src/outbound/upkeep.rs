//! Owns the delivery worker's upkeep: the backlog gauges behind `/metrics` and the retention
//! of attempts and events (with their deliveries).

use super::deliver::DeliveryConfig;
use crate::metrics::DeliveryMetrics;
use crate::store::Store;

/// Refreshes the backlog and oldest-pending gauges.
pub async fn observe(store: &Store, metrics: &DeliveryMetrics) {
    match store.delivery_backlog().await {
        Ok(b) => {
            metrics.backlog.set(b.pending);
            let age = b
                .oldest_created_at
                .map_or(0, |t| (store.clock().now() - t).num_seconds().max(0));
            metrics.oldest_pending_seconds.set(age);
        }
        Err(e) => {
            tracing::debug!(error = %crate::error::Esc(&e), "could not read the delivery backlog")
        }
    }
}

/// Deletes attempts older than the retention, and events (with their deliveries) older than the
/// recover window (never fewer days than the retention).
pub async fn purge(store: &Store, cfg: &DeliveryConfig) {
    let now = store.clock().now();
    let events_kept = cfg.retention.max(cfg.recover_window);
    match store
        .purge_delivery_log(now - cfg.retention, now - events_kept)
        .await
    {
        Ok(p) if p != Default::default() => tracing::info!(
            attempts = p.attempts,
            events = p.events,
            "deleted webhook history past its retention"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %crate::error::Esc(&e), "could not delete old webhook history")
        }
    }
}
