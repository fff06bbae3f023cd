//! Ponto's webhooks under stress of order and timing: the same event delivered many times at
//! once, a hundred events in random order, and a pull that commits in the middle of a read of
//! the same account. Each ends with exactly the rows and events one clean pass would give.

use crate::inbound::hooked;
use crate::support::{day, wait_until};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn ten_concurrent_deliveries_of_one_webhook_have_one_effect() {
    let h = hooked(&[]).await;
    // Every event of the next synchronization goes out ten times at once.
    h.l.sb
        .control(
            Method::POST,
            "/webhooks/duplicate",
            Some(json!({"events": 10, "times": 10})),
        )
        .await;
    h.l.sb
        .transactions(
            &h.acc,
            json!({"amount": "1.23", "remittanceInformation": "once"}),
        )
        .await;
    let before = h.events().await;
    h.synchronize().await;
    let created = h.statuses("account.transactionsCreated").await;
    assert_eq!(
        created.values().sum::<i64>(),
        2,
        "one row per event id: {created:?}"
    );
    let txs = h.l.transactions(&h.token, false).await;
    assert_eq!(
        txs.iter().filter(|(r, _, _)| r == "once").count(),
        1,
        "{txs:?}"
    );
    let new = h.events().await[before.len()..].to_vec();
    let count = |t: &str| new.iter().filter(|e| *e == t).count();
    assert_eq!(count("bank_transaction.created"), 1, "{new:?}");
    assert_eq!(count("bank_account.balance_updated"), 1, "{new:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_events_in_random_order_leave_nothing_for_a_read_to_change() {
    let h = hooked(&[]).await;
    let second = h.l.sb.account(&h.ponto_org, json!({})).await;
    let slider = format!(
        "/organizations/{}/integration/accounts/{second}",
        h.ponto_org
    );
    h.l.sb.control(Method::PUT, &slider, None).await;
    h.settled().await;
    h.l.sb.control(Method::POST, "/webhooks/hold", None).await;
    let mut rounds = 0;
    loop {
        rounds += 1;
        for (acc, pending) in [(&h.acc, false), (&second, rounds % 3 == 0)] {
            let tx = json!({"amount": format!("{rounds}.00"), "pending": pending,
                "remittanceInformation": format!("round {rounds}"), "valueDate": day(0), "executionDate": day(0)});
            h.l.sb.transactions(acc, tx).await;
        }
        if rounds % 4 == 0 {
            let id =
                h.l.sb
                    .handle
                    .transaction_id_by_remittance(&format!("round {}", rounds - 1))
                    .unwrap();
            h.l.sb
                .change_transaction(
                    &id,
                    json!({"remittanceInformation": format!("round {} changed", rounds - 1)}),
                )
                .await;
        }
        h.l.sb.organization_does(&h.ponto_org, "synchronize").await;
        let held =
            h.l.sb
                .control(Method::GET, "/webhooks/deliveries", None)
                .await;
        let held = held["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["status"] == "held")
            .count();
        if held >= 100 {
            break;
        }
    }
    let released =
        h.l.sb
            .control(
                Method::POST,
                "/webhooks/release",
                Some(json!({"order": "random"})),
            )
            .await;
    assert!(released["released"].as_u64().unwrap() >= 100, "{released}");
    h.settled().await;
    let counts = h.l.app.store.inbound_counts().await.unwrap();
    assert!(
        counts.iter().all(|(s, _, _)| s == "PROCESSED"),
        "{counts:?}"
    );

    // A full read finds nothing the webhooks missed.
    let snapshot = || async {
        (
            h.l.transactions(&h.token, true).await,
            h.events().await.len(),
        )
    };
    let (rows, events) = snapshot().await;
    assert!(rows.len() > 2 * rounds as usize - 5, "{rows:?}");
    let org = h.l.app.store.ensure_organization("acme").await.unwrap();
    h.l.app.puller.read(org).await.unwrap();
    assert_eq!(snapshot().await, (rows, events));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_committed_in_the_middle_of_a_read_leaves_its_transaction_live() {
    let h = hooked(&[]).await;
    let org = h.l.app.store.ensure_organization("acme").await.unwrap();
    // The read's booked listing is computed at once and arrives 1.5 s later: a transaction
    // published meanwhile is not in it.
    let listing = format!("/accounts/{}/transactions", h.acc);
    h.l.sb
        .fault(json!({"status": 200, "delayAfterMs": 1500, "count": 1, "path": listing}))
        .await;
    let puller = h.l.app.puller.clone();
    let read = tokio::spawn(async move { puller.read(org).await });
    wait_until(
        Duration::from_secs(10),
        "the read's listing in flight",
        || async { h.l.sb.handle.queued_faults() == 0 },
    )
    .await;
    h.l.sb
        .transactions(
            &h.acc,
            json!({"amount": "42.00", "remittanceInformation": "during the read"}),
        )
        .await;
    h.l.sb.organization_does(&h.ponto_org, "synchronize").await;
    read.await.unwrap().unwrap();
    h.settled().await;
    let txs = h.l.transactions(&h.token, true).await;
    assert!(
        txs.iter()
            .any(|(r, _, s)| r == "during the read" && s == "BOOKED"),
        "the read did not mark the pulled transaction removed: {txs:?}"
    );
}
