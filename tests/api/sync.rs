//! Reading Ponto end to end through real HTTP and the sandbox: the first import after linking,
//! later changes after a Ponto-side synchronization and a scheduled read, idempotent reads.

use crate::support::{Linked, TestApp, day, wait_until};
use chrono::Duration;
use reqwest::Method;
use serde_json::json;
use std::time::Duration as Wait;

/// A linked tenant "acme" with one account holding a few transactions.
async fn linked() -> (Linked, String, String, String) {
    let l = Linked::start(&[]).await;
    let ponto_org = l.sb.org("Acme BV").await;
    let acc =
        l.sb.account(&ponto_org, json!({"currentBalance": "500.00"}))
            .await;
    l.sb.transactions(&acc, json!([
        {"amount": "100.00", "remittanceInformation": "first", "valueDate": day(-30), "endToEndId": "e2e-1"},
        {"amount": "-25.10", "remittanceInformation": "second", "valueDate": day(-29)},
        {"amount": "-9.99", "remittanceInformation": "card pending", "pending": true, "endToEndId": "e2e-card"},
    ])).await;
    let token = l.token("acme");
    let landing = l.connect(&token, &ponto_org, &[&acc], true, false).await;
    assert!(landing.ends_with("ponto_status=CONNECTED"));
    (l, token, ponto_org, acc)
}

async fn wait_for(l: &Linked, token: &str, what: &str, want: Vec<(&str, &str, &str)>) {
    let want: Vec<(String, String, String)> = want
        .into_iter()
        .map(|(a, b, c)| (a.into(), b.into(), c.into()))
        .collect();
    wait_until(Wait::from_secs(15), what, || async {
        let got = l.transactions(token, true).await;
        (got == want)
            .then_some(())
            .ok_or_else(|| format!(" got {got:?}\nwant {want:?}"))
    })
    .await
}

