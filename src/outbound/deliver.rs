//! Owns sending: a worker that claims due deliveries under a lease, signs each as Standard
//! Webhooks (`webhook-id` = the event id, stable across retries), POSTs it without following
//! redirects, records the attempt and decides what follows — success, a retry on the schedule
//! with jitter (or later, when the endpoint says `Retry-After`), failure when no attempt is
//! left, the endpoint disabled on 410 or after failing too long. At-least-once: a crash between
//! sending and recording leaves the claim to expire and the delivery to be sent again.

use super::guard::TargetGuard;
use super::signing::{SigningSecret, signature_header};
use crate::backoff::Backoff;
use crate::crypto::{Binding, KeyRing};
use crate::domain::ids::EndpointId;
use crate::domain::status::AttemptError;
use crate::metrics::DeliveryMetrics;
use crate::store::Store;
use crate::store::deliveries::{Attempt, ClaimedDelivery, EXCERPT_BYTES, Next};
use chrono::{DateTime, Utc};
use rand::Rng;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How often a worker deletes history past its retention.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// How deliveries are sent.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Attempts in flight at once, in all.
    pub concurrency: usize,
    /// Attempts in flight at once to one endpoint: a slow or dead endpoint holds no more.
    pub per_endpoint: usize,
    pub timeout: Duration,
    /// Delay before attempt n+1 (the first is the delay before the first attempt).
    pub schedule: Vec<chrono::Duration>,
    pub lease: chrono::Duration,
    /// An endpoint failing for this long is disabled.
    pub disable_after: chrono::Duration,
    /// How long attempts and finished deliveries are kept.
    pub retention: chrono::Duration,
    /// How far back an endpoint may be recovered; events are kept at least this long (and at
    /// least the retention).
    pub recover_window: chrono::Duration,
    pub poll: Duration,
    /// Extra trusted CA certificates (PEM), besides the public roots.
    pub extra_roots_pem: Option<Vec<u8>>,
}

impl DeliveryConfig {
    /// Reads `0,5,300` (seconds) into a schedule.
    pub fn parse_schedule(spec: &str) -> Result<Vec<chrono::Duration>, String> {
        let out: Vec<chrono::Duration> = spec
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<u32>()
                    .map(|n| chrono::Duration::seconds(n.into()))
                    .map_err(|_| {
                        format!("PB_WEBHOOK_RETRY_SCHEDULE: {s:?} is not a number of seconds")
                    })
            })
            .collect::<Result<_, _>>()?;
        if out.is_empty() || out.len() > 20 {
            return Err("PB_WEBHOOK_RETRY_SCHEDULE: 1 to 20 delays".into());
        }
        Ok(out)
    }
}

/// The delivery worker of one instance.
#[derive(Clone)]
pub struct Deliverer {
    store: Store,
    keys: Arc<KeyRing>,
    targets: TargetGuard,
    client: reqwest::Client,
    cfg: Arc<DeliveryConfig>,
    owner: Arc<str>,
    in_flight: Arc<Mutex<HashMap<EndpointId, usize>>>,
    /// Start times of the attempts of the last second, per endpoint with a rate limit.
    recent: Arc<Mutex<HashMap<EndpointId, VecDeque<Instant>>>>,
    metrics: DeliveryMetrics,
}

