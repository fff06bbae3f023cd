//! Owns sending the simulator's webhook events as Ponto does: one signed POST per event to the
//! configured target, retried on non-2xx and timeouts on a fixed schedule with the same
//! `data.id`; the controls to misbehave on command (duplicates, delays, holding and releasing
//! out of order, pausing); and the log of every delivery a test reads back.

use crate::events::PontoEvent;
use crate::webhooks::{Claims, Signer};
use pb_clock::SharedClock;
use rand::seq::SliceRandom;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Waits after the 1st, 2nd… failed attempt: six attempts in all over about 13 minutes.
pub const DEFAULT_RETRY_DELAYS: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
];
/// How long one attempt may take before it counts as failed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries remembered for `GET /_sandbox/webhooks/deliveries`.
const LOG_CAPACITY: usize = 10_000;

/// Where and how webhooks go out.
#[derive(Clone, Debug)]
pub struct WebhookOptions {
    /// The receiver (`--webhook-url`); none: events are logged as `noTarget`, never sent.
    pub target: Option<url::Url>,
    /// The `aud` claim: the Ibanity application the events are for.
    pub audience: String,
    pub retry_delays: Vec<Duration>,
    pub timeout: Duration,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            target: None,
            audience: crate::webhooks::DEFAULT_APPLICATION_ID.into(),
            retry_delays: DEFAULT_RETRY_DELAYS.to_vec(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// One copy of one event on its way to the target.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// 0 for the event itself, 1… for duplicates asked for with the `duplicate` control.
    pub copy: u32,
    /// `held`, `queued`, `retrying`, `delivered`, `failed` (attempts exhausted) or `noTarget`.
    pub status: &'static str,
    pub attempts: u32,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

/// The order held events are released in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Order {
    /// As they were emitted.
    Emitted,
    Reverse,
    Random,
}

struct Held {
    event: PontoEvent,
    copies: Vec<usize>,
}

#[derive(Default)]
struct Controls {
    target: Option<url::Url>,
    /// Events emitted while holding, in order.
    held: Option<Vec<Held>>,
    /// The next `.0` events are each delivered `.1` times.
    duplicate: Option<(u32, u32)>,
    /// The next `.1` events (all, when `None`) wait this long before their first attempt.
    delay: Option<(Duration, Option<u32>)>,
    log: VecDeque<Delivery>,
    /// Log positions dropped from the front, so a task's index stays valid.
    dropped: usize,
}

impl Controls {
    fn record(&mut self, e: &PontoEvent, copy: u32, status: &'static str) -> usize {
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_front();
            self.dropped += 1;
        }
        self.log.push_back(Delivery {
            event_id: e.id.to_string(),
            event_type: e.event_type,
            copy,
            status,
            attempts: 0,
            last_status: None,
            last_error: None,
        });
        self.dropped + self.log.len() - 1
    }

    fn entry(&mut self, at: usize) -> Option<&mut Delivery> {
        at.checked_sub(self.dropped)
            .and_then(|i| self.log.get_mut(i))
    }

    /// How many times the next event goes out, and how long it waits first.
    fn take_controls(&mut self) -> (u32, Duration) {
        let times = match self.duplicate.as_mut() {
            Some((left, times)) => {
                let t = *times;
                *left -= 1;
                if *left == 0 {
                    self.duplicate = None;
                }
                t
            }
            None => 1,
        };
        let delay = match self.delay.as_mut() {
            Some((d, Some(left))) => {
                let d = *d;
                *left -= 1;
                if *left == 0 {
                    self.delay = None;
                }
                d
            }
            Some((d, None)) => *d,
            None => Duration::ZERO,
        };
        (times, delay)
    }
}

/// The sandbox's webhook sender, shared by the world (which emits) and the control API.
pub struct Outbox {
    controls: Mutex<Controls>,
    paused: tokio::sync::watch::Sender<bool>,
    clock: SharedClock,
    signer: Arc<RwLock<Signer>>,
    issuer: String,
    http: reqwest::Client,
    options: WebhookOptions,
}

impl Outbox {
    pub fn new(
        options: WebhookOptions,
        clock: SharedClock,
        signer: Arc<RwLock<Signer>>,
        issuer: String,
    ) -> Self {
        Self {
            controls: Mutex::new(Controls {
                target: options.target.clone(),
                ..Controls::default()
            }),
            paused: tokio::sync::watch::Sender::new(false),
            clock,
            signer,
            issuer,
            // A receiver on loopback must not be reached through a proxy from the environment.
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
            options,
        }
    }

