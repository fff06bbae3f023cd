//! The test harness: starts the real server on `127.0.0.1:0` with a fresh database per test —
//! a SQLite file in a temp dir, or, when `TEST_DATABASE_URL` is set, a PostgreSQL database
//! cloned from a template migrated once per test process.

use chrono::{SubsecRound, Utc};
use clap::Parser;
use ponto_bridge::app::App;
use ponto_bridge::auth::Authenticator;
use ponto_bridge::clock::ManualClock;
use ponto_bridge::config::ServeSettings;
use ponto_bridge::domain::scope::Scope;
use ponto_bridge::store::Store;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Once};
use std::time::Duration;
use tokio::sync::OnceCell;

pub const TOKEN_TTL_SECS: i64 = 60 * 86_400;

/// Pinned: runs the suite as if the wall clock were this many days ahead (CI reruns the
/// date-sensitive tests with 400), so no test depends on today's date.
pub const CLOCK_OFFSET_VAR: &str = "PB_TEST_CLOCK_OFFSET_DAYS";

fn clock_offset() -> chrono::Duration {
    let days = std::env::var(CLOCK_OFFSET_VAR)
        .ok()
        .map(|d| {
            d.parse::<i64>()
                .unwrap_or_else(|_| panic!("{CLOCK_OFFSET_VAR} is a number of days"))
        })
        .unwrap_or(0);
    chrono::Duration::days(days)
}

/// Where a test clock starts: now, moved by `PB_TEST_CLOCK_OFFSET_DAYS`.
pub fn clock_start() -> chrono::DateTime<Utc> {
    (Utc::now() + clock_offset()).trunc_subsecs(0)
}

/// The calendar day `offset` days from the test clocks' start (one anchor per test process).
pub fn day_date(offset: i64) -> chrono::NaiveDate {
    static ANCHOR: std::sync::OnceLock<chrono::NaiveDate> = std::sync::OnceLock::new();
    *ANCHOR.get_or_init(|| clock_start().date_naive()) + chrono::Duration::days(offset)
}

/// [`day_date`] as `YYYY-MM-DD`.
pub fn day(offset: i64) -> String {
    day_date(offset).to_string()
}
pub const TEST_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    serve: ServeSettings,
}

pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        ponto_bridge::install_crypto_provider();
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// A database for one test, dropped with it.
pub struct TestDb {
    pub url: String,
    pg_name: Option<(String, String)>, // (admin url, database name)
    _dir: Option<tempfile::TempDir>,
}

pub fn pg_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

fn pg_url_for(admin: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

async fn pg_exec(admin: &str, sql: &str) {
    let db = Database::connect(admin)
        .await
        .expect("connect to TEST_DATABASE_URL");
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    db.close().await.ok();
}

/// Test databases are named after the admin database (`<admin db>_t_<uuid>`), so a CI run that
/// creates its own admin database can drop everything it made by prefix.
fn unique_name(admin: &str, kind: &str) -> String {
    let url = url::Url::parse(admin).expect("TEST_DATABASE_URL is a URL");
    let base = url.path().trim_start_matches('/');
    let base = if base.is_empty() { "postgres" } else { base };
    format!("{base}_{kind}_{}", uuid::Uuid::new_v4().simple())
}

/// The migrated template database of this test process (PostgreSQL only).
async fn pg_template(admin: &str) -> String {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let name = unique_name(admin, "tpl");
            pg_exec(admin, &format!("CREATE DATABASE {name}")).await;
            let url = pg_url_for(admin, &name);
            let db = ponto_bridge::store::connect(&url, 2)
                .await
                .expect("connect template");
            ponto_bridge::store::migrate(&db, &url)
                .await
                .expect("migrate template");
            db.close().await.ok();
            name
        })
        .await
        .clone()
}

impl TestDb {
    /// A migrated database.
    pub async fn fresh() -> Self {
        match pg_admin_url() {
            Some(admin) => {
                let template = pg_template(&admin).await;
                let name = unique_name(&admin, "t");
                pg_exec(
                    &admin,
                    &format!("CREATE DATABASE {name} TEMPLATE {template}"),
                )
                .await;
                Self {
                    url: pg_url_for(&admin, &name),
                    pg_name: Some((admin, name)),
                    _dir: None,
                }
            }
            None => Self::sqlite(),
        }
    }

