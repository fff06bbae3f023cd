//! Owns acting on stored Ponto webhooks: workers claim due events under a lease (an event held
//! by a worker that died is claimed again when its lease runs out), map each to its tenant at
//! that moment (unlinked yet: `PARKED` until a link commits; disconnected: `IGNORED`), apply its
//! effect through `pull`, and finish it `PROCESSED`, or retry it with backoff until `FAILED`.
//! Effects run concurrently, bounded globally and per Ponto organization.

use crate::backoff::Backoff;
use crate::domain::status::InboundStatus;
use crate::metrics::InboundMetrics;
use crate::ponto::event::{KNOWN_TYPES, WebhookEvent};
use crate::pull::{Effect, Puller};
use crate::store::Store;
use crate::store::inbound::{ClaimedEvent, Tenant};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How stored webhooks are processed.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// Effects running at once, in all.
    pub concurrency: usize,
    /// Effects running at once for one Ponto organization.
    pub per_organization: usize,
    /// How long a claim lasts before another worker may take the event.
    pub lease: chrono::Duration,
    /// Attempts before an event is `FAILED`.
    pub max_attempts: i32,
    /// How long `PROCESSED` and `IGNORED` events are kept.
    pub retention: chrono::Duration,
    /// How often to look for due events without being woken.
    pub poll: Duration,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            per_organization: 2,
            lease: chrono::Duration::seconds(60),
            max_attempts: 8,
            retention: chrono::Duration::days(7),
            poll: Duration::from_secs(1),
        }
    }
}

/// Waits after the 1st, 2nd… failed attempt (the last one repeats).
const BACKOFF_SECS: [i64; 6] = [1, 5, 30, 120, 600, 1800];

fn backoff(attempts: i32) -> chrono::Duration {
    let i = usize::try_from(attempts.max(1) - 1).unwrap_or(0);
    chrono::Duration::seconds(BACKOFF_SECS[i.min(BACKOFF_SECS.len() - 1)])
}