/// A Ponto-side synchronization, then the next scheduled read (an hour later). Waits first for
/// any read in flight to end, so the clock moves past the next one it schedules.
async fn sync_and_read(l: &Linked, ponto_org: &str) {
    l.reads_settled("acme").await;
    l.sb.organization_does(ponto_org, "synchronize").await;
    l.clock.advance(Duration::minutes(61));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_import_and_later_changes_reach_graphql() {
    let (l, token, ponto_org, acc) = linked().await;
    wait_for(
        &l,
        &token,
        "the first import right after linking",
        vec![
            ("card pending", "-9.99", "PENDING"),
            ("first", "100.00", "BOOKED"),
            ("second", "-25.10", "BOOKED"),
        ],
    )
    .await;
    let acme = l.app.store.ensure_organization("acme").await.unwrap();

    // New at the bank: visible after Ponto synchronizes and we read.
    l.sb.transactions(
        &acc,
        json!({"amount": "42.00", "remittanceInformation": "third", "valueDate": day(-28)}),
    )
    .await;
    sync_and_read(&l, &ponto_org).await;
    wait_for(
        &l,
        &token,
        "a transaction added later",
        vec![
            ("card pending", "-9.99", "PENDING"),
            ("first", "100.00", "BOOKED"),
            ("second", "-25.10", "BOOKED"),
            ("third", "42.00", "BOOKED"),
        ],
    )
    .await;

    // The pending one is booked under a new id; an amount changes; one disappears at the bank.
    let ids =
        l.sb.control(Method::GET, &format!("/organizations/{ponto_org}"), None)
            .await;
    assert!(ids["integration"].is_object());
    let id_of = |r: &str| bank_id(&l, r);
    l.sb.book(&id_of("card pending"), &day(-27)).await;
    l.sb.change_transaction(&id_of("second"), json!({"amount": "-25.01"}))
        .await;
    l.sb.delete_transaction(&id_of("first")).await;
    sync_and_read(&l, &ponto_org).await;
    // A booked transaction missing from one read may be the bank's hiccup: still BOOKED.
    wait_for(
        &l,
        &token,
        "booked and changed at the bank, the deleted one missed once",
        vec![
            ("card pending", "-9.99", "BOOKED"),
            ("card pending", "-9.99", "SUPERSEDED"),
            ("first", "100.00", "BOOKED"),
            ("second", "-25.01", "BOOKED"),
            ("third", "42.00", "BOOKED"),
        ],
    )
    .await;
    sync_and_read(&l, &ponto_org).await;
    wait_for(
        &l,
        &token,
        "the deleted one still missing at the next read",
        vec![
            ("card pending", "-9.99", "BOOKED"),
            ("card pending", "-9.99", "SUPERSEDED"),
            ("first", "100.00", "REMOVED"),
            ("second", "-25.01", "BOOKED"),
            ("third", "42.00", "BOOKED"),
        ],
    )
    .await;
    assert_eq!(
        l.transactions(&token, false).await.len(),
        3,
        "one transaction for the booked pending one"
    );

    // The same read twice changes nothing and announces nothing. (The scheduled read must be
    // over first: it would count in the requests measured below.)
    l.reads_settled("acme").await;
    l.app.puller.read(acme).await.unwrap();
    let events = l.event_types("acme").await.len();
    let before = l.transactions(&token, true).await;
    l.app.puller.read(acme).await.unwrap();
    assert_eq!(l.event_types("acme").await.len(), events);
    assert_eq!(l.transactions(&token, true).await, before);
    let created = l
        .event_types("acme")
        .await
        .iter()
        .filter(|t| *t == "bank_transaction.created")
        .count();
    assert_eq!(
        created, 5,
        "once per Ponto transaction (3 first, 'third', the booked card payment)"
    );
    let metrics = l.app.metrics().await;
    assert!(
        metrics.contains("ponto_transactions_imported_total 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ponto_reads_total{outcome=\"ok\"}"),
        "{metrics}"
    );

    // Throttling and server errors at Ponto are ridden out by retries: the read succeeds with
    // exactly three more API requests than a clean one.
    let requests = || async { l.sb.stats().await["apiRequests"].as_u64().unwrap() };
    let start = requests().await;
    l.app.puller.read(acme).await.unwrap();
    let clean = requests().await - start;
    l.sb.fault(json!({"status": 429, "count": 1, "retryAfter": 1}))
        .await;
    l.sb.fault(json!({"status": 503, "count": 2})).await;
    let start = requests().await;
    l.app.puller.read(acme).await.unwrap();
    assert_eq!(
        requests().await - start,
        clean + 3,
        "the three faults were retried"
    );
    assert_eq!(l.transactions(&token, true).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn balances_are_announced_only_when_they_change() {
    let (l, token, ponto_org, acc) = linked().await;
    let acme = l.app.store.ensure_organization("acme").await.unwrap();
    wait_until(Wait::from_secs(15), "first import", || async {
        l.transactions(&token, false).await.len() == 3
    })
    .await;
    l.app.puller.read(acme).await.unwrap();
    let balance_events = || async {
        l.event_types("acme")
            .await
            .iter()
            .filter(|t| *t == "bank_account.balance_updated")
            .count()
    };
    assert_eq!(balance_events().await, 0);
    l.sb.transactions(&acc, json!({"amount": "10.00"})).await;
    sync_and_read(&l, &ponto_org).await;
    wait_until(Wait::from_secs(15), "a balance event", || async {
        balance_events().await == 1
    })
    .await;
    let q = "{ bankAccounts { edges { node { currentBalance { amount } lastSyncedAt } } } }";
    let data = l.app.gql_data(&token, q, json!({})).await;
    assert_eq!(
        data["bankAccounts"]["edges"][0]["node"]["currentBalance"]["amount"], "584.90",
        "{data}"
    );
    assert!(data["bankAccounts"]["edges"][0]["node"]["lastSyncedAt"].is_string());
    l.app.puller.read(acme).await.unwrap();
    assert_eq!(balance_events().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_asked_for_during_a_read_is_not_pushed_back() {
    let (l, token, ponto_org, acc) = linked().await;
    let acme = l.app.store.ensure_organization("acme").await.unwrap();
    wait_until(Wait::from_secs(15), "first import", || async {
        l.transactions(&token, false).await.len() == 3
    })
    .await;
    // The next scheduled read hangs on its last request for a while…
    l.sb.fault(json!({"status": 200, "delayMs": 1500, "path": "/pending-transactions"}))
        .await;
    sync_and_read(&l, &ponto_org).await;
    wait_until(Wait::from_secs(15), "the read to be in flight", || async {
        l.sb.handle.queued_faults() == 0
    })
    .await;
    // …while the bank gets a new transaction and a finished synchronization asks for a read.
    l.sb.transactions(
        &acc,
        json!({"amount": "7.00", "remittanceInformation": "late"}),
    )
    .await;
    l.sb.organization_does(&ponto_org, "synchronize").await;
    l.app.store.read_soon(acme).await.unwrap();
    l.app.store.bus().wake_reads();
    // The clock stands still: only the requested read, not the hourly one, can bring it in.
    wait_until(Wait::from_secs(15), "the requested read", || async {
        l.transactions(&token, false)
            .await
            .iter()
            .any(|t| t.0 == "late")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_now_keeps_the_synchronization_ponto_started_when_it_refuses_the_other() {
    let (l, token, _ponto_org, _acc) = linked().await;
    let q = "{ bankAccounts { edges { node { id } } } }";
    let gid = l.app.gql_data(&token, q, json!({})).await["bankAccounts"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The first request goes through; the second fails however often it is retried.
    l.sb.fault(json!({"status": 200, "path": "/synchronizations"}))
        .await;
    l.sb.fault(json!({"status": 503, "count": 10, "path": "/synchronizations"}))
        .await;
    let m =
        "mutation($a: ID!) { syncNow(input: {accountId: $a, customerIpAddress: \"203.0.113.5\"}) {
        synchronizations { subtype } } }";
    let data = l.app.gql_data(&token, m, json!({"a": gid})).await;
    assert_eq!(
        data["syncNow"]["synchronizations"],
        json!([{"subtype": "accountDetails"}]),
        "{data}"
    );
    let again = l.app.gql(&token, m, json!({"a": gid})).await;
    assert_eq!(
        again["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "the slot stays taken: Ponto is synchronizing the account"
    );
    l.sb.control(Method::DELETE, "/faults", None).await;
}

/// The id at the sandbox bank of the transaction with this remittance information.
fn bank_id(l: &Linked, remittance: &str) -> String {
    l.sb.handle
        .transaction_id_by_remittance(remittance)
        .expect("a transaction with this remittance at the bank")
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_without_end_to_end_id_is_matched_by_amount_counterparty_and_date_else_removed() {
    let (l, token, ponto_org, acc) = linked().await;
    l.sb.transactions(
        &acc,
        json!([
            {"amount": "-12.00", "remittanceInformation": "fuel", "pending": true,
             "counterpartReference": "BE68539007547034", "executionDate": day(-11)},
            {"amount": "-30.00", "remittanceInformation": "cancelled", "pending": true,
             "executionDate": day(-11)},
        ]),
    )
    .await;
    sync_and_read(&l, &ponto_org).await;
    wait_until(Wait::from_secs(15), "the new pending ones", || async {
        l.transactions(&token, false).await.len() == 5
    })
    .await;

    // Booked two days later under a new id; the other one vanishes at the bank.
    l.sb.book(&bank_id(&l, "fuel"), &day(-9)).await;
    l.sb.delete_transaction(&bank_id(&l, "cancelled")).await;
    sync_and_read(&l, &ponto_org).await;
    wait_for(
        &l,
        &token,
        "the booked one supersedes its pending one; the vanished one is removed",
        vec![
            ("cancelled", "-30.00", "REMOVED"),
            ("card pending", "-9.99", "PENDING"),
            ("first", "100.00", "BOOKED"),
            ("fuel", "-12.00", "BOOKED"),
            ("fuel", "-12.00", "SUPERSEDED"),
            ("second", "-25.10", "BOOKED"),
        ],
    )
    .await;

    // A look-alike pending one that is then cancelled: the booked "fuel" already settled its
    // own pending transaction, so this one is removed, not superseded by it.
    l.sb.transactions(
        &acc,
        json!({"amount": "-12.00", "remittanceInformation": "fuel again", "pending": true,
               "counterpartReference": "BE68539007547034", "executionDate": day(-10)}),
    )
    .await;
    sync_and_read(&l, &ponto_org).await;
    wait_until(Wait::from_secs(15), "the look-alike", || async {
        l.transactions(&token, false)
            .await
            .iter()
            .any(|t| t.0 == "fuel again")
    })
    .await;
    l.sb.delete_transaction(&bank_id(&l, "fuel again")).await;
    sync_and_read(&l, &ponto_org).await;
    wait_until(Wait::from_secs(15), "the look-alike retired", || async {
        l.transactions(&token, true).await.contains(&(
            "fuel again".into(),
            "-12.00".into(),
            "REMOVED".into(),
        ))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_first_import_reads_the_whole_history_next_time() {
    let l = Linked::start(&[]).await;
    let ponto_org = l.sb.org("Acme BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    // 99 recent transactions and 51 from last winter: the first page (newest first) already
    // reaches past the 90-day window, so only a full-history read finds the other 50.
    let today = l.clock_now().date_naive();
    let txs: Vec<_> = (0..150i64)
        .map(|i| {
            let age = if i < 99 { i % 60 } else { 200 + i };
            json!({"amount": "1.00", "remittanceInformation": format!("t{i}"),
                   "valueDate": today - Duration::days(age)})
        })
        .collect();
    l.sb.transactions(&acc, json!(txs)).await;
    // The first page goes through; the second fails however often it is retried.
    l.sb.fault(json!({"status": 200, "path": "/transactions"}))
        .await;
    l.sb.fault(json!({"status": 503, "count": 10, "path": "/transactions"}))
        .await;
    let token = l.token("acme");
    assert!(
        l.connect(&token, &ponto_org, &[&acc], true, false)
            .await
            .ends_with("ponto_status=CONNECTED")
    );
    l.reads_settled("acme").await;
    let created = || async {
        l.event_types("acme")
            .await
            .iter()
            .filter(|t| *t == "bank_transaction.created")
            .count()
    };
    assert_eq!(created().await, 100, "the first page only");
    let q = "{ bankAccounts { nodes { lastSyncedAt } } }";
    assert!(
        l.app.gql_data(&token, q, json!({})).await["bankAccounts"]["nodes"][0]["lastSyncedAt"]
            .is_null(),
        "the account's import did not complete"
    );

    l.sb.control(Method::DELETE, "/faults", None).await;
    let acme = l.app.store.ensure_organization("acme").await.unwrap();
    l.app.puller.read(acme).await.unwrap();
    assert_eq!(created().await, 150, "the whole history on the next read");
    assert!(
        l.app.gql_data(&token, q, json!({})).await["bankAccounts"]["nodes"][0]["lastSyncedAt"]
            .is_string()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_waits_for_a_sync_now_follow_up_which_leaves_the_rest_to_the_next_read() {
    let (l, token, _, _) = linked().await;
    l.reads_settled("acme").await;
    let data = l
        .app
        .gql_data(&token, "{ bankAccounts { nodes { id } } }", json!({}))
        .await;
    let account = data["bankAccounts"]["nodes"][0]["id"].clone();
    let m =
        "mutation($a: ID!) { syncNow(input: {accountId: $a, customerIpAddress: \"203.0.113.9\"}) {
        nextSyncAllowedAt } }";
    l.app.gql_data(&token, m, json!({"a": account})).await;
    assert_eq!(
        l.app.puller.follow_ups_running(),
        1,
        "the follow-up is tracked"
    );

    // Stopped while the follow-up waits for Ponto: it is told to stop, and before the pool
    // closes it records what it saw and asks for the next read, which finishes the job.
    let Linked {
        app,
        clock,
        sb: _sb,
    } = l;
    let db = app.db.clone();
    let puller = app.puller.clone();
    app.stop().await;
    assert_eq!(puller.follow_ups_running(), 0);
    let after = TestApp::builder()
        .db(db)
        .clock(clock.clone())
        .flags(&["--background-tasks", "false"])
        .start()
        .await;
    let data = after
        .gql_data(&token, "{ pontoConnection { nextReadAt } }", json!({}))
        .await;
    let next = data["pontoConnection"]["nextReadAt"].as_str().unwrap();
    let next = chrono::DateTime::parse_from_rfc3339(next).unwrap();
    use ponto_bridge::clock::Clock;
    assert!(next <= clock.now(), "the next read is due at once: {next}");
}
