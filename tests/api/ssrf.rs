//! The SSRF guard from outside: with nothing allow-listed, every non-public target — however its
//! address is spelled, or a name resolving to one — is refused at creation; a name that turns
//! to loopback after creation (DNS rebinding) is refused at delivery with its attempt recorded
//! as `TARGET_NOT_ALLOWED`; a proxy from the environment is never used. Traffic only ever goes
//! to the test's own loopback receivers.

use crate::outbound_delivery::announce;
use crate::support::{Receiver, TEST_SECRET, TestApp, TestDb, gql_at, wait_until};
use ponto_bridge::outbound::guard::{HostLookup, Lookup};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CREATE: &str = "mutation($u: String!) { createWebhookEndpoint(input: {url: $u}) { endpoint { id } userErrors { code message } } }";

/// A resolver the test plays: names answer what it was last told.
#[derive(Clone, Default)]
pub(crate) struct Names(Arc<Mutex<HashMap<String, Vec<IpAddr>>>>);

impl Names {
    pub(crate) fn set(&self, name: &str, addr: &str) {
        self.0
            .lock()
            .unwrap()
            .insert(name.to_owned(), vec![addr.parse().unwrap()]);
    }
}

impl Lookup for Names {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let got = self
            .0
            .lock()
            .unwrap()
            .get(host)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"));
        Box::pin(async move { got })
    }
}

/// A server over plain http (the receivers are), allow-listing `allowed`, resolving with `names`.
async fn guarded(allowed: &str, names: &Names) -> TestApp {
    let lookup = HostLookup::new(names.clone());
    TestApp::builder()
        .flags(&[
            "--webhook-allowed-targets",
            allowed,
            "--webhook-allow-http",
            "true",
            "--scheduler-poll-ms",
            "50",
        ])
        .adjust(move |s| s.webhook_lookup = lookup)
        .start()
        .await
}

pub(crate) async fn create(app: &TestApp, url: &str) -> Value {
    app.gql_data(&app.full_token("acme"), CREATE, json!({"u": url}))
        .await["createWebhookEndpoint"]
        .take()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_non_public_target_is_refused_at_creation() {
    let names = Names::default();
    names.set("loopback.test", "127.0.0.1");
    names.set("metadata.test", "169.254.169.254");
    names.set("public.test", "93.184.215.14");
    let app = guarded("", &names).await;
    let rx = Receiver::start().await;
    let port = reqwest::Url::parse(&rx.url).unwrap().port().unwrap();
    for host in [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f.1",
        "0177.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::127.0.0.1]",
        "[64:ff9b::7f00:1]",
        "[2002:7f00:1::]",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.0.1",
        "100.64.0.1",
        "169.254.169.254",
        "[fe80::1]",
        "[fc00::1]",
        "0.0.0.0",
        "[::]",
        "224.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        // Names: the system's loopback name, and the test resolver's.
        "localhost",
        "loopback.test",
        "metadata.test",
    ] {
        let url = format!("http://{host}:{port}/hook");
        let d = create(&app, &url).await;
        assert_eq!(
            d["userErrors"][0]["code"], "TARGET_NOT_ALLOWED",
            "{url}: {d}"
        );
        assert!(d["endpoint"].is_null());
    }
    let listed = "{ webhookEndpoints { id } }";
    let none = app
        .gql_data(&app.full_token("acme"), listed, json!({}))
        .await;
    assert_eq!(none["webhookEndpoints"], json!([]));
    // An event now has nowhere to go: no delivery, nothing at the receiver.
    let org = app.store.ensure_organization("acme").await.unwrap();
    let event = announce(&app, org, "after the refusals").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.received().is_empty(), "nothing reached the receiver");
    let deliveries = app.store.deliveries_of_event(org, event).await.unwrap();
    assert!(deliveries.is_empty());
    // Positive controls: a public address and a name resolving to one are accepted, as is a
    // name that does not resolve yet (no event follows: tests never send beyond loopback).
    for url in [
        "https://93.184.215.14/hook",
        "https://public.test/hook",
        "https://not-yet.test/hook",
    ] {
        let d = create(&app, url).await;
        assert_eq!(d["userErrors"], json!([]), "{url}: {d}");
    }
}

/// An endpoint made while its loopback address was allow-listed, delivered by an instance
/// whose list no longer has it: the literal address is judged again at delivery, the attempt
/// recorded as `TARGET_NOT_ALLOWED`, the receiver left alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_literal_address_no_longer_listed_is_refused_at_delivery() {
    let names = Names::default();
    let listed = guarded("127.0.0.1/32", &names).await;
    let rx = Receiver::start().await;
    let d = create(&listed, &rx.url).await;
    assert_eq!(d["userErrors"], json!([]), "{d}");
    let id = d["endpoint"]["id"].clone();
    let db = listed.db.clone();
    listed.stop().await;

    let lookup = HostLookup::new(names.clone());
    let unlisted = TestApp::builder()
        .db(db)
        .flags(&["--webhook-allow-http", "true", "--scheduler-poll-ms", "50"])
        .adjust(move |s| s.webhook_lookup = lookup)
        .start()
        .await;
    let org = unlisted.store.ensure_organization("acme").await.unwrap();
    announce(&unlisted, org, "unlisted").await;
    attempts(&unlisted, &id).await;
    let d = unlisted
        .gql_data(&unlisted.full_token("acme"), ATTEMPTS, json!({"id": id}))
        .await;
    let node = &d["webhookEndpoint"]["deliveries"]["edges"][0]["node"];
    assert_eq!(
        node["attempts"][0]["errorCode"], "TARGET_NOT_ALLOWED",
        "{d}"
    );
    assert_eq!(node["status"], "PENDING");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.received().is_empty(), "the receiver got nothing");
}

