//! The real binary killed with SIGKILL while it sends thousands of webhook deliveries
//! (`PB_TEST_CRASH_DELIVERIES`, default 5,000: events × four endpoints), then started again on
//! the same database: every delivery arrives (0 lost), and the only repeats are the attempts
//! that were in flight when it died — never more than the configured worker concurrency.

use crate::support::catalogue::broken_connection;
use crate::support::served;
use crate::support::{Receiver, TestDb, gql_at, wait_until};
use ponto_bridge::clock::SystemClock;
use ponto_bridge::store::Store;
use serde_json::json;
use std::collections::HashMap;
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

const ENDPOINTS: usize = 4;
/// Attempts in flight at once, in all: the most a crash may repeat.
const CONCURRENCY: usize = 8;

fn serve(db: &str, data: &std::path::Path, port: u16) -> (Child, String) {
    served::serve(
        db,
        data,
        port,
        &[
            "--webhook-allowed-targets",
            "127.0.0.1/32",
            "--webhook-allow-http",
            "true",
            "--webhook-concurrency",
            &CONCURRENCY.to_string(),
            "--webhook-per-endpoint",
            "2",
            // A short timeout makes a short claim: the dead worker's claims run out soon.
            "--webhook-timeout-secs",
            "2",
            "--scheduler-poll-ms",
            "50",
        ],
    )
}

/// Deliveries received so far, by (receiver, webhook-id).
fn tally(receivers: &[Receiver]) -> HashMap<(usize, String), usize> {
    let mut out = HashMap::new();
    for (i, rx) in receivers.iter().enumerate() {
        for r in rx.received() {
            let id = r.headers["webhook-id"].to_str().unwrap().to_owned();
            *out.entry((i, id)).or_default() += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_delivery_and_restarted_nothing_is_lost_and_few_repeat() {
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    crate::support::init_tracing();
    let deliveries: usize = std::env::var("PB_TEST_CRASH_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let events = deliveries.div_ceil(ENDPOINTS);
    let db = TestDb::fresh().await;
    let data = tempfile::tempdir().unwrap();
    let (mut child, base) = serve(&db.url, data.path(), 0);
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    let token = served::token(data.path(), "acme");
    let graphql = format!("{base}/graphql");

    let mut receivers = Vec::new();
    for _ in 0..ENDPOINTS {
        let rx = Receiver::start().await;
        let m = "mutation($u: String!) { createWebhookEndpoint(input: {url: $u}) { endpoint { id } userErrors { code } } }";
        let d = gql_at(&graphql, &token, m, json!({"u": rx.url})).await;
        assert_eq!(d["createWebhookEndpoint"]["userErrors"], json!([]), "{d}");
        receivers.push(rx);
    }

    // The events, logged as the service logs them, through our own connection.
    let conn = ponto_bridge::store::connect(&db.url, 2).await.unwrap();
    let store = Store::new(conn, ponto_bridge::bus::Bus::new(), Arc::new(SystemClock));
    let org = store.ensure_organization("acme").await.unwrap();
    for chunk in (0..events).collect::<Vec<_>>().chunks(500) {
        let batch = chunk
            .iter()
            .map(|i| (broken_connection(&format!("crash {i}")), None))
            .collect();
        let mut tx = store.begin_write().await.unwrap();
        tx.append_events(org, batch).await.unwrap();
        tx.commit().await.unwrap();
    }
    let total = events * ENDPOINTS;

    wait_until(Duration::from_secs(120), "some deliveries made", || async {
        tally(&receivers).len() >= total / 10
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = tally(&receivers).len();
    assert!(at_kill < total, "killed mid-way: {at_kill} of {total}");

    let (mut child, _) = serve(&db.url, data.path(), port);
    wait_until(Duration::from_secs(300), "every delivery made", || async {
        let pending = store.delivery_backlog().await.unwrap().pending;
        let got = tally(&receivers).len();
        (pending == 0 && got == total)
            .then_some(())
            .ok_or_else(|| format!("{got} of {total} received, {pending} pending"))
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();

    let counts = tally(&receivers);
    assert_eq!(counts.len(), total, "0 lost");
    let repeats: usize = counts.values().map(|n| n - 1).sum();
    eprintln!("{total} deliveries, killed after {at_kill}, {repeats} sent twice");
    assert!(
        repeats <= CONCURRENCY,
        "{repeats} repeats, more than the {CONCURRENCY} attempts that can be in flight"
    );
}
