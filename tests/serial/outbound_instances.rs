//! Two instances on one database sending the same deliveries, with a receiver that holds each
//! request 300 ms: no `webhook-id` is ever being sent twice at once, each delivery arrives
//! once, and both instances did part of the work (the race is real).

use crate::support::catalogue::broken_connection;
use crate::support::{Receiver, TEST_KEYS, TestApp, wait_until};
use serde_json::json;
use std::time::Duration;

const ENDPOINTS: usize = 4;
const EVENTS: usize = 40;

const FLAGS: [&str; 8] = [
    // One key ring, as every instance of a deployment has: either opens the other's secrets.
    "--encryption-keys",
    TEST_KEYS,
    "--webhook-allowed-targets",
    "127.0.0.1/32",
    "--webhook-allow-http",
    "true",
    "--scheduler-poll-ms",
    "20",
];

/// Successful attempts an instance counted on its `/metrics`.
async fn successes(app: &TestApp) -> u64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix("webhook_attempts_total{outcome=\"success\"} "))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_never_send_one_webhook_id_twice_at_once() {
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    crate::support::init_tracing();
    let a = TestApp::builder().flags(&FLAGS).start().await;
    let b = TestApp::builder()
        .db(a.db.clone())
        .clock(a.clock.clone())
        .flags(&FLAGS)
        .start()
        .await;
    let admin = a.full_token("acme");
    let mut receivers = Vec::new();
    for _ in 0..ENDPOINTS {
        let rx = Receiver::start().await;
        rx.hold_each(Duration::from_millis(300));
        let m = "mutation($u: String!) { createWebhookEndpoint(input: {url: $u}) { userErrors { code } } }";
        let d = a.gql_data(&admin, m, json!({"u": rx.url})).await;
        assert_eq!(d["createWebhookEndpoint"]["userErrors"], json!([]), "{d}");
        receivers.push(rx);
    }
    let org = a.store.ensure_organization("acme").await.unwrap();
    let events = (0..EVENTS)
        .map(|i| (broken_connection(&format!("race {i}")), None))
        .collect();
    let mut tx = a.store.begin_write().await.unwrap();
    tx.append_events(org, events).await.unwrap();
    tx.commit().await.unwrap();
    // Both instances hear of it (on SQLite the other only by polling).
    let total = EVENTS * ENDPOINTS;
    wait_until(Duration::from_secs(60), "every delivery made", || async {
        let got: usize = receivers.iter().map(|r| r.received().len()).sum();
        let pending = a.store.delivery_backlog().await.unwrap().pending;
        (got >= total && pending == 0)
            .then_some(())
            .ok_or_else(|| format!("{got} of {total}, {pending} pending"))
    })
    .await;

    for rx in &receivers {
        assert_eq!(
            rx.overlaps(),
            Vec::<String>::new(),
            "a webhook-id in flight twice"
        );
        let mut ids: Vec<String> = rx
            .received()
            .iter()
            .map(|r| r.headers["webhook-id"].to_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), EVENTS, "each event once per endpoint");
    }
    let (sa, sb) = (successes(&a).await, successes(&b).await);
    assert_eq!(sa + sb, total as u64, "{sa} + {sb}");
    assert!(sa > 0 && sb > 0, "both instances sent: {sa} and {sb}");
}