    /// An empty database (no migrations applied).
    pub async fn empty() -> Self {
        match pg_admin_url() {
            Some(admin) => {
                let name = unique_name(&admin, "t");
                pg_exec(&admin, &format!("CREATE DATABASE {name}")).await;
                Self {
                    url: pg_url_for(&admin, &name),
                    pg_name: Some((admin, name)),
                    _dir: None,
                }
            }
            None => Self::sqlite(),
        }
    }

    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        Self {
            url,
            pg_name: None,
            _dir: Some(dir),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_name.take() {
            // Drop runs outside async; use a private runtime on a helper thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(db) = Database::connect(&admin).await {
                        let _ = db
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        db.close().await.ok();
                    }
                });
            })
            .join();
        }
    }
}

/// A running server and handles on its insides.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub clock: ManualClock,
    pub auth: Arc<Authenticator>,
    pub connect: ponto_bridge::connect::Connect,
    pub syncer: ponto_bridge::sync::Syncer,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _data_dir: tempfile::TempDir,
}

/// Server flags for a test: the defaults plus port 0 and the given database (`spawn_with`
/// gives each server its own data directory).
pub fn serve_settings(db_url: &str, extra: &[&str]) -> ServeSettings {
    let mut args = vec![
        "ponto-bridge".to_owned(),
        "--bind".into(),
        "127.0.0.1:0".into(),
        "--database-url".into(),
        db_url.to_owned(),
        "--jwt-hs256-secret".into(),
        TEST_SECRET.into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Args::try_parse_from(args)
        .expect("test settings parse")
        .serve
}

pub async fn spawn_app() -> (TestApp, TestDb) {
    let db = TestDb::fresh().await;
    let app = spawn_app_on(&db, &[]).await;
    (app, db)
}

/// Starts a server on an existing test database with extra flags.
pub async fn spawn_app_on(db: &TestDb, extra: &[&str]) -> TestApp {
    spawn_with(serve_settings(&db.url, extra)).await
}

pub async fn spawn_with(settings: ServeSettings) -> TestApp {
    spawn_with_clock(settings, ManualClock::new(clock_start())).await
}

/// Starts a server with a given clock (shared with a sandbox, say).
pub async fn spawn_with_clock(mut settings: ServeSettings, clock: ManualClock) -> TestApp {
    init_tracing();
    let data_dir = tempfile::tempdir().expect("temp dir");
    settings.settings.data_dir = data_dir.path().to_path_buf();
    let app = App::build(&settings, Arc::new(clock.clone()))
        .await
        .expect("app builds");
    let addr = app.local_addr();
    let store = app.store().clone();
    let auth = app.authenticator();
    let connect = app.connect().clone();
    let syncer = app.syncer().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        store,
        clock,
        auth,
        connect,
        syncer,
        shutdown: Some(tx),
        _data_dir: data_dir,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The body of a GET, as text.
pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

impl TestApp {
    /// `GET /metrics`.
    pub async fn metrics(&self) -> String {
        get_text(&self.client, &format!("{}/metrics", self.base)).await
    }

    /// A token for `org` with `scopes`, valid for [`TOKEN_TTL_SECS`] on the app's clock (long
    /// enough for tests that move the clock by weeks).
    pub fn token(&self, org: &str, scopes: &[Scope]) -> String {
        self.auth
            .mint_hs256(org, scopes, "tester", TOKEN_TTL_SECS)
            .expect("mint token")
    }

    pub fn full_token(&self, org: &str) -> String {
        self.token(org, &Scope::ALL)
    }

    /// POSTs a GraphQL request; returns the HTTP status and the JSON body.
    pub async fn gql_raw(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({
                "query": query,
                "variables": variables,
            }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.expect("JSON body");
        (status, body)
    }

    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        self.gql_raw(Some(token), query, variables).await.1
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent")
    }
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// Waits for `cond` to hold, polling; panics with `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
