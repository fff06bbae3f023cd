//! Owns opening the database (pragmas, pool) and applying migrations safely when several
//! instances start at once.

use crate::error::{AppError, AppResult};
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, TransactionTrait,
};
use std::path::PathBuf;
use std::time::Duration;

/// How long a SQLite writer waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Arbitrary, fixed key of the PostgreSQL advisory lock that serializes migrations.
const MIGRATION_LOCK_KEY: i64 = 0x706f_6e74_6f5f_6d67; // "ponto_mg"

/// How long a request waits for a pooled connection by default before it fails fast with
/// `UPSTREAM_UNAVAILABLE` (`PB_DB_ACQUIRE_TIMEOUT_MS`).
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn connect(url: &str, max_connections: u32) -> AppResult<DatabaseConnection> {
    connect_with(url, max_connections, DEFAULT_ACQUIRE_TIMEOUT).await
}

/// A pool of at most `max_connections`, where waiting for a connection gives up after
/// `acquire_timeout` (also the time allowed to open one).
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> AppResult<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections.max(2))
        .min_connections(0)
        .acquire_timeout(acquire_timeout)
        .connect_timeout(acquire_timeout)
        .sqlx_logging(false);
    let sqlite = url.starts_with("sqlite:");
    if sqlite {
        if let Some(dir) = sqlite_path(url).as_ref().and_then(|p| p.parent())
            && !dir.as_os_str().is_empty()
        {
            crate::keyfile::ensure_private_dir(dir)?;
        }
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                .create_if_missing(true)
        });
    }
    if url.starts_with("postgres") {
        // Our hot statements look rows up by value lists (`ponto_id IN (…)`, `dedupe_key IN
        // (…)`). PostgreSQL's generic plan for a prepared statement ignores the values and, while
        // a table grows during a first import before autovacuum analyzes it, picked a scan of
        // the whole organization instead of the unique index: 80 ms per page at 20,000 rows. A
        // custom plan per execution costs a fraction of a millisecond and always uses the index.
        opts.map_sqlx_postgres_opts(|o| o.options([("plan_cache_mode", "force_custom_plan")]));
    }
    if !sqlite {
        return Ok(Database::connect(opts).await?);
    }
    // The pool opens its first connection eagerly, and that connection switches a new database
    // file to WAL. The switch needs an exclusive lock that SQLite's busy timeout does not wait
    // for, so two instances creating the same file at once could fail with "database is
    // locked". The migration lock serializes that first connection too; once the file is in
    // WAL mode, later connections find it already set.
    let _lock = lock_beside(url).await?;
    Ok(Database::connect(opts).await?)
}

/// Applies pending migrations. On PostgreSQL under an advisory lock held by one transaction
/// while the migrator works on other pool connections; on SQLite under an exclusive lock on a
/// file next to the database. Either way a second instance waits, then finds nothing to do.
pub async fn migrate(db: &DatabaseConnection, url: &str) -> AppResult<()> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let guard = db.begin().await?;
            guard
                .execute_unprepared(&format!(
                    "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
                ))
                .await?;
            Migrator::up(db, None).await?;
            guard.commit().await?;
        }
        _ => {
            let lock = lock_beside(url).await?;
            let result = Migrator::up(db, None).await;
            drop(lock);
            result?;
        }
    }
    Ok(())
}

/// Takes an exclusive lock on `<database>.migrate.lock`, waiting for another instance that
/// holds it; dropping the file releases it.
async fn lock_beside(url: &str) -> AppResult<std::fs::File> {
    let lock_path = sqlite_path(url)
        .map(|p| p.with_extension("migrate.lock"))
        .ok_or_else(|| {
            AppError::internal(
                "SQLite URL has no file path (in-memory databases are not supported)",
            )
        })?;
    tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        f.lock()?;
        Ok(f)
    })
    .await
    .map_err(AppError::internal)?
    .map_err(AppError::internal)
}

/// The file behind a `sqlite://path?options` URL; `None` for in-memory databases.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite:///tmp/a.db?mode=rwc").unwrap().to_str(),
            Some("/tmp/a.db")
        );
        assert_eq!(
            sqlite_path("sqlite://./data/x.db").unwrap().to_str(),
            Some("./data/x.db")
        );
        assert!(sqlite_path("sqlite::memory:").is_none());
    }
}