impl Deliverer {
    pub fn new(
        store: Store,
        keys: Arc<KeyRing>,
        targets: TargetGuard,
        cfg: DeliveryConfig,
        metrics: DeliveryMetrics,
    ) -> Result<Self, crate::error::AppError> {
        let mut builder = reqwest::Client::builder().use_rustls_tls();
        if let Some(pem) = &cfg.extra_roots_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                crate::error::AppError::bad_input(format!("PB_WEBHOOK_CA_CERT: {e}"))
            })?;
            if roots.is_empty() {
                return Err(crate::error::AppError::bad_input(
                    "PB_WEBHOOK_CA_CERT: no certificate in the file",
                ));
            }
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        // TLS verifies the URL's host name on the connection made to the guard's addresses.
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.timeout)
            // Never through a proxy from the environment, and every name resolved by the guard,
            // which hands the connector exactly the addresses it checked.
            .no_proxy()
            .dns_resolver(targets.resolver())
            .tcp_nodelay(true)
            .user_agent("ponto-bridge-webhooks/1")
            .build()
            .map_err(crate::error::AppError::internal)?;
        Ok(Self {
            store,
            keys,
            targets,
            client,
            cfg: Arc::new(cfg),
            owner: format!("deliver-{}", uuid::Uuid::new_v4()).into(),
            in_flight: Arc::default(),
            recent: Arc::default(),
            metrics,
        })
    }

    /// Claims and sends until `stop` resolves, then waits up to `grace` for attempts running.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>, grace: Duration) {
        let global = Arc::new(Semaphore::new(self.cfg.concurrency.max(1)));
        let tasks = tokio_util::task::TaskTracker::new();
        let wake = self.store.bus().deliveries();
        let mut backoff = Backoff::new("deliveries", self.metrics.step_failures.clone());
        tokio::pin!(stop);
        let (mut observed, mut purged) = (None::<Instant>, None::<Instant>);
        loop {
            let permit = tokio::select! {
                p = global.clone().acquire_owned() => p.expect("never closed"),
                () = &mut stop => break,
            };
            if observed.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                observed = Some(Instant::now());
                super::upkeep::observe(&self.store, &self.metrics).await;
            }
            if purged.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
                purged = Some(Instant::now());
                super::upkeep::purge(&self.store, &self.cfg).await;
            }
            let busy: Vec<EndpointId> = self
                .in_flight
                .lock()
                .expect("not poisoned")
                .iter()
                .filter(|(_, n)| **n >= self.cfg.per_endpoint)
                .map(|(e, _)| *e)
                .collect();
            let until = self.store.clock().now() + self.cfg.lease;
            let want = 1 + global.available_permits() as u64;
            // A token per claim: see `ClaimedDelivery::lease_owner`.
            let token = format!("{}:{}", self.owner, uuid::Uuid::new_v4());
            let claimed = backoff
                .note(
                    self.store
                        .claim_deliveries(&token, until, want, &busy)
                        .await,
                )
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
            // No room for these endpoints now: handed back at once, together, for a later claim.
            let (claimed, no_room): (Vec<_>, Vec<_>) =
                claimed.into_iter().partition(|d| self.enter(d.endpoint_id));
            if let Err(e) = self.store.release_deliveries(&no_room).await {
                tracing::warn!(error = %crate::error::Esc(&e), "could not release deliveries");
            }
            for d in claimed {
                let permit = match permit.take() {
                    Some(p) => p,
                    None => global.clone().acquire_owned().await.expect("never closed"),
                };
                let me = self.clone();
                let wake = wake.clone();
                tasks.spawn(async move {
                    let endpoint = d.endpoint_id;
                    me.deliver(d).await;
                    me.leave(endpoint);
                    drop(permit);
                    // Room for this endpoint again: its next due delivery need not wait a poll.
                    wake.notify_one();
                });
            }
        }
        tasks.close();
        if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
            tracing::warn!("webhook deliveries did not finish within the grace period");
        }
    }

    fn enter(&self, endpoint: EndpointId) -> bool {
        let mut in_flight = self.in_flight.lock().expect("not poisoned");
        let n = in_flight.entry(endpoint).or_default();
        if *n >= self.cfg.per_endpoint {
            return false;
        }
        *n += 1;
        true
    }

    fn leave(&self, endpoint: EndpointId) {
        let mut in_flight = self.in_flight.lock().expect("not poisoned");
        if let Some(n) = in_flight.get_mut(&endpoint) {
            *n -= 1;
            if *n == 0 {
                in_flight.remove(&endpoint);
            }
        }
    }

    /// Waits until the endpoint's limit allows one more attempt this second (excess waits,
    /// never fails); whether it had to wait.
    async fn within_rate(&self, endpoint: EndpointId, per_second: Option<i32>) -> bool {
        let Some(limit) = per_second
            .and_then(|r| usize::try_from(r).ok())
            .filter(|r| *r > 0)
        else {
            return false;
        };
        let mut waited = false;
        loop {
            let wait = {
                let mut recent = self.recent.lock().expect("not poisoned");
                let q = recent.entry(endpoint).or_default();
                let now = Instant::now();
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
                {
                    q.pop_front();
                }
                if q.len() < limit {
                    q.push_back(now);
                    return waited;
                }
                Duration::from_secs(1).saturating_sub(now.duration_since(*q.front().expect("full")))
            };
            tokio::time::sleep(wait).await;
            waited = true;
        }
    }

    /// One attempt of one delivery, recorded with what follows.
    async fn deliver(&self, mut d: ClaimedDelivery) {
        let waited = self
            .within_rate(d.endpoint_id, d.rate_limit_per_second)
            .await;
        // A claim made within the last second still holds its whole lease (twice the timeout
        // and more), and the endpoint's failure clock and the delivery's status were read with
        // it: confirming it again would be one more write per delivery (the costliest
        // statement of a backlog, see BENCHMARKS.md). After a rate-limit wait, or a claim that
        // waited longer for its slot, it is confirmed: still this claim's, still pending and
        // for long enough to send and record — else another worker (or a later claim) has it,
        // or its endpoint went, and this attempt is not made.
        let now = self.store.clock().now();
        let fresh = !waited && d.lease_until - now >= self.cfg.lease - chrono::Duration::seconds(1);
        let until = now + self.cfg.lease;
        let confirmed = if fresh {
            Ok(Some(d.failing_since))
        } else {
            self.store.confirm_lease(&d, until).await
        };
        match confirmed {
            Ok(Some(failing_since)) => d.failing_since = failing_since,
            Ok(None) => {
                tracing::debug!(delivery = %d.id, "a claim ran out before its attempt; not sent");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %crate::error::Esc(&e), "could not confirm a delivery's claim");
                return;
            }
        }
        let started_at = self.store.clock().now();
        let t0 = Instant::now();
        let (status, excerpt, error, retry_after) = match self.send(&d, started_at).await {
            Ok(s) => (Some(s.status), Some(s.excerpt), None, s.retry_after),
            Err(e) => (None, None, Some(e), None),
        };
        let attempt = Attempt {
            started_at,
            duration_ms: i64::try_from(t0.elapsed().as_millis()).unwrap_or(i64::MAX),
            status,
            excerpt,
            error,
        };
        let next = self.next(&d, started_at, status, retry_after);
        match self.store.finish_attempt(&d, attempt, next.clone()).await {
            Ok(true) => self.count(&d, status, &next),
            // The claim ran out and another worker took it; its outcome stands.
            Ok(false) => tracing::warn!(
                delivery = %d.id,
                "a delivery's claim ran out during its attempt; its outcome was not recorded"
            ),
            Err(e) => {
                tracing::warn!(error = %crate::error::Esc(&e), "could not record a webhook attempt")
            }
        }
    }

    /// Counts a recorded attempt and what it led to.
    fn count(&self, d: &ClaimedDelivery, status: Option<u16>, next: &Next) {
        let m = &self.metrics;
        match status {
            Some(s) if (200..300).contains(&s) => m.attempt("success"),
            Some(_) => m.attempt("http_error"),
            None => m.attempt("no_answer"),
        }
        if !matches!(next, Next::Succeeded) {
            m.endpoint_failed(d.endpoint_id);
        }
        match next {
            Next::Succeeded => m.finished("succeeded"),
            Next::Failed | Next::DisableEndpoint(_, None) => m.finished("failed"),
            Next::RetryAt(_) | Next::DisableEndpoint(_, Some(_)) => {}
        }
        if matches!(next, Next::DisableEndpoint(..)) {
            m.endpoints_disabled.inc();
        }
    }

    /// What follows an attempt that started at `now` and got `status` (none: no answer). The
    /// schedule counts from the attempt's start.
    fn next(
        &self,
        d: &ClaimedDelivery,
        now: DateTime<Utc>,
        status: Option<u16>,
        retry_after: Option<Duration>,
    ) -> Next {
        match status {
            Some(s) if (200..300).contains(&s) => return Next::Succeeded,
            Some(410) => {
                return Next::DisableEndpoint("the endpoint answered 410 Gone".into(), None);
            }
            _ => {}
        }
        let done = usize::try_from(d.attempts_before + 1).unwrap_or(usize::MAX);
        let retry = self.cfg.schedule.get(done).map(|delay| {
            let mut delay = jittered(*delay);
            if let Some(asked) = retry_after.and_then(|r| chrono::Duration::from_std(r).ok()) {
                delay = delay.max(asked.min(chrono::Duration::hours(24)));
            }
            now + delay
        });
        if let Some(since) = d.failing_since
            && now - since >= self.cfg.disable_after
        {
            let why = format!(
                "failing since {}",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            return Next::DisableEndpoint(why, retry);
        }
        retry.map_or(Next::Failed, Next::RetryAt)
    }

    /// Signs and POSTs the event; the answer's status, a short excerpt and `Retry-After`.
    async fn send(
        &self,
        d: &ClaimedDelivery,
        now: DateTime<Utc>,
    ) -> Result<Sent, (AttemptError, String)> {
        let url = self.targets.check(&d.url).map_err(|r| {
            (
                AttemptError::TargetNotAllowed,
                format!("not sent: {}", r.message),
            )
        })?;
        let binding = |column| Binding {
            table: "webhook_endpoint",
            column,
            row: d.endpoint_id.0,
            organization: d.organization_id.0,
        };
        let open = |enc: &[u8], column| {
            self.keys
                .open_secret(enc, binding(column))
                .ok()
                .and_then(|s| SigningSecret::parse(s.expose()))
                .ok_or_else(|| {
                    (
                        AttemptError::SecretUnavailable,
                        "not sent: the endpoint's secret does not open".to_owned(),
                    )
                })
        };
        let mut secrets = vec![open(&d.secret_enc, "secret_enc")?];
        if let Some((enc, until)) = &d.previous_secret
            && *until > now
        {
            secrets.push(open(enc, "previous_secret_enc")?);
        }
        let id = d.event_id.to_string();
        let ts = now.timestamp();
        let body = d.payload.clone().into_bytes();
        let refs: Vec<&SigningSecret> = secrets.iter().collect();
        let signature = signature_header(&refs, &id, ts, &body);
        let mut resp = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| super::failure::describe(&e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, now));
        let mut excerpt = Vec::new();
        while excerpt.len() < EXCERPT_BYTES {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    excerpt.extend_from_slice(&c[..c.len().min(EXCERPT_BYTES - excerpt.len())])
                }
                _ => break,
            }
        }
        Ok(Sent {
            status,
            excerpt: String::from_utf8_lossy(&excerpt).into_owned(),
            retry_after,
        })
    }
}

struct Sent {
    status: u16,
    excerpt: String,
    retry_after: Option<Duration>,
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(v: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v.trim())
        .ok()?
        .with_timezone(&Utc);
    (at - now).to_std().ok()
}

/// ±10%, so retries of many deliveries after an outage do not arrive at once.
fn jittered(d: chrono::Duration) -> chrono::Duration {
    let ms = d.num_milliseconds();
    if ms == 0 {
        return d;
    }
    let spread = ms / 10;
    chrono::Duration::milliseconds(ms + rand::rng().random_range(-spread..=spread))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_and_retry_after_parse() {
        let s = DeliveryConfig::parse_schedule("0, 5,300").unwrap();
        assert_eq!(s, [0, 5, 300].map(chrono::Duration::seconds));
        assert!(DeliveryConfig::parse_schedule("5,x").is_err());
        assert!(DeliveryConfig::parse_schedule("").is_err());
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn jitter_stays_within_a_tenth() {
        for _ in 0..1000 {
            let j = jittered(chrono::Duration::seconds(300)).num_milliseconds();
            assert!((270_000..=330_000).contains(&j), "{j}");
        }
        assert_eq!(jittered(chrono::Duration::zero()), chrono::Duration::zero());
    }
}
