//! Owns Ponto's webhook key set as we hold it: fetched from `<API root>/webhooks/keys` (the
//! root, not under `/ponto-connect`), cached 60 s, refetched when a `kid` is unknown — one fetch
//! at a time (single-flight) and at most one per 10 s whatever arrives — keeping the last good
//! set when a fetch fails. Time comes from our clock.

use super::webhook::{KeySet, Rejection};
use crate::clock::SharedClock;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::DecodingKey;
use prometheus_client::metrics::counter::Counter;
use std::sync::{Arc, RwLock};

/// How long a fetched key set is used without asking again.
pub const CACHE_SECS: i64 = 60;
/// Least time between two fetches (an unknown `kid` must not let anyone make us hammer Ponto).
pub const MIN_REFETCH_SECS: i64 = 10;

#[derive(Default)]
struct Cache {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<DateTime<Utc>>,
    attempted_at: Option<DateTime<Utc>>,
    /// Bumped by every fetch attempt; a waiter that sees it moved does not fetch again.
    generation: u64,
}

pub struct WebhookKeys {
    http: reqwest::Client,
    url: String,
    clock: SharedClock,
    cache: RwLock<Cache>,
    fetching: tokio::sync::Mutex<()>,
    fetches: Counter,
}

impl WebhookKeys {
    pub fn new(http: reqwest::Client, url: String, clock: SharedClock, fetches: Counter) -> Self {
        Self {
            http,
            url,
            clock,
            cache: RwLock::new(Cache::default()),
            fetching: tokio::sync::Mutex::new(()),
            fetches,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key named `kid`, fetching the set when it is stale or lacks `kid` (within limits).
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, Rejection> {
        let now = self.clock.now();
        let (found, generation, should_fetch) = {
            let c = self.cache.read().expect("key cache");
            let found = c.keys.as_ref().and_then(|k| k.get(kid).cloned());
            let fresh = c
                .fetched_at
                .is_some_and(|t| now < t + Duration::seconds(CACHE_SECS));
            let may_fetch = c
                .attempted_at
                .is_none_or(|t| now >= t + Duration::seconds(MIN_REFETCH_SECS));
            (
                found.clone(),
                c.generation,
                may_fetch && (found.is_none() || !fresh),
            )
        };
        if !should_fetch {
            return found.ok_or_else(|| self.missing());
        }
        self.refresh(generation).await;
        let c = self.cache.read().expect("key cache");
        c.keys
            .as_ref()
            .and_then(|k| k.get(kid).cloned())
            .ok_or_else(|| self.missing_in(&c))
    }

    fn missing(&self) -> Rejection {
        self.missing_in(&self.cache.read().expect("key cache"))
    }

    fn missing_in(&self, c: &Cache) -> Rejection {
        if c.keys.is_some() {
            Rejection::UnknownKid
        } else {
            Rejection::KeysUnavailable
        }
    }

    /// Fetches the set unless another caller did since `seen` (single-flight).
    async fn refresh(&self, seen: u64) {
        let _one = self.fetching.lock().await;
        if self.cache.read().expect("key cache").generation != seen {
            return;
        }
        let attempted = self.clock.now();
        self.fetches.inc();
        let fetched = self.fetch().await;
        let mut c = self.cache.write().expect("key cache");
        c.generation += 1;
        c.attempted_at = Some(attempted);
        match fetched {
            Ok(keys) => {
                c.keys = Some(Arc::new(keys));
                c.fetched_at = Some(attempted);
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %crate::error::Esc(&e), "fetching Ponto's webhook keys failed; keeping the last good set");
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let resp = self
            .http
            .get(&self.url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        KeySet::parse(&body).map_err(|e| format!("not a key set: {e}"))
    }
}
