//! Owns persistence: the only room that touches `entity` and SQL. Every function that reads or
//! writes tenant data takes the organization id; there is no query path without it.
//!
//! Writes go through [`WriteTx`]: on SQLite it is started `IMMEDIATE` (a deferred transaction
//! that upgrades to a write fails with "database is locked" whatever the busy timeout), and it
//! publishes event signals on the bus only after it commits.

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

pub use db::{connect, migrate};
use scoped::{delete_in, find_ids_in, find_in, owned_by, update_in};

/// Handle to the database, the bus and the clock. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    bus: Bus,
    clock: SharedClock,
    statements: Arc<AtomicU64>,
}

impl Store {
    pub fn new(mut db: DatabaseConnection, bus: Bus, clock: SharedClock) -> Self {
        let statements = Arc::new(AtomicU64::new(0));
        let counter = statements.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        Self {
            db,
            bus,
            clock,
            statements,
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
