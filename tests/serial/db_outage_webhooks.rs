//! Ponto's webhooks during a database cut (PostgreSQL, through a TCP proxy): answered 503, never
//! 200 for an event not stored; after the return each event is stored and takes effect once.

use crate::support::proxy::{Mode, behind_proxy};
use serde_json::{Value, json};
use std::time::Duration;

/// Ponto's webhooks arriving while the database is cut are answered 503 (never 200: nothing
/// was stored), Ponto retries, and after the return each event is stored and takes effect once.
#[tokio::test(flavor = "multi_thread")]
async fn ponto_webhooks_during_a_cut_get_503_and_are_stored_once_after() {
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    let Some((proxy, _db, builder)) = behind_proxy().await else {
        return;
    };
    let l = builder
        .flags(&[
            "--db-acquire-timeout-ms",
            "1000",
            "--read-interval-secs",
            "0",
        ])
        // Ponto retries over minutes; here over seconds, outlasting the cut.
        .start_linked_with(|o| {
            o.webhooks.retry_delays = [1, 2, 4, 8].map(Duration::from_secs).to_vec();
        })
        .await;
    l.webhooks_on().await;
    let ponto_org = l.sb.org("Cut BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    let token = l.token("acme");
    let landing = l.connect(&token, &ponto_org, &[&acc], true, false).await;
    assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
    crate::support::wait_until(
        Duration::from_secs(30),
        "the link's webhooks delivered",
        || async {
            let log = delivered(&l.sb).await;
            log.iter()
                .all(|d| d["status"] == "delivered")
                .then_some(())
                .ok_or(format!("{log:?}"))
        },
    )
    .await;
    let before = delivered(&l.sb).await.len();

    proxy.set(Mode::Cut);
    l.sb.transactions(
        &acc,
        json!({"amount": "8.00", "remittanceInformation": "during the cut",
                                   "valueDate": crate::support::day(0)}),
    )
    .await;
    l.sb.organization_does(&ponto_org, "synchronize").await;
    // Each new event's first attempt is refused as unavailable, fast.
    crate::support::wait_until(
        Duration::from_secs(10),
        "attempts refused with 503",
        || async {
            let log = delivered(&l.sb).await;
            let new = &log[before..];
            (!new.is_empty()
                && new
                    .iter()
                    .all(|d| d["lastStatus"] == 503 && d["status"] == "retrying"))
            .then_some(())
            .ok_or(format!("{new:?}"))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.set(Mode::Forward);
    // Ponto's next retries land once the database is back.
    crate::support::wait_until(
        Duration::from_secs(40),
        "stored after the return",
        || async {
            let log = delivered(&l.sb).await;
            log.iter()
                .all(|d| d["status"] == "delivered")
                .then_some(())
                .ok_or(format!("{:?}", &log[before..]))
        },
    )
    .await;
    let ids: Vec<String> = delivered(&l.sb).await[before..]
        .iter()
        .map(|d| d["eventId"].as_str().unwrap().to_owned())
        .collect();
    for id in &ids {
        let statuses = l.app.store.inbound_status(id).await.unwrap();
        assert!(statuses.is_some(), "{id} stored");
    }
    crate::support::wait_until(
        Duration::from_secs(20),
        "the transaction imported",
        || async {
            l.transactions(&token, false)
                .await
                .iter()
                .any(|(r, _, _)| r == "during the cut")
        },
    )
    .await;
    let stored = l.app.store.inbound_counts().await.unwrap();
    let total: i64 = stored.iter().map(|(_, _, n)| *n).sum();
    assert_eq!(
        total as usize,
        delivered(&l.sb).await.len(),
        "each event stored once: {stored:?}"
    );
}

/// The sandbox's log of webhook deliveries, oldest first.
async fn delivered(sb: &crate::support::Sandbox) -> Vec<Value> {
    sb.control(reqwest::Method::GET, "/webhooks/deliveries", None)
        .await["deliveries"]
        .as_array()
        .unwrap()
        .clone()
}
