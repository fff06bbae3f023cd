//! Owns in-process signals about committed events: ids only, published after commit.
//!
//! Subscribers (GraphQL subscriptions) and workers (webhook delivery) wake on these and read
//! the rows from the database; a missed signal costs latency, never data. On PostgreSQL the
//! store also sends `pg_notify` inside the transaction, and every instance's listener
//! (`store::listen`) turns what it hears into the same signals here, followed by
//! [`LogSignal::Resync`] whenever it may have missed some.

use crate::domain::ids::OrganizationId;
use std::sync::Arc;
use tokio::sync::{Notify, broadcast};

/// PostgreSQL channel carrying `<organization uuid>:<seq>` for every committed event.
pub const PG_EVENT_CHANNEL: &str = "ponto_bridge_events";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSignal {
    pub organization_id: OrganizationId,
    pub seq: i64,
}

/// What a reader of the event log learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSignal {
    /// The organization's log holds committed events up to `seq` (sequence order is commit
    /// order, so every lower number is committed too).
    Advanced {
        organization_id: OrganizationId,
        seq: i64,
    },
    /// Signals may have been missed (the listener reconnected): every reader reads again.
    Resync,
}

#[derive(Clone)]
pub struct Bus {
    log: broadcast::Sender<LogSignal>,
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
        let (log, _) = broadcast::channel(4096);
        Self {
            log,
            deliveries: Arc::new(Notify::new()),
            reads: Arc::new(Notify::new()),
            inbound: Arc::new(Notify::new()),
        }
    }

    /// Called by the store after a commit (never before: nothing is announced that did not
    /// commit).
    pub fn publish(&self, signals: &[EventSignal]) {
        // One signal per organization and commit: its highest number covers the rest.
        let mut highest: Vec<(OrganizationId, i64)> = Vec::new();
        for s in signals {
            match highest
                .iter_mut()
                .find(|(org, _)| *org == s.organization_id)
            {
                Some((_, seq)) => *seq = (*seq).max(s.seq),
                None => highest.push((s.organization_id, s.seq)),
            }
        }
        for (organization_id, seq) in highest {
            self.advanced(organization_id, seq);
        }
    }

    /// The organization's log reached `seq`: committed here, or heard from another instance.
    pub fn advanced(&self, organization_id: OrganizationId, seq: i64) {
        // No receiver is fine: subscribers replay from the database.
        let _ = self.log.send(LogSignal::Advanced {
            organization_id,
            seq,
        });
        self.deliveries.notify_waiters();
        self.deliveries.notify_one();
    }

    /// Signals may have been missed: every reader reads the log again.
    pub fn resync(&self) {
        let _ = self.log.send(LogSignal::Resync);
        self.deliveries.notify_one();
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LogSignal> {
        self.log.subscribe()
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
