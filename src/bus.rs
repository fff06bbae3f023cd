//! Owns in-process signals about committed events: ids only, published after commit.
//!
//! Subscribers (GraphQL subscriptions) and workers (webhook delivery) wake on these and read
//! the rows from the database; a missed signal costs latency, never data. On PostgreSQL the
//! store also sends `pg_notify` inside the transaction so other instances learn of it.

use crate::domain::event::EventType;
use crate::domain::ids::{EventId, OrganizationId};
use std::sync::Arc;
use tokio::sync::{Notify, broadcast};

/// PostgreSQL channel carrying `<organization uuid>:<seq>` for every committed event.
pub const PG_EVENT_CHANNEL: &str = "ponto_bridge_events";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSignal {
    pub organization_id: OrganizationId,
    pub event_id: EventId,
    pub seq: i64,
    pub event_type: EventType,
}

#[derive(Clone)]
pub struct Bus {
    events: broadcast::Sender<EventSignal>,
    deliveries: Arc<Notify>,
    reads: Arc<Notify>,
    inbound: Arc<Notify>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(4096);
        Self {
            events,
            deliveries: Arc::new(Notify::new()),
            reads: Arc::new(Notify::new()),
            inbound: Arc::new(Notify::new()),
        }
    }

    /// Called by the store after a commit (never before: nothing is announced that did not
    /// commit).
    pub fn publish(&self, signals: &[EventSignal]) {
        for s in signals {
            // No receiver is fine: subscribers replay from the database.
            let _ = self.events.send(*s);
        }
        if !signals.is_empty() {
            self.deliveries.notify_waiters();
            self.deliveries.notify_one();
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EventSignal> {
        self.events.subscribe()
    }

    /// Wakes the read scheduler: a connection's read became due (a link, a synchronization).
    pub fn wake_reads(&self) {
        self.reads.notify_one();
    }

    pub fn reads(&self) -> Arc<Notify> {
        self.reads.clone()
    }

    /// Wakes the inbound processor: a Ponto webhook was stored, or parked ones became due.
    pub fn wake_inbound(&self) {
        self.inbound.notify_one();
    }

    pub fn inbound(&self) -> Arc<Notify> {
        self.inbound.clone()
    }

    /// Wakes the delivery worker: deliveries became due without a new event (a redelivery, a
    /// recovery, an endpoint enabled again).
    pub fn wake_deliveries(&self) {
        self.deliveries.notify_one();
    }

    /// Wakes the delivery worker when new deliveries may be due.
    pub fn deliveries(&self) -> Arc<Notify> {
        self.deliveries.clone()
    }
}
