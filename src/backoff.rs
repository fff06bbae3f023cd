//! Owns how a background worker waits out failures of its own step (claiming due reads,
//! webhooks to process, deliveries to send — a database it cannot reach, mostly): the first
//! failure is logged, the next ones only counted, and the wait doubles after each from the
//! worker's poll interval up to `MAX_WAIT`, so an outage costs a few queries and one log line
//! instead of one of each per tick. The first success logs the recovery and restores the poll.

use crate::error::{AppError, Esc};
use prometheus_client::metrics::counter::Counter;
use std::time::Duration;

/// The longest wait between tries: a worker resumes within this of the database's return.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

pub struct Backoff {
    worker: &'static str,
    counted: Counter,
    failures: u32,
}

impl Backoff {
    /// `counted` is the worker's failure counter (`background_step_failures_total{worker}`).
    pub fn new(worker: &'static str, counted: Counter) -> Self {
        Self {
            worker,
            counted,
            failures: 0,
        }
    }

    pub fn failed(&mut self, e: &AppError) {
        self.counted.inc();
        self.failures = self.failures.saturating_add(1);
        if self.failures == 1 {
            tracing::warn!(worker = self.worker, error = %Esc(e), "a background step failed; backing off until it succeeds");
        } else {
            tracing::debug!(worker = self.worker, failures = self.failures, error = %Esc(e), "a background step failed again");
        }
    }

    pub fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(
                worker = self.worker,
                failures = self.failures,
                "a background step succeeds again"
            );
            self.failures = 0;
        }
    }

    /// `step`'s result, noted.
    pub fn note<T>(&mut self, step: Result<T, AppError>) -> Option<T> {
        match step {
            Ok(v) => {
                self.succeeded();
                Some(v)
            }
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    /// How long to wait before the next try: `poll` while the step succeeds, doubled per
    /// consecutive failure up to `MAX_WAIT` (never less than `poll`).
    pub fn wait(&self, poll: Duration) -> Duration {
        if self.failures == 0 {
            return poll;
        }
        let doubled = poll.saturating_mul(1u32 << self.failures.min(16));
        doubled.min(MAX_WAIT).max(poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(n: u32) -> Backoff {
        let mut b = Backoff::new("test", Counter::default());
        for _ in 0..n {
            b.failed(&AppError::DatabaseUnavailable);
        }
        b
    }

    #[test]
    fn waits_double_per_failure_up_to_the_cap_and_reset_on_success() {
        let poll = Duration::from_millis(50);
        assert_eq!(failing(0).wait(poll), poll);
        assert_eq!(failing(1).wait(poll), Duration::from_millis(100));
        assert_eq!(failing(3).wait(poll), Duration::from_millis(400));
        assert_eq!(failing(40).wait(poll), MAX_WAIT);
        let mut b = failing(5);
        assert_eq!(b.counted.get(), 5);
        assert_eq!(b.note(Ok::<_, AppError>(7)), Some(7));
        assert_eq!(b.wait(poll), poll);
    }

    #[test]
    fn a_poll_longer_than_the_cap_is_kept() {
        let poll = Duration::from_secs(60);
        assert_eq!(failing(3).wait(poll), poll);
    }
}