    fn controls(&self) -> std::sync::MutexGuard<'_, Controls> {
        self.controls.lock().expect("webhook controls")
    }

    /// Sends `event` (on its own task), holds it, or logs it as `noTarget`.
    pub fn push(self: &Arc<Self>, event: PontoEvent) {
        let mut c = self.controls();
        if c.target.is_none() {
            c.record(&event, 0, "noTarget");
            return;
        }
        let (times, delay) = c.take_controls();
        let status = if c.held.is_some() { "held" } else { "queued" };
        let copies: Vec<usize> = (0..times).map(|k| c.record(&event, k, status)).collect();
        if let Some(held) = c.held.as_mut() {
            held.push(Held { event, copies });
            return;
        }
        drop(c);
        for at in copies {
            let (me, e) = (self.clone(), event.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                me.deliver(e, at, None).await;
            });
        }
    }

    pub fn set_target(&self, target: Option<url::Url>) {
        self.controls().target = target;
    }

    pub fn duplicate(&self, events: u32, times: u32) {
        self.controls().duplicate = (events > 0 && times > 0).then_some((events, times));
    }

    pub fn delay(&self, by: Duration, events: Option<u32>) {
        self.controls().delay = (!by.is_zero() && events != Some(0)).then_some((by, events));
    }

    pub fn hold(&self) {
        self.controls().held.get_or_insert_with(Vec::new);
    }

    /// Stops holding; the held events go out one after another in `order`, each once its
    /// first attempt is over, so the receiver sees them in that order. Returns how many.
    pub fn release(self: &Arc<Self>, order: Order) -> usize {
        let mut held = self.controls().held.take().unwrap_or_default();
        match order {
            Order::Emitted => {}
            Order::Reverse => held.reverse(),
            Order::Random => held.shuffle(&mut rand::rng()),
        }
        let n = held.len();
        let me = self.clone();
        tokio::spawn(async move {
            for h in held {
                for at in h.copies {
                    let (first, attempted) = tokio::sync::oneshot::channel();
                    let (me2, e) = (me.clone(), h.event.clone());
                    tokio::spawn(async move { me2.deliver(e, at, Some(first)).await });
                    attempted.await.ok();
                }
            }
        });
        n
    }

    /// Pausing stops every attempt, retries included, until resumed.
    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.controls().log.iter().cloned().collect()
    }

    fn update(&self, at: usize, f: impl FnOnce(&mut Delivery)) {
        if let Some(d) = self.controls().entry(at) {
            f(d);
        }
    }

    /// Attempts until the target answers 2xx or the schedule is exhausted.
    async fn deliver(
        self: Arc<Self>,
        event: PontoEvent,
        at: usize,
        mut first_attempt: Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        let body = event.body();
        let mut paused = self.paused.subscribe();
        for attempt in 1.. {
            // A closed channel cannot happen while `self` lives.
            paused.wait_for(|p| !p).await.ok();
            let target = self.controls().target.clone();
            let result = match target {
                Some(t) => self.attempt(&t, &body).await,
                None => Err("no target".to_owned()),
            };
            if let Some(tx) = first_attempt.take() {
                tx.send(()).ok();
            }
            let delivered = matches!(result, Ok(s) if (200..300).contains(&s));
            let wait = self.options.retry_delays.get(attempt - 1).copied();
            self.update(at, |d| {
                d.attempts = attempt as u32;
                d.last_status = result.as_ref().ok().copied();
                d.last_error = result.as_ref().err().cloned();
                d.status = match (delivered, wait) {
                    (true, _) => "delivered",
                    (false, Some(_)) => "retrying",
                    (false, None) => "failed",
                };
            });
            match (delivered, wait) {
                (false, Some(wait)) => tokio::time::sleep(wait).await,
                _ => return,
            }
        }
    }

    /// One signed POST; the receiver's status, or why there was none.
    async fn attempt(&self, target: &url::Url, body: &str) -> Result<u16, String> {
        let iat = self.clock.now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.options.audience.clone(),
            iat,
            exp: iat + 60,
        };
        let signature = self
            .signer
            .read()
            .expect("signer")
            .sign(body.as_bytes(), &claims);
        self.http
            .post(target.clone())
            .header("content-type", "application/json")
            .header("signature", signature)
            .body(body.to_owned())
            .timeout(self.options.timeout)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| {
                if e.is_timeout() {
                    "timeout".to_owned()
                } else {
                    "connection failed".to_owned()
                }
            })
    }
}
