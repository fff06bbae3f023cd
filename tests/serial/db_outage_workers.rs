//! The background workers through a database cut (PostgreSQL, through a TCP proxy): each one's
//! failures are counted but stay few (they back off instead of failing every tick), and work
//! committed meanwhile is done within seconds of the return.

use crate::db_outage::status;
use crate::support::catalogue::broken_connection;
use crate::support::proxy::{Mode, behind_proxy};
use crate::support::{Receiver, TestApp, wait_until};
use ponto_bridge::store::Store;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WORKERS: [&str; 3] = ["scheduler", "inbound", "deliveries"];

/// `background_step_failures_total` per worker (0 while a worker has not failed yet).
async fn failures(app: &TestApp) -> Vec<f64> {
    let text = app.metrics().await;
    WORKERS
        .iter()
        .map(|w| {
            let series = format!("background_step_failures_total{{worker=\"{w}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&series)?.trim().parse().ok())
                .unwrap_or(0.0)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_back_off_through_a_cut_and_resume_within_seconds() {
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    let Some((proxy, db, builder)) = behind_proxy().await else {
        return;
    };
    // Polls every 50 ms, and a claim that cannot get a connection fails within 100 ms (the cut
    // refuses at once): without backing off, each worker fails about 200 times in the 10 s cut.
    let app = builder
        .flags(&[
            "--scheduler-poll-ms",
            "50",
            "--db-acquire-timeout-ms",
            "100",
            "--webhook-allowed-targets",
            "127.0.0.1/32",
            "--webhook-allow-http",
            "true",
        ])
        .start()
        .await;
    let token = app.full_token("acme");
    let rx = Receiver::start().await;
    let m = "mutation($u: String!) { createWebhookEndpoint(input: {url: $u}) { endpoint { id } userErrors { code } } }";
    let d = app.gql_data(&token, m, json!({"u": rx.url})).await;
    assert_eq!(d["createWebhookEndpoint"]["userErrors"], json!([]), "{d}");
    // Our own way to the database, around the proxy: it commits while the service is cut off.
    let direct = Store::new(
        ponto_bridge::store::connect(&db.url, 2).await.unwrap(),
        ponto_bridge::bus::Bus::new(),
        Arc::new(app.clock.clone()),
    );
    let org = direct.ensure_organization("acme").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_rest = failures(&app).await;
    assert_eq!(at_rest, [0.0; 3], "no failures before the cut");

    let cut_for = Duration::from_secs(10);
    proxy.set(Mode::Cut);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut tx = direct.begin_write().await.unwrap();
    tx.append_events(org, vec![(broken_connection("during the cut"), None)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    tokio::time::sleep(cut_for - Duration::from_secs(1)).await;
    let during = failures(&app).await;
    assert!(rx.received().is_empty(), "nothing sent while cut off");
    let restored = Instant::now();
    proxy.set(Mode::Forward);

    let delivered = wait_until(
        Duration::from_secs(10),
        "the delivery committed during the cut",
        || async { (!rx.received().is_empty()).then(|| restored.elapsed()) },
    )
    .await;
    for (worker, n) in WORKERS.iter().zip(&during) {
        // Positive control: each worker did meet the cut.
        assert!(*n > 0.0, "{worker} never failed during the cut: {during:?}");
        assert!(
            *n <= 20.0,
            "{worker} failed {n} times in {cut_for:?}: it does not back off"
        );
    }
    // Every worker took up its work again: the counters stop.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let settled = failures(&app).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        failures(&app).await,
        settled,
        "still failing after the return"
    );
    assert_eq!(status(&app, "/readyz").await, 200);
    eprintln!(
        "workers through a {cut_for:?} cut: failures {during:?} (scheduler, inbound, deliveries); the delivery committed during it arrived {delivered:?} after the return"
    );
}
