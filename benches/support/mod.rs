//! Shared set-up of the benchmarks: knobs from the environment, a fresh database (a SQLite file
//! in a temp dir, or `BENCH_DATABASE_URL`), server settings, and a sandbox on loopback.
// Each benchmark is its own crate and uses part of this.
#![allow(dead_code)]

use clap::Parser;
use ponto_bridge::clock::SystemClock;
use ponto_bridge::config::ServeSettings;
use ponto_sandbox::{self as sandbox, SandboxHandle, SandboxOptions};
use std::sync::Arc;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    serve: ServeSettings,
}

/// A numeric knob from the environment.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The database a benchmark runs on, and the temp dir holding its data (kept while it lives).
pub struct BenchDb {
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl BenchDb {
    /// `BENCH_DATABASE_URL` (an existing, empty database) or a SQLite file in a temp dir.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| {
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            )
        });
        Self { url, dir }
    }

    pub fn engine(&self) -> &'static str {
        if self.url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }

    /// Server settings on this database, port 0, a fixed HS256 secret, plus `extra` flags.
    pub fn serve_settings(&self, extra: &[&str]) -> ServeSettings {
        let data_dir = self.dir.path().display().to_string();
        let mut args = vec![
            "bench",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &self.url,
            "--data-dir",
            &data_dir,
            "--jwt-hs256-secret",
            "bench-secret-that-is-at-least-32-bytes-long",
        ];
        args.extend_from_slice(extra);
        Args::try_parse_from(args).unwrap().serve
    }
}

/// The built-in sandbox on a free loopback port, on the system clock.
pub async fn sandbox() -> SandboxHandle {
    sandbox::start(SandboxOptions::new(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(SystemClock),
    ))
    .await
    .unwrap()
}

/// Links `accounts` of the sandbox organization through the real browser flow, then waits for
/// the first read of `org` to end.
pub async fn link_and_read(
    store: &ponto_bridge::store::Store,
    org: ponto_bridge::domain::ids::OrganizationId,
    graphql: &str,
    token: &str,
    sandbox: &str,
    ponto_org: &str,
    accounts: &[String],
) {
    ponto_bridge_cli::demo::link_through_browser(graphql, token, sandbox, ponto_org, accounts)
        .await
        .unwrap();
    while store
        .connection(org)
        .await
        .unwrap()
        .and_then(|c| c.last_read_at)
        .is_none()
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `POST` a GraphQL query to `url` with a bearer token; the whole answer.
pub async fn gql(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    vars: serde_json::Value,
) -> serde_json::Value {
    client
        .post(url)
        .bearer_auth(token)
        .json(&serde_json::json!({"query": query, "variables": vars}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The first column of the first row of `sql` on PostgreSQL.
pub async fn pg_scalar<T: sea_orm::TryGetable>(db: &sea_orm::DatabaseConnection, sql: &str) -> T {
    use sea_orm::ConnectionTrait;
    db.query_one_raw(sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        sql,
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index(0)
    .unwrap()
}

/// Whether `db` is a PostgreSQL server running without autovacuum (this machine's is; the
/// default is on), so a bench must analyze as autovacuum would have.
pub async fn autovacuum_off(db: &sea_orm::DatabaseConnection) -> bool {
    db.get_database_backend() == sea_orm::DbBackend::Postgres
        && pg_scalar::<bool>(db, "SELECT current_setting('autovacuum') = 'off'").await
}

/// Resident and peak resident memory of this process, in MiB (Linux; NaN elsewhere).
pub fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak (VmHWM) to the current resident size.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
