//! Owns following an organization's event log live: what comes after a sequence number, read
//! from the store in sequence order, then whatever commits next. One reader per organization
//! and instance (a [`Feed`], shared through the [`Hub`]) reads each new event once, woken by bus
//! signals, and hands it to every follower; a follower replays from the store whatever it did
//! not get from the feed (before it joined, a gap, falling behind). Signals carry ids only and
//! only wake the reader, so a lost or duplicated signal costs latency, never an event; a
//! follower never skips one (sequence order is commit order, numbers have no gaps) and never
//! yields one twice (it only moves forward). GraphQL subscriptions stand on this.

use crate::bus::LogSignal;
use crate::domain::event::EventType;
use crate::domain::ids::OrganizationId;
use crate::error::{AppError, AppResult};
use crate::store::Store;
use crate::store::events::StoredEvent;
use futures::Stream;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// Events read per query.
const PAGE: u64 = 100;
/// Events a feed holds for followers not yet at them; one further behind replays from the store.
const FEED_CAPACITY: usize = 1024;
const FIRST_RETRY: Duration = Duration::from_millis(200);
const LAST_RETRY: Duration = Duration::from_secs(10);

/// `read` retried with backoff while the database cannot be reached: a live view waits out an
/// outage rather than dropping what it was about to show. Any other error is returned.
pub async fn retrying<T, F, Fut>(mut read: F) -> AppResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AppResult<T>>,
{
    let mut retry = FIRST_RETRY;
    loop {
        match read().await {
            Err(AppError::DatabaseUnavailable) => {
                if retry == FIRST_RETRY {
                    tracing::warn!("a live reader cannot reach the database; retrying");
                }
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(LAST_RETRY);
            }
            other => return other,
        }
    }
}

/// Ends a live view on an error that waiting does not cure (logged if internal).
macro_rules! or_end {
    ($read:expr) => {
        match $read {
            Ok(v) => v,
            Err(e) => {
                e.log_if_internal();
                return;
            }
        }
    };
}

/// The feeds of this process, one per organization followed, alive while followed.
#[derive(Clone)]
pub struct Hub {
    store: Store,
    feeds: Arc<Mutex<HashMap<OrganizationId, Weak<Feed>>>>,
}

/// One organization's new events as they commit, read once for all its followers here.
struct Feed {
    events: broadcast::Sender<Arc<StoredEvent>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Hub {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            feeds: Arc::default(),
        }
    }

    /// The organization's feed, started when nobody here follows it yet.
    fn feed(&self, org: OrganizationId) -> Arc<Feed> {
        let mut feeds = self.feeds.lock().expect("feeds");
        if let Some(feed) = feeds.get(&org).and_then(Weak::upgrade) {
            return feed;
        }
        feeds.retain(|_, f| f.strong_count() > 0);
        let (events, _) = broadcast::channel(FEED_CAPACITY);
        let reader = tokio::spawn(read_feed(self.store.clone(), org, events.clone()));
        let feed = Arc::new(Feed { events, reader });
        feeds.insert(org, Arc::downgrade(&feed));
        feed
    }

    /// The organization's events of `types` (all when empty) after `after`, in sequence order,
    /// for as long as the stream is polled.
    pub fn follow(
        &self,
        org: OrganizationId,
        after: i64,
        types: Vec<EventType>,
    ) -> impl Stream<Item = StoredEvent> + Send + 'static + use<> {
        let store = self.store.clone();
        let feed = self.feed(org);
        async_stream::stream! {
            // Joined before the first read: whatever the feed hands out later is seen.
            let mut live = feed.events.subscribe();
            // Every event up to `seen` was handled (yielded, or not of `types`).
            let mut seen = after;
            let mut replay = true;
            loop {
                if replay {
                    replay = false;
                    // Everything committed before `head` was read is in the pages read after it.
                    let head = or_end!(retrying(|| store.event_log_bounds(org)).await).last;
                    loop {
                        let page = or_end!(
                            retrying(|| store.events_of_types_after(org, &types, seen, PAGE)).await
                        );
                        let full = page.len() as u64 == PAGE;
                        for event in page {
                            seen = event.seq;
                            yield event;
                        }
                        if !full {
                            break;
                        }
                    }
                    seen = seen.max(head);
                }
                match live.recv().await {
                    Ok(event) if event.seq <= seen => {}
                    Ok(event) if event.seq == seen + 1 => {
                        seen = event.seq;
                        if types.is_empty() || types.contains(&event.event_type) {
                            yield StoredEvent::clone(&event);
                        }
                    }
                    // A gap (the feed started after this follower's replay read), or events
                    // this follower fell too far behind to get: from the store.
                    Ok(_) | Err(RecvError::Lagged(_)) => replay = true,
                    Err(RecvError::Closed) => return,
                }
            }
        }
    }
}

/// The feed's reader: from the log's head when it starts, each new event read once (in pages)
/// and handed out, woken by bus signals about the organization.
async fn read_feed(store: Store, org: OrganizationId, events: broadcast::Sender<Arc<StoredEvent>>) {
    let mut signals = store.bus().subscribe();
    let mut cursor = or_end!(retrying(|| store.event_log_bounds(org)).await).last;
    loop {
        loop {
            let page = or_end!(retrying(|| store.events_after(org, cursor, PAGE)).await);
            let full = page.len() as u64 == PAGE;
            for event in page {
                cursor = event.seq;
                // No follower listening is fine: they replay from the store.
                let _ = events.send(Arc::new(event));
            }
            if !full {
                break;
            }
        }
        loop {
            match signals.recv().await {
                Ok(LogSignal::Advanced {
                    organization_id,
                    seq,
                }) if organization_id == org && seq > cursor => break,
                // Signals were missed (here, or by the listener): read again.
                Ok(LogSignal::Resync) | Err(RecvError::Lagged(_)) => break,
                Ok(LogSignal::Advanced { .. }) => {}
                Err(RecvError::Closed) => return,
            }
        }
    }
}
