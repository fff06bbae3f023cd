//! A running server for one test, started by the one builder ([`TestApp::builder`]) on
//! `127.0.0.1:0`, and the ways a test talks to it (GraphQL, plain GETs, minted tokens).

use super::db::TestDb;
use super::time::clock_start;
use clap::Parser;
use ponto_bridge::app::App;
use ponto_bridge::auth::Authenticator;
use ponto_bridge::clock::ManualClock;
use ponto_bridge::config::ServeSettings;
use ponto_bridge::domain::scope::Scope;
use ponto_bridge::store::Store;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Once};
use std::time::Duration;

pub const TOKEN_TTL_SECS: i64 = 60 * 86_400;
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
        // A second subscriber (another harness in the process) is not an error worth failing on.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init()
            .ok();
    });
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
    pub puller: ponto_bridge::pull::Puller,
    /// The database this server runs on, shared with every instance started on it. The server
    /// task holds it too, so it is dropped only after the last server using it has stopped.
    pub db: Arc<TestDb>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _data_dir: tempfile::TempDir,
}

type Adjust = Box<dyn FnOnce(&mut ServeSettings)>;

/// How a test server starts: on a fresh migrated database and its own clock unless told
/// otherwise, with the default flags plus port 0, the test secret and any given.
#[derive(Default)]
pub struct AppBuilder {
    db: Option<Arc<TestDb>>,
    pub(super) clock: Option<ManualClock>,
    pub(super) flags: Vec<String>,
    adjust: Option<Adjust>,
}

impl AppBuilder {
    /// Runs on this database (another instance's, or one prepared by the test).
    pub fn db(mut self, db: impl Into<Arc<TestDb>>) -> Self {
        self.db = Some(db.into());
        self
    }

    /// Runs on this clock (shared with a sandbox or another instance).
    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Adds command-line flags.
    pub fn flags<S: AsRef<str>>(mut self, flags: &[S]) -> Self {
        self.flags
            .extend(flags.iter().map(|f| f.as_ref().to_owned()));
        self
    }

    /// Changes the parsed settings where no flag can (removing a default, say).
    pub fn adjust(mut self, f: impl FnOnce(&mut ServeSettings) + 'static) -> Self {
        self.adjust = Some(Box::new(f));
        self
    }

    /// Starts the server; panics when it does not build.
    pub async fn start(self) -> TestApp {
        match self.try_start().await {
            Ok(app) => app,
            Err(e) => panic!("app builds: {e}"),
        }
    }

    /// Starts the server, or the public message of why it refused to.
    pub async fn try_start(self) -> Result<TestApp, String> {
        init_tracing();
        let db = match self.db {
            Some(db) => db,
            None => Arc::new(TestDb::fresh().await),
        };
        let clock = self
            .clock
            .unwrap_or_else(|| ManualClock::new(clock_start()));
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut args = vec![
            "ponto-bridge".to_owned(),
            "--bind".into(),
            "127.0.0.1:0".into(),
            "--database-url".into(),
            db.url.clone(),
            "--jwt-hs256-secret".into(),
            TEST_SECRET.into(),
        ];
        args.extend(self.flags);
        let mut settings = Args::try_parse_from(args)
            .expect("test settings parse")
            .serve;
        settings.settings.data_dir = data_dir.path().to_path_buf();
        if let Some(adjust) = self.adjust {
            adjust(&mut settings);
        }
        let app = App::build(&settings, Arc::new(clock.clone()))
            .await
            .map_err(|e| e.public_message())?;
        let addr = app.local_addr();
        let (store, auth) = (app.store().clone(), app.authenticator());
        let (connect, puller) = (app.connect().clone(), app.puller().clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let held = db.clone();
        let server = tokio::spawn(async move {
            // A dropped sender is a shutdown signal too.
            if let Err(e) = app.run(async move { rx.await.unwrap_or_default() }).await {
                eprintln!("test server at {addr} stopped: {e}");
            }
            drop(held);
        });
        Ok(TestApp {
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
            puller,
            db,
            shutdown: Some(tx),
            server: Some(server),
            _data_dir: data_dir,
        })
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Dropping the sender is the signal; the server task keeps the database until it ends.
        self.shutdown.take();
    }
}

/// The body of a GET, as text.
pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

impl TestApp {
    pub fn builder() -> AppBuilder {
        AppBuilder::default()
    }

    /// A server with the defaults on a fresh database.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// Shuts the server down as a signal would, and returns once it has stopped (its grace
    /// period, background work and pool included).
    pub async fn stop(mut self) {
        self.shutdown.take();
        if let Some(server) = self.server.take() {
            server.await.expect("the server task ends");
        }
    }

    /// `GET /metrics`.
    pub async fn metrics(&self) -> String {
        get_text(&self.client, &format!("{}/metrics", self.base)).await
    }

    /// One unlabelled metric's value (a counter's name ends in `_total`); fails when absent.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
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

    /// The whole GraphQL answer, `errors` included: for tests about refusals.
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        self.gql_raw(Some(token), query, variables).await.1
    }

    /// The `data` of a GraphQL answer that must have succeeded; fails the test with the
    /// `errors` array and the query when it did not.
    pub async fn gql_data(&self, token: &str, query: &str, variables: Value) -> Value {
        data_of(self.gql(token, query, variables).await, query)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent")
    }
}

/// The `data` of a query POSTed to `endpoint` (a server the harness did not start: the binary,
/// `demo`); fails naming the errors when there are any.
pub async fn gql_at(endpoint: &str, token: &str, query: &str, variables: Value) -> Value {
    let body = reqwest::Client::new()
        .post(endpoint)
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("JSON body");
    data_of(body, query)
}

/// The `data` of a GraphQL answer without errors; fails naming the errors otherwise.
fn data_of(mut body: Value, query: &str) -> Value {
    let errors = body.get("errors").filter(|e| !e.is_null());
    assert!(
        errors.is_none() && body["data"].is_object(),
        "GraphQL errors: {}\nquery: {query}",
        serde_json::to_string_pretty(errors.unwrap_or(&body)).unwrap_or_default()
    );
    body["data"].take()
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}
