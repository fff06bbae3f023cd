//! Outbound deliveries through a real receiver on loopback, on the test clock: Standard
//! Webhooks headers whose signature the reference libraries compute the same (and, on the real
//! clock, their own `verify` accepts), the same
//! `webhook-id` on every retry, the retry schedule and `Retry-After` honoured, redirects
//! recorded as failures and never followed, 410 disabling the endpoint with its event, and a
//! dead endpoint never holding up another's deliveries.

use crate::support::{Receiver, TestApp, wait_until};
use chrono::Duration;
use ponto_bridge::clock::Clock;
use ponto_bridge::domain::event::Event;
use ponto_bridge::domain::ids::{EventId, OrganizationId};
use serde_json::{Value, json};
use std::time::Duration as Wait;

pub(crate) async fn app(extra: &[&str]) -> TestApp {
    builder(extra).start().await
}

/// A server allowed to deliver to loopback receivers over plain HTTP, plus `extra` flags.
fn builder(extra: &[&str]) -> crate::support::app::AppBuilder {
    let mut flags = vec![
        "--webhook-allowed-targets",
        "127.0.0.1/32",
        "--webhook-allow-http",
        "true",
        "--scheduler-poll-ms",
        "50",
    ];
    flags.extend_from_slice(extra);
    TestApp::builder().flags(&flags)
}

