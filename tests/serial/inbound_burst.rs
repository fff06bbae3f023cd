//! A burst of Ponto webhooks, as when Ponto synchronizes every account at the same hour: many
//! `transactionsCreated` events across organizations while every Ponto call takes 200 ms. All
//! are processed, the concurrency bounds hold at the sandbox, and a 429 with `Retry-After`
//! pauses every request of the service. Size: `PB_BURST_EVENTS` (40 by default; the benchmark
//! in BENCHMARKS.md runs 2,000 over 20 organizations of 10 accounts).

use crate::support::{Linked, wait_until};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// (organizations, accounts per organization, events per account) for `PB_BURST_EVENTS`.
pub fn burst_shape() -> (usize, usize, usize) {
    let events: usize = std::env::var("PB_BURST_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    if events >= 2000 {
        (20, 10, events / 200)
    } else {
        (2, 4, (events / 8).max(1))
    }
}

const GLOBAL: usize = 4;
const PER_ORG: usize = 2;

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_is_processed_within_the_bounds_and_a_429_pauses_everyone() {
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    let (orgs, per_org, per_account) = burst_shape();
    let l = Linked::start(&[
        "--read-interval-secs",
        "0",
        "--inbound-concurrency",
        &GLOBAL.to_string(),
        "--inbound-per-organization",
        &PER_ORG.to_string(),
    ])
    .await;
    // Each organization linked with its accounts, then one new transaction per account that a
    // Ponto-side synchronization publishes (its webhooks not sent yet: no target).
    let mut accounts: Vec<(String, String, String)> = Vec::new(); // (ponto org, account, sync)
    for o in 0..orgs {
        let ponto_org = l.sb.org(&format!("Burst {o}")).await;
        let mut ids = Vec::new();
        for _ in 0..per_org {
            ids.push(l.sb.account(&ponto_org, json!({})).await);
        }
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let token = l.token(&format!("tenant-{o}"));
        l.connect(&token, &ponto_org, &refs, true, false).await;
        // The first import (the only read: scheduled ones are off).
        let q = "{ pontoConnection { lastReadAt } }";
        wait_until(Duration::from_secs(15), "the first import", || async {
            !l.app.gql_data(&token, q, json!({})).await["pontoConnection"]["lastReadAt"].is_null()
        })
        .await;
        for a in &ids {
            l.sb.transactions(
                a,
                json!({"amount": "1.00", "remittanceInformation": format!("burst {a}")}),
            )
            .await;
        }
        // Every shared account, each subtype in order, accounts in id order.
        let ran = l.sb.organization_does(&ponto_org, "synchronize").await;
        let syncs: Vec<&str> = ran["synchronizations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort_by_key(|a| uuid::Uuid::parse_str(a).unwrap());
        for (k, a) in sorted.iter().enumerate() {
            accounts.push((ponto_org.clone(), a.clone(), syncs[3 * k + 1].to_owned()));
        }
    }
    l.webhooks_on().await;
    l.sb.control(Method::POST, "/stats/reset", None).await;
    l.sb.fault(json!({"status": 200, "delayMs": 200, "forMs": 600_000}))
        .await;

    let started = std::time::Instant::now();
    for _ in 0..per_account {
        for (org, account, sync) in &accounts {
            l.sb.emit(
                json!({"type": "account.transactionsCreated", "organization": org,
                "account": account, "synchronization": sync, "count": 1}),
            )
            .await;
        }
    }
    let total = (accounts.len() * per_account) as i64;
    let processed = || async {
        let counts = l.app.store.inbound_counts().await.unwrap();
        counts
            .iter()
            .filter(|(s, t, _)| s == "PROCESSED" && t == "pontoConnect.account.transactionsCreated")
            .map(|(_, _, n)| n)
            .sum::<i64>()
    };
    wait_until(
        Duration::from_secs(600),
        "the burst to be processed",
        || async {
            let n = processed().await;
            (n == total)
                .then_some(())
                .ok_or_else(|| format!("{n} of {total}"))
        },
    )
    .await;
    let elapsed = started.elapsed();
    let stats = l.sb.stats().await;
    let peak = stats["peakConcurrentRequests"].as_u64().unwrap() as usize;
    assert!(
        peak <= GLOBAL,
        "at most {GLOBAL} Ponto calls at once: {stats}"
    );
    assert!(peak >= 2, "the pulls did run concurrently: {stats}");
    let by_org: BTreeMap<String, u64> =
        serde_json::from_value(stats["peakConcurrentRequestsByOrganization"].clone()).unwrap();
    assert!(
        by_org.values().all(|n| *n as usize <= PER_ORG),
        "per organization: {by_org:?}"
    );
    eprintln!(
        "burst: {total} events, {orgs} organizations, {:.1} s (ideal {:.1} s at {GLOBAL} at once)",
        elapsed.as_secs_f64(),
        total as f64 * 0.2 / GLOBAL as f64
    );
    // Each new transaction stored once and announced once, however many events named it.
    for o in 0..orgs {
        let token = l.token(&format!("tenant-{o}"));
        let txs = l.transactions(&token, true).await;
        assert_eq!(txs.len(), per_org, "{txs:?}");
        let created = l
            .event_types(&format!("tenant-{o}"))
            .await
            .iter()
            .filter(|t| *t == "bank_transaction.created")
            .count();
        assert_eq!(created, per_org);
    }

    // Ponto answers one pull 429 "retry after 1 s": no request at all goes out meanwhile.
    l.sb.control(Method::DELETE, "/faults", None).await;
    l.sb.fault(
        json!({"status": 429, "retryAfter": 1, "count": 1, "path": "/updated-transactions"}),
    )
    .await;
    let since = chrono::Utc::now();
    let emit = |(org, account, sync): &(String, String, String)| {
        l.sb.emit(
            json!({"type": "account.transactionsCreated", "organization": org,
            "account": account, "synchronization": sync, "count": 1}),
        )
    };
    // The first pull meets the 429; the others arrive while it waits.
    emit(&accounts[0]).await;
    wait_until(Duration::from_secs(10), "the 429", || async {
        l.sb.handle.queued_faults() == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for a in accounts.iter().skip(1).take(5) {
        emit(a).await;
    }
    wait_until(
        Duration::from_secs(30),
        "the events after the 429",
        || async { processed().await == total + 6 },
    )
    .await;
    let log =
        l.sb.control(
            Method::GET,
            &format!("/requests?since={}", since.to_rfc3339().replace('+', "%2B")),
            None,
        )
        .await;
    let log = log["requests"].as_array().unwrap();
    let at =
        |r: &Value, k: &str| chrono::DateTime::parse_from_rfc3339(r[k].as_str().unwrap()).unwrap();
    let refused = log
        .iter()
        .find(|r| r["status"] == 429)
        .expect("the 429 in the log");
    let (from, to) = (
        at(refused, "endedAt") + chrono::Duration::milliseconds(100),
        at(refused, "endedAt") + chrono::Duration::milliseconds(900),
    );
    let during: Vec<&Value> = log
        .iter()
        .filter(|r| at(r, "startedAt") > from && at(r, "startedAt") < to)
        .collect();
    assert!(during.is_empty(), "requests during the pause: {during:?}");
    assert!(
        log.iter().any(|r| at(r, "startedAt") >= to),
        "and requests after it: {log:?}"
    );
}