pub(crate) const ATTEMPTS: &str = "query($id: ID!) { webhookEndpoint(id: $id) {
    deliveries(first: 5) { edges { node { status nextAttemptAt attempts { errorCode error responseStatus } } } }
    health { failuresLast24Hours } } }";

/// The first delivery's attempts, once there is one.
pub(crate) async fn attempts(app: &TestApp, id: &Value) -> Value {
    wait_until(Duration::from_secs(10), "an attempt on record", || async {
        let d = app
            .gql_data(&app.full_token("acme"), ATTEMPTS, json!({"id": id}))
            .await;
        let node = d["webhookEndpoint"]["deliveries"]["edges"][0]["node"].clone();
        if node["attempts"].as_array().is_some_and(|a| !a.is_empty()) {
            Ok(d)
        } else {
            Err(d.to_string())
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_turning_to_loopback_after_creation_is_refused_at_delivery() {
    let names = Names::default();
    names.set("hooks.rebind.test", "93.184.215.14");
    let app = guarded("", &names).await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let rx = Receiver::start().await;
    let port = reqwest::Url::parse(&rx.url).unwrap().port().unwrap();
    let url = format!("http://hooks.rebind.test:{port}/hook");
    let d = create(&app, &url).await;
    assert_eq!(d["userErrors"], json!([]), "public at creation: {d}");
    let id = d["endpoint"]["id"].clone();

    names.set("hooks.rebind.test", "127.0.0.1");
    announce(&app, org, "rebound").await;
    attempts(&app, &id).await;
    // Read again once it is on record: one query's fields are read at slightly different times.
    let d = app
        .gql_data(&app.full_token("acme"), ATTEMPTS, json!({"id": id}))
        .await;
    let node = &d["webhookEndpoint"]["deliveries"]["edges"][0]["node"];
    assert_eq!(
        node["attempts"][0]["errorCode"], "TARGET_NOT_ALLOWED",
        "{d}"
    );
    assert!(node["attempts"][0]["responseStatus"].is_null());
    let why = node["attempts"][0]["error"].as_str().unwrap();
    assert!(why.contains("127.0.0.1"), "{why}");
    // A failure like any other: retried later, counted against the endpoint.
    assert_eq!(node["status"], "PENDING");
    assert!(node["nextAttemptAt"].is_string());
    assert_eq!(d["webhookEndpoint"]["health"]["failuresLast24Hours"], 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.received().is_empty(), "the receiver got nothing");

    // Positive control: with the name allow-listed, the very same resolver's answer is where the
    // delivery goes (the system knows no such name), so the guard is what stopped it above.
    let allowed = guarded("hooks.rebind.test", &names).await;
    let org = allowed.store.ensure_organization("acme").await.unwrap();
    let d = create(&allowed, &url).await;
    assert_eq!(d["userErrors"], json!([]), "{d}");
    announce(&allowed, org, "listed").await;
    rx.wait_for(1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_never_go_through_a_proxy_from_the_environment() {
    // The proxy: a loopback listener counting the connections it gets.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = proxy.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });

    let db = TestDb::fresh().await;
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ponto-bridge"));
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--database-url", &db.url])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--jwt-hs256-secret", TEST_SECRET])
        .args(["--webhook-allowed-targets", "127.0.0.1/32"])
        .args(["--webhook-allow-http", "true"])
        .env("RUST_LOG", "error")
        .stderr(Stdio::null());
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        cmd.env(var, &proxy_url).env(var.to_lowercase(), &proxy_url);
    }
    cmd.env_remove("NO_PROXY").env_remove("no_proxy");
    let (mut child, line) = crate::support::child::spawn_first_line(&mut cmd);
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let out = crate::support::child::output_within(
        Command::new(env!("CARGO_BIN_EXE_ponto-bridge"))
            .args(["token", "--org", "acme", "--jwt-hs256-secret", TEST_SECRET])
            .arg("--data-dir")
            .arg(data.path()),
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let graphql = format!("{base}/graphql");
    let rx = Receiver::start().await;
    let d = gql_at(&graphql, &token, CREATE, json!({"u": rx.url})).await;
    let id = d["createWebhookEndpoint"]["endpoint"]["id"].clone();
    assert!(id.is_string(), "{d}");
    let m = "mutation($id: ID!) { sendTestWebhook(input: {id: $id}) { userErrors { code } } }";
    let sent = gql_at(&graphql, &token, m, json!({"id": id})).await;
    assert_eq!(sent["sendTestWebhook"]["userErrors"], json!([]), "{sent}");
    let got = rx.wait_for(1).await;
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["type"], "webhook_endpoint.test");
    child.kill().unwrap();
    child.wait().unwrap();
    let through_proxy = connections.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        through_proxy, 0,
        "the delivery went straight to the receiver"
    );

    // Positive control: a client that does use a proxy reaches this listener.
    let proxied = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(&proxy_url).unwrap())
        .build()
        .unwrap();
    let _ = proxied.post(&rx.url).send().await;
    assert!(connections.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}