#[derive(Clone)]
pub struct Processor {
    store: Store,
    puller: Puller,
    cfg: ProcessorConfig,
    metrics: InboundMetrics,
    owner: Arc<str>,
    per_org: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl Processor {
    pub fn new(
        store: Store,
        puller: Puller,
        cfg: ProcessorConfig,
        metrics: InboundMetrics,
    ) -> Self {
        Self {
            store,
            puller,
            cfg,
            metrics,
            owner: format!("inbound-{}", uuid::Uuid::new_v4()).into(),
            per_org: Arc::default(),
        }
    }

    /// Claims and processes events until `stop` resolves, then waits up to `grace` for the
    /// effects running.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>, grace: Duration) {
        let global = Arc::new(Semaphore::new(self.cfg.concurrency.max(1)));
        let tasks = tokio_util::task::TaskTracker::new();
        let wake = self.store.bus().inbound();
        let mut backoff = Backoff::new("inbound", self.metrics.step_failures.clone());
        let (mut last_cleanup, mut last_observed) =
            (tokio::time::Instant::now(), tokio::time::Instant::now());
        tokio::pin!(stop);
        loop {
            let permit = tokio::select! {
                p = global.clone().acquire_owned() => p.expect("never closed"),
                () = &mut stop => break,
            };
            if last_observed.elapsed() >= Duration::from_secs(1) {
                last_observed = tokio::time::Instant::now();
                self.observe().await;
            }
            if last_cleanup.elapsed() > Duration::from_secs(600) {
                last_cleanup = tokio::time::Instant::now();
                self.clean_up().await;
            }
            let until = self.store.clock().now() + self.cfg.lease;
            let want = 1 + global.available_permits() as u64;
            let claimed = backoff
                .note(self.store.claim_inbound(&self.owner, until, want).await)
                .unwrap_or_default();
            if claimed.is_empty() {
                drop(permit);
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(backoff.wait(self.cfg.poll)) => {}
                    () = &mut stop => break,
                }
                continue;
            }
            let mut permit = Some(permit);
            for event in claimed {
                let permit = match permit.take() {
                    Some(p) => p,
                    None => global.clone().acquire_owned().await.expect("never closed"),
                };
                let me = self.clone();
                tasks.spawn(async move {
                    me.process(event).await;
                    drop(permit);
                });
            }
        }
        tasks.close();
        if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
            tracing::warn!("Ponto webhook effects did not finish within the grace period");
        }
    }

    /// One claimed event, from its tenant to its final (or next) status.
    async fn process(&self, e: ClaimedEvent) {
        let (status, org, error) = self.decide(&e).await;
        let result = match (status, &error) {
            (InboundStatus::Pending, Some(err)) => {
                let next = self.store.clock().now() + backoff(e.attempts);
                self.store
                    .retry_inbound_at(e.id, &self.owner, next, err)
                    .await
            }
            _ => {
                self.store
                    .finish_inbound(e.id, &self.owner, status, org, error.as_deref())
                    .await
            }
        };
        match result {
            Ok(true) => {
                if status != InboundStatus::Pending {
                    self.metrics.reached(&e.event_type, status.as_str());
                }
                if status == InboundStatus::Parked {
                    self.reconsider_parked(&e).await;
                }
            }
            // The lease ran out and another worker took the event; its outcome stands.
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(error = %crate::error::Esc(&err), "could not record a Ponto webhook's outcome")
            }
        }
    }

    /// The event's status after this attempt, its tenant, and why (for anything not done).
    async fn decide(
        &self,
        e: &ClaimedEvent,
    ) -> (
        InboundStatus,
        Option<crate::domain::ids::OrganizationId>,
        Option<String>,
    ) {
        let ignored = |why: &str| (InboundStatus::Ignored, None, Some(why.to_owned()));
        if !KNOWN_TYPES.contains(&e.event_type.as_str()) {
            return ignored("unknown event type");
        }
        let Some(event) = WebhookEvent::parse(&e.raw_body) else {
            return ignored("not a Ponto event");
        };
        let Some(ponto_org) = &e.ponto_organization_id else {
            return ignored("no organization");
        };
        let org = match self.store.tenant_of(ponto_org).await {
            Ok(Tenant::Linked(org)) => org,
            Ok(Tenant::Unknown) => return (InboundStatus::Parked, None, None),
            Ok(Tenant::Disconnected(org)) => {
                return (
                    InboundStatus::Ignored,
                    Some(org),
                    Some("the link was disconnected".into()),
                );
            }
            Err(err) => return self.failed_attempt(e, None, err.to_string()),
        };
        let _turn = self.org_turn(ponto_org).await;
        self.metrics.pulls_in_flight.inc();
        let outcome = self.puller.apply_webhook(org, &event).await;
        self.metrics.pulls_in_flight.dec();
        match outcome {
            Ok(Effect::Applied) => (InboundStatus::Processed, Some(org), None),
            Ok(Effect::Ignored(why)) => (InboundStatus::Ignored, Some(org), Some(why.into())),
            Err(err) => self.failed_attempt(e, Some(org), err.to_string()),
        }
    }

    fn failed_attempt(
        &self,
        e: &ClaimedEvent,
        org: Option<crate::domain::ids::OrganizationId>,
        error: String,
    ) -> (
        InboundStatus,
        Option<crate::domain::ids::OrganizationId>,
        Option<String>,
    ) {
        tracing::warn!(event = %e.ponto_event_id, attempts = e.attempts, error = %crate::error::Esc(&error), "a Ponto webhook's effect failed");
        if e.attempts >= self.cfg.max_attempts {
            (InboundStatus::Failed, org, Some(error))
        } else {
            (InboundStatus::Pending, org, Some(error))
        }
    }

    /// Waits for a slot among the organization's effects.
    async fn org_turn(&self, ponto_org: &str) -> tokio::sync::OwnedSemaphorePermit {
        let sem = self
            .per_org
            .lock()
            .expect("per-organization slots")
            .entry(ponto_org.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.cfg.per_organization.max(1))))
            .clone();
        sem.acquire_owned().await.expect("never closed")
    }

    /// A link may have committed between the lookup and the parking: look again.
    async fn reconsider_parked(&self, e: &ClaimedEvent) {
        let Some(ponto_org) = &e.ponto_organization_id else {
            return;
        };
        if let Ok(Tenant::Linked(_)) = self.store.tenant_of(ponto_org).await
            && let Ok(n) = self.store.unpark_inbound(ponto_org).await
            && n > 0
        {
            self.store.bus().wake_inbound();
        }
    }

    /// Refreshes the waiting and lag gauges.
    async fn observe(&self) {
        let Ok(waiting) = self.store.pending_inbound_count().await else {
            return;
        };
        self.metrics
            .waiting
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
        let lag = match self.store.oldest_pending_inbound().await {
            Ok(Some(t)) => (self.store.clock().now() - t).num_seconds().max(0),
            _ => 0,
        };
        self.metrics.lag_seconds.set(lag);
    }

    async fn clean_up(&self) {
        let before = self.store.clock().now() - self.cfg.retention;
        if let Err(e) = self.store.delete_finished_inbound(before).await {
            tracing::warn!(error = %crate::error::Esc(&e), "could not delete old Ponto webhooks");
        }
    }
}
