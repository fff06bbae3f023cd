//! Owns following an organization's event log live: what comes after a sequence number, read
//! from the store in sequence order, then whatever commits next as bus signals announce it.
//! Signals carry ids only and only wake the reader, so a lost or duplicated signal costs
//! latency, never an event; a reader never skips one (sequence order is commit order) and
//! never yields one twice (it only moves forward). GraphQL subscriptions stand on this.

use crate::bus::LogSignal;
use crate::domain::event::EventType;
use crate::domain::ids::OrganizationId;
use crate::store::Store;
use crate::store::events::StoredEvent;
use futures::Stream;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Events read per query.
const PAGE: u64 = 100;
const FIRST_RETRY: Duration = Duration::from_millis(200);
const LAST_RETRY: Duration = Duration::from_secs(10);

/// `read` retried with backoff until the database answers: a live view waits out an outage
/// rather than dropping what it was about to show.
pub async fn retrying<T, F, Fut>(mut read: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::error::AppResult<T>>,
{
    let mut retry = FIRST_RETRY;
    loop {
        match read().await {
            Ok(v) => return v,
            Err(e) => {
                if retry == FIRST_RETRY {
                    tracing::warn!(error = %e, "a live reader cannot read; retrying");
                }
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(LAST_RETRY);
            }
        }
    }
}

/// The organization's events of `types` (all when empty) after `after`, in sequence order, for
/// as long as the stream is polled. A database that cannot be read is retried with backoff.
pub fn follow(
    store: Store,
    org: OrganizationId,
    after: i64,
    types: Vec<EventType>,
) -> impl Stream<Item = StoredEvent> + Send + 'static {
    async_stream::stream! {
        // Subscribed before the first read: whatever commits after it is signalled.
        let mut signals = store.bus().subscribe();
        let mut cursor = after;
        // The highest number the log is known to have been read up to (events of other types
        // leave `cursor` behind).
        let mut read_up_to = after;
        loop {
            // Read everything there is.
            loop {
                let page = retrying(|| store.events_of_types_after(org, &types, cursor, PAGE)).await;
                let full = page.len() as u64 == PAGE;
                for event in page {
                    cursor = event.seq;
                    read_up_to = read_up_to.max(cursor);
                    yield event;
                }
                if !full {
                    break;
                }
            }
            // Then wait until there is more for this organization.
            loop {
                match signals.recv().await {
                    Ok(LogSignal::Advanced { organization_id, seq }) => {
                        if organization_id == org && seq > read_up_to {
                            read_up_to = seq;
                            break;
                        }
                    }
                    // Signals were missed (here, or by the listener): read again.
                    Ok(LogSignal::Resync) | Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                }
            }
        }
    }
}
