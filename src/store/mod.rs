//! Owns persistence: the only room that touches `entity` and SQL. Every function that reads or
//! writes tenant data takes the organization id; there is no query path without it.
//!
//! Writes go through [`WriteTx`]: on SQLite it is started `IMMEDIATE` (a deferred transaction
//! that upgrades to a write fails with "database is locked" whatever the busy timeout) after
//! its turn in this process's writer queue, and it publishes event signals on the bus only
//! after it commits.

pub mod accounts;
pub mod audit;
pub mod connection;
mod db;
pub mod deliveries;
pub mod delivery_log;
pub mod events;
pub mod flows;
pub mod ignore;
pub mod inbound;
pub mod introspect;
pub mod invoices;
pub mod listen;
pub mod matches;
pub mod organizations;
pub mod page;
pub mod reconcile;
mod scoped;
pub mod secrets;
pub mod suggestions;
pub mod synchronizations;
pub mod transactions;
pub mod webhooks;

use crate::bus::{Bus, EventSignal};
use crate::clock::SharedClock;
use crate::error::AppResult;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbBackend, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait, Value,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use db::{DEFAULT_ACQUIRE_TIMEOUT, connect, connect_with, migrate};
use scoped::{delete_in, find_ids_in, find_in, owned_by, update_in};

/// Handle to the database, the bus and the clock. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    bus: Bus,
    clock: SharedClock,
    statements: Arc<AtomicU64>,
    /// SQLite's single writer, queued in process: writers waiting in SQLite's busy handler
    /// sleep 1, 2, 5, 10… ms between tries, which under a few concurrent writers costs more
    /// than the writes (BENCHMARKS.md, outbound deliveries). Another process on the same file
    /// still meets the busy handler.
    writers: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// How long a write waits for its turn in the queue before starting anyway (then SQLite's own
/// busy timeout applies, as without the queue): a turn is never a new way to hang.
const WRITER_TURN: std::time::Duration = std::time::Duration::from_secs(30);

impl Store {
    pub fn new(mut db: DatabaseConnection, bus: Bus, clock: SharedClock) -> Self {
        let statements = Arc::new(AtomicU64::new(0));
        let counter = statements.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let writers = (db.get_database_backend() == DbBackend::Sqlite)
            .then(|| Arc::new(tokio::sync::Mutex::new(())));
        Self {
            db,
            bus,
            clock,
            statements,
            writers,
        }
    }

    /// SQL statements run through this store so far (N+1 checks, metrics).
    pub fn statement_count(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub(crate) fn conn(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Readiness: the database answers.
    pub async fn ping(&self) -> AppResult<()> {
        self.db.ping().await?;
        Ok(())
    }

    /// Starts a write transaction (IMMEDIATE on SQLite).
    pub async fn begin_write(&self) -> AppResult<WriteTx> {
        let turn = match &self.writers {
            Some(w) => {
                let turn = tokio::time::timeout(WRITER_TURN, w.clone().lock_owned()).await;
                if turn.is_err() {
                    // A writer holding its turn this long is a bug (a write inside a write).
                    tracing::error!("no SQLite writer turn within 30 s; starting without one");
                }
                turn.ok()
            }
            None => None,
        };
        let txn = match self.backend() {
            DbBackend::Sqlite => {
                self.db
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..Default::default()
                    })
                    .await?
            }
            _ => self.db.begin().await?,
        };
        Ok(WriteTx {
            txn,
            _turn: turn,
            signals: Vec::new(),
            bus: self.bus.clone(),
            clock: self.clock.clone(),
        })
    }

    pub async fn close(self) {
        if let Err(e) = self.db.close().await {
            tracing::warn!(error = %crate::error::Esc(&e), "closing the database pool failed");
        }
    }
}

/// A write transaction that collects the signals of the events it appends and publishes them
/// once committed. Dropping it without `commit` rolls back and publishes nothing.
pub struct WriteTx {
    txn: DatabaseTransaction,
    /// This process's writer turn on SQLite, given back when the transaction ends. A dropped
    /// transaction's rollback runs when its connection is next used, so the next writer may
    /// still meet SQLite's busy handler once.
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    signals: Vec<EventSignal>,
    bus: Bus,
    clock: SharedClock,
}

impl WriteTx {
    pub(crate) fn conn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub async fn commit(self) -> AppResult<()> {
        self.txn.commit().await?;
        self.bus.publish(&self.signals);
        Ok(())
    }

    pub async fn rollback(self) -> AppResult<()> {
        self.txn.rollback().await?;
        Ok(())
    }
}

/// Builds a statement from SQL written with PostgreSQL placeholders (`$1`, `$2`, …); on SQLite
/// they become numbered `?1`, `?2`. Keeps backend-specific SQL spelling in one place.
pub(crate) fn stmt(
    backend: DbBackend,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => {
            let mut out = String::with_capacity(sql.len());
            let mut chars = sql.chars().peekable();
            while let Some(c) = chars.next() {
                let placeholder = c == '$' && chars.peek().is_some_and(char::is_ascii_digit);
                out.push(if placeholder { '?' } else { c });
            }
            out
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}
