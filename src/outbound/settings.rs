//! Owns how outbound webhooks read their flags (`PB_WEBHOOK_*`): the allowed targets, the
//! recover window and the delivery worker's configuration, derived from `ServeSettings`.

use super::deliver::DeliveryConfig;
use super::targets::AllowedTargets;
use crate::config::ServeSettings;
use std::time::Duration;

impl ServeSettings {
    /// Where outbound webhooks may go, as configured.
    pub fn webhook_targets(&self) -> Result<AllowedTargets, String> {
        AllowedTargets::parse(&self.webhook_allowed_targets, self.webhook_allow_http)
    }

    /// How far back an endpoint may be recovered (and events are kept).
    pub fn recover_window(&self) -> chrono::Duration {
        chrono::Duration::days(
            self.webhook_recover_window_days
                .unwrap_or(self.webhook_retention_days),
        )
    }

    /// How outbound webhooks are sent. A claim outlives the attempt it covers (the timeout,
    /// plus a second of rate-limit wait per attempt allowed in flight) twice over.
    pub fn delivery_config(&self) -> Result<DeliveryConfig, String> {
        let timeout = Duration::from_secs(self.webhook_timeout_secs);
        let lease_secs = 2 * (self.webhook_timeout_secs + 1 + u64::from(self.webhook_per_endpoint));
        Ok(DeliveryConfig {
            concurrency: self.webhook_concurrency.into(),
            per_endpoint: self.webhook_per_endpoint.into(),
            timeout,
            schedule: DeliveryConfig::parse_schedule(&self.webhook_retry_schedule)?,
            lease: chrono::Duration::seconds(i64::try_from(lease_secs).unwrap_or(i64::MAX)),
            disable_after: chrono::Duration::hours(self.webhook_disable_after_hours),
            retention: chrono::Duration::days(self.webhook_retention_days),
            recover_window: self.recover_window(),
            poll: Duration::from_millis(self.scheduler_poll_ms.max(10)),
            extra_roots_pem: self
                .webhook_ca_cert
                .as_ref()
                .map(|path| {
                    std::fs::read(path)
                        .map_err(|e| format!("PB_WEBHOOK_CA_CERT {}: {e}", path.display()))
                })
                .transpose()?,
        })
    }
}