/// Creates an endpoint for `url`; its id and secret.
pub(crate) async fn endpoint(app: &TestApp, url: &str) -> (String, String) {
    let m = "mutation($u: String!) { createWebhookEndpoint(input: {url: $u}) { endpoint { id } secret userErrors { code } } }";
    let d = app
        .gql_data(&app.full_token("acme"), m, json!({"u": url}))
        .await["createWebhookEndpoint"]
        .take();
    assert_eq!(d["userErrors"], json!([]), "{d}");
    (
        d["endpoint"]["id"].as_str().unwrap().to_owned(),
        d["secret"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn announce(app: &TestApp, org: OrganizationId, reason: &str) -> EventId {
    append(
        app,
        org,
        &crate::support::catalogue::broken_connection(reason),
    )
    .await
}

/// Commits `e` to `org`'s event log as the service writes events.
pub(crate) async fn append(app: &TestApp, org: OrganizationId, e: &Event) -> EventId {
    let mut tx = app.store.begin_write().await.unwrap();
    let appended = tx.append_event(org, e, None).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    appended.id
}

/// Whether `tests/python/check_signature.py` (the official `standardwebhooks` package)
/// accepts the delivery's signature for `secret`, recomputed over what arrived.
fn python_accepts(secret: &str, r: &crate::support::Received) -> bool {
    python_checks(secret, r, false)
}

/// The same through the package's own `verify`, timestamp window on this machine's clock
/// included: for deliveries made on the real clock.
fn python_verifies(secret: &str, r: &crate::support::Received) -> bool {
    python_checks(secret, r, true)
}

fn python_checks(secret: &str, r: &crate::support::Received, verify: bool) -> bool {
    use base64::Engine;
    let arg = json!({
        "verify": verify,
        "secret": secret,
        "id": header(r, "webhook-id"),
        "timestamp": header(r, "webhook-timestamp"),
        "signature": header(r, "webhook-signature"),
        "body_b64": base64::engine::general_purpose::STANDARD.encode(&r.body),
    });
    let out = crate::support::child::output_within(
        std::process::Command::new(repo_path!("tests/python/.venv/bin/python"))
            .arg(repo_path!("tests/python/check_signature.py"))
            .arg(arg.to_string()),
    );
    let ok = out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok";
    if !ok {
        eprintln!(
            "the Python checker: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    ok
}

pub(crate) fn header(r: &crate::support::Received, name: &str) -> String {
    r.headers[name].to_str().unwrap().to_owned()
}

/// Nothing more arrives for a while (the next attempt waits for its time).
async fn stays_at(rx: &Receiver, n: usize) {
    tokio::time::sleep(Wait::from_millis(400)).await;
    assert_eq!(rx.received().len(), n, "an attempt came before its time");
}

/// Waits until `n` attempts of the event's deliveries are on record: the clock moves only then
/// (a claim moved past its lease before its outcome is recorded would be sent again).
async fn recorded(app: &TestApp, org: OrganizationId, event: EventId, n: usize) {
    wait_until(Wait::from_secs(10), "the attempts on record", || async {
        let got: usize = statuses(app, org, event)
            .await
            .iter()
            .map(|(_, a)| a.len())
            .sum();
        if got >= n {
            Ok(())
        } else {
            Err(format!("{got} of {n}"))
        }
    })
    .await;
}

async fn statuses(
    app: &TestApp,
    org: OrganizationId,
    event: EventId,
) -> Vec<(String, Vec<Option<i32>>)> {
    let mut out = Vec::new();
    for d in app.store.deliveries_of_event(org, event).await.unwrap() {
        let attempts = app.store.attempts_of(org, d.id).await.unwrap();
        let codes = attempts.iter().map(|a| a.response_status).collect();
        out.push((d.status.as_str().to_owned(), codes));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_are_signed_as_standard_webhooks_and_retried_on_the_schedule() {
    let app = app(&[]).await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let rx = Receiver::start().await;
    rx.script(vec![(500, vec![]), (503, vec![])]);
    let (endpoint_id, secret) = endpoint(&app, &rx.url).await;
    let event = announce(&app, org, "first").await;

    let first = rx.wait_for(1).await.remove(0);
    let (id, ts, sig) = (
        header(&first, "webhook-id"),
        header(&first, "webhook-timestamp"),
        header(&first, "webhook-signature"),
    );
    assert_eq!(id, event.to_string());
    assert_eq!(
        ts,
        app.clock.now().timestamp().to_string(),
        "signed at the app's time"
    );
    assert_eq!(header(&first, "content-type"), "application/json");
    // The body is the event as the log holds it.
    let logged = app.store.events_after(org, 0, 10).await.unwrap();
    assert_eq!(first.body, logged[0].payload.as_bytes());
    // The reference library computes the same signature over what arrived; one changed bit of
    // the body does not.
    let wh = standardwebhooks::Webhook::new(&secret).unwrap();
    let ts: i64 = ts.parse().unwrap();
    assert_eq!(wh.sign(&id, ts, &first.body).unwrap(), sig);
    let mut forged = first.body.to_vec();
    forged[10] ^= 1;
    assert_ne!(wh.sign(&id, ts, &forged).unwrap(), sig);
    // And so does the official Python package (with its own changed-bit check); not for
    // another secret.
    assert!(python_accepts(&secret, &first));
    assert!(!python_accepts(
        "whsec_c29tZSBvdGhlciBzZWNyZXQgb2YgMzIgYnl0ZXMh",
        &first
    ));

    // Retries: 5 s (±10%) after the first, 5 min after the second; never before.
    recorded(&app, org, event, 1).await;
    stays_at(&rx, 1).await;
    app.clock.advance(Duration::seconds(6));
    rx.wait_for(2).await;
    recorded(&app, org, event, 2).await;
    app.clock.advance(Duration::seconds(60));
    stays_at(&rx, 2).await;
    app.clock.advance(Duration::seconds(280));
    let all = rx.wait_for(3).await;
    for r in &all {
        assert_eq!(header(r, "webhook-id"), id, "the same id on every attempt");
    }
    wait_until(Wait::from_secs(10), "the success recorded", || async {
        let s = statuses(&app, org, event).await;
        if s == [(
            "SUCCEEDED".to_owned(),
            vec![Some(500), Some(503), Some(200)],
        )] {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    stays_at(&rx, 3).await;

    // A rotation: the next delivery carries both signatures, one per secret, until the overlap
    // ends; each library accepts it with either secret.
    let m = "mutation($id: ID!) { rotateWebhookSecret(input: {id: $id}) { secret } }";
    let d = app
        .gql_data(&app.full_token("acme"), m, json!({"id": endpoint_id}))
        .await;
    let new = d["rotateWebhookSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = announce(&app, org, "rotated").await;
    let r = rx.wait_for(4).await.remove(3);
    recorded(&app, org, rotated, 1).await;
    let sigs = header(&r, "webhook-signature");
    assert_eq!(sigs.split(' ').count(), 2, "{sigs}");
    let (id, ts) = (
        header(&r, "webhook-id"),
        header(&r, "webhook-timestamp").parse().unwrap(),
    );
    for s in [&secret, &new] {
        let theirs = standardwebhooks::Webhook::new(s)
            .unwrap()
            .sign(&id, ts, &r.body)
            .unwrap();
        assert!(sigs.split(' ').any(|x| x == theirs), "{s:.10}…");
        assert!(python_accepts(s, &r));
    }
    // After the overlap (24 h), only the new one signs.
    app.clock.advance(Duration::hours(25));
    announce(&app, org, "later").await;
    let r = rx.wait_for(5).await.remove(4);
    assert_eq!(header(&r, "webhook-signature").split(' ').count(), 1);
    assert!(python_accepts(&new, &r));
    assert!(
        !python_accepts(&secret, &r),
        "the old secret no longer signs"
    );
}

/// On the real clock, each official library's own `verify` — the timestamp window against
/// this machine's clock included — accepts a delivery, and rejects a changed bit or another
/// secret. Positive control: once the app's clock is ten minutes off, `verify` refuses what
/// the recomputed signature still accepts, so the window really is checked.
#[tokio::test(flavor = "multi_thread")]
async fn real_clock_deliveries_pass_each_librarys_verify() {
    use chrono::SubsecRound;
    let now = chrono::Utc::now().trunc_subsecs(0);
    let app = builder(&[])
        .clock(ponto_bridge::clock::ManualClock::new(now))
        .start()
        .await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let rx = Receiver::start().await;
    let (_, secret) = endpoint(&app, &rx.url).await;
    announce(&app, org, "now").await;
    let r = rx.wait_for(1).await.remove(0);

    let wh = standardwebhooks::Webhook::new(&secret).unwrap();
    wh.verify(&r.body, &r.headers).unwrap();
    let mut forged = r.body.to_vec();
    forged[10] ^= 1;
    assert!(wh.verify(&forged, &r.headers).is_err());
    let other = "whsec_c29tZSBvdGhlciBzZWNyZXQgb2YgMzIgYnl0ZXMh";
    assert!(
        standardwebhooks::Webhook::new(other)
            .unwrap()
            .verify(&r.body, &r.headers)
            .is_err()
    );
    assert!(python_verifies(&secret, &r));
    assert!(!python_verifies(other, &r));

    app.clock.advance(Duration::minutes(10));
    announce(&app, org, "ten minutes off").await;
    let late = rx.wait_for(2).await.remove(1);
    assert!(python_accepts(&secret, &late), "signed right");
    assert!(!python_verifies(&secret, &late), "but outside the window");
    assert!(wh.verify(&late.body, &late.headers).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_fail_retry_after_holds_and_410_disables_the_endpoint() {
    let app = app(&[]).await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let (rx, elsewhere) = (Receiver::start().await, Receiver::start().await);
    rx.script(vec![
        (503, vec![("retry-after", "120".to_owned())]),
        (307, vec![("location", elsewhere.url.clone())]),
        (410, vec![]),
    ]);
    let (id, _) = endpoint(&app, &rx.url).await;
    let event = announce(&app, org, "x").await;
    rx.wait_for(1).await;
    recorded(&app, org, event, 1).await;
    // Retry-After 120 s outweighs the schedule's 5 s.
    app.clock.advance(Duration::seconds(6));
    stays_at(&rx, 1).await;
    app.clock.advance(Duration::seconds(120));
    rx.wait_for(2).await;
    recorded(&app, org, event, 2).await;
    // The redirect is a failure, never followed; the schedule's 5 minutes (±10%) follow it.
    app.clock.advance(Duration::seconds(340));
    rx.wait_for(3).await;
    assert!(elsewhere.received().is_empty());
    wait_until(Wait::from_secs(10), "410 disables the endpoint", || async {
        let q = "query($id: ID!) { webhookEndpoint(id: $id) { status disabledReason } }";
        let d = app
            .gql_data(&app.full_token("acme"), q, json!({"id": id}))
            .await;
        if d["webhookEndpoint"]["status"] == "DISABLED" {
            Ok(d)
        } else {
            Err(d.to_string())
        }
    })
    .await;
    assert_eq!(
        statuses(&app, org, event).await,
        [("FAILED".to_owned(), vec![Some(503), Some(307), Some(410)])]
    );
    let q = "{ events(types: [\"webhook_endpoint.disabled\"]) { edges { node { data } } } }";
    let d = app.gql_data(&app.full_token("acme"), q, json!({})).await;
    let data: &Value = &d["events"]["edges"][0]["node"]["data"];
    assert!(data["reason"].as_str().unwrap().contains("410"), "{d}");
    assert_eq!(
        data["origin"],
        rx.url.trim_end_matches("/hook"),
        "the origin, not the URL"
    );
    assert!(elsewhere.received().is_empty());
    // Disabled: the next event is not sent to it.
    announce(&app, org, "after").await;
    stays_at(&rx, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_that_never_answers_does_not_hold_up_another() {
    // Two attempts in flight, one per endpoint. Without the per-endpoint bound the dead
    // endpoint's attempts would take both (each held 5 s) and the live one would wait for them.
    let app = app(&[
        "--webhook-timeout-secs",
        "10",
        "--webhook-concurrency",
        "2",
        "--webhook-per-endpoint",
        "1",
    ])
    .await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let (dead, alive) = (Receiver::start().await, Receiver::start().await);
    dead.hang_next(100);
    // The dead endpoint's deliveries are due first, so an unbounded worker would give it both.
    endpoint(&app, &dead.url).await;
    for i in 0..6 {
        announce(&app, org, &format!("d{i}")).await;
    }
    endpoint(&app, &alive.url).await;
    app.clock.advance(Duration::seconds(1));
    for i in 0..6 {
        announce(&app, org, &format!("e{i}")).await;
    }
    // All six reach the live endpoint while the dead one still holds its first attempt (it
    // answers, and is logged, only after 5 s).
    alive.wait_for(6).await;
    assert!(
        dead.received().is_empty(),
        "the live endpoint waited for the dead one"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_of_five_per_second_is_held() {
    let app = app(&[]).await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let rx = Receiver::start().await;
    let m = "mutation($u: String!) { createWebhookEndpoint(input: {url: $u, rateLimitPerSecond: 5}) { userErrors { code } } }";
    let d = app
        .gql_data(&app.full_token("acme"), m, json!({"u": rx.url}))
        .await;
    assert_eq!(d["createWebhookEndpoint"]["userErrors"], json!([]));
    for i in 0..12 {
        announce(&app, org, &format!("r{i}")).await;
    }
    let got = rx.wait_for(12).await;
    // Any six consecutive arrivals span a second (less a margin for loopback jitter); without
    // the limit all twelve arrive within milliseconds.
    for w in got.windows(6) {
        let span = w[5].at.duration_since(w[0].at);
        assert!(
            span >= Wait::from_millis(800),
            "six attempts within {span:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_failing_too_long_is_disabled_and_its_delivery_waits_for_a_re_enable() {
    let app = app(&["--webhook-disable-after-hours", "1"]).await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let rx = Receiver::start().await;
    rx.fail_next(2);
    let (id, _) = endpoint(&app, &rx.url).await;
    let event = announce(&app, org, "x").await;
    rx.wait_for(1).await;
    recorded(&app, org, event, 1).await;
    // Failing for less than the hour: still enabled, retried.
    let q = "query($id: ID!) { webhookEndpoint(id: $id) { status disabledReason } }";
    let admin = app.full_token("acme");
    assert_eq!(
        app.gql_data(&admin, q, json!({"id": id})).await["webhookEndpoint"]["status"],
        "ENABLED"
    );
    // Two hours on, the retry fails again: disabled, announced, the delivery kept pending.
    app.clock.advance(Duration::hours(2));
    rx.wait_for(2).await;
    recorded(&app, org, event, 2).await;
    let d = app.gql_data(&admin, q, json!({"id": id})).await;
    assert_eq!(d["webhookEndpoint"]["status"], "DISABLED", "{d}");
    assert!(
        d["webhookEndpoint"]["disabledReason"]
            .as_str()
            .unwrap()
            .starts_with("failing since"),
        "{d}"
    );
    let e = "{ events(types: [\"webhook_endpoint.disabled\"]) { edges { node { type } } } }";
    let got = app.gql_data(&admin, e, json!({})).await;
    assert_eq!(got["events"]["edges"].as_array().unwrap().len(), 1, "{got}");
    assert_eq!(statuses(&app, org, event).await[0].0, "PENDING");
    // Nothing is sent while disabled, whatever the clock says.
    app.clock.advance(Duration::minutes(10));
    stays_at(&rx, 2).await;
    // Enabled again: the waiting delivery goes out and succeeds.
    let m = "mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, enabled: true}) { userErrors { code } } }";
    app.gql_data(&admin, m, json!({"id": id})).await;
    rx.wait_for(3).await;
    recorded(&app, org, event, 3).await;
    assert_eq!(statuses(&app, org, event).await[0].0, "SUCCEEDED");
}
