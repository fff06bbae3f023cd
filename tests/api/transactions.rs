//! The `transactions` listing: Relay pagination over 1,000 rows both ways, every filter, and a
//! constant number of SQL statements for a page however large.

use crate::seed::{account, date, eur, invoice, transaction};
use crate::support::TestApp;
use chrono::Duration;
use ponto_bridge::domain::ids::{AccountId, OrganizationId};
use ponto_bridge::domain::money::{Currency, Money};
use ponto_bridge::domain::transaction::TransactionStatus;
use ponto_bridge::store::matches::{MatchRule, NewMatch};
use serde_json::{Value, json};
use std::collections::HashSet;

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String) {
  transactions(first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id valueDate } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

async fn seed_many(app: &TestApp, n: usize) -> (OrganizationId, AccountId) {
    let org = app.store.ensure_organization("acme").await.unwrap();
    let mut tx = app.store.begin_write().await.unwrap();
    let (_, acc) = tx
        .upsert_account(org, None, account("acc-1", "BE68539007547034"))
        .await
        .unwrap();
    for i in 0..n {
        // Many rows share a date, so the id breaks ties.
        let d = date(2026, 1, 1) + Duration::days((i / 7) as i64);
        tx.upsert_transaction(
            org,
            acc.id,
            transaction(&format!("tx-{i}"), 100 + i as i64, d, "c", "r"),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    (org, acc.id)
}

#[tokio::test(flavor = "multi_thread")]
async fn walking_1000_transactions_forward_then_backward_returns_each_once_in_a_stable_order() {
    let app = TestApp::start().await;
    seed_many(&app, 1000).await;
    let token = app.full_token("acme");

    let mut forward: Vec<(String, String)> = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let data = app
            .gql_data(&token, PAGE, json!({"first": 37, "after": after}))
            .await;
        let conn = &data["transactions"];
        let edges = conn["edges"].as_array().unwrap_or_else(|| panic!("{data}"));
        forward.extend(edges.iter().map(|e| {
            (
                e["node"]["id"].as_str().unwrap().to_owned(),
                e["node"]["valueDate"].as_str().unwrap().to_owned(),
            )
        }));
        pages += 1;
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], after.is_some());
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        assert_eq!(edges.len(), 37);
        after = Some(conn["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(pages, 1000 / 37 + 1);
    assert_eq!(forward.len(), 1000);
    assert_eq!(
        forward
            .iter()
            .map(|(id, _)| id)
            .collect::<HashSet<_>>()
            .len(),
        1000,
        "each exactly once"
    );
    let dates: Vec<&String> = forward.iter().map(|(_, d)| d).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let mut backward: Vec<String> = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let data = app
            .gql_data(&token, PAGE, json!({"last": 37, "before": before}))
            .await;
        let conn = &data["transactions"];
        let edges = conn["edges"].as_array().unwrap();
        let mut ids: Vec<String> = edges
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect();
        ids.extend(backward);
        backward = ids;
        if conn["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = Some(conn["pageInfo"]["startCursor"].as_str().unwrap().to_owned());
    }
    let forward_ids: Vec<String> = forward.into_iter().map(|(id, _)| id).collect();
    assert_eq!(backward, forward_ids, "the same order both ways");

    // A cursor stays valid when newer rows arrive: the next page neither repeats nor skips.
    let data = app.gql_data(&token, PAGE, json!({"first": 10})).await;
    let end = data["transactions"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    seed_more(&app).await;
    let data = app
        .gql_data(&token, PAGE, json!({"first": 10, "after": end}))
        .await;
    let ids: Vec<&str> = data["transactions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        forward_ids[10..20]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
}

async fn seed_more(app: &TestApp) {
    let org = app.store.ensure_organization("acme").await.unwrap();
    let mut tx = app.store.begin_write().await.unwrap();
    let (_, acc) = tx
        .upsert_account(org, None, account("acc-1", "BE68539007547034"))
        .await
        .unwrap();
    tx.upsert_transaction(
        org,
        acc.id,
        transaction("newest", 1, date(2027, 1, 1), "c", "r"),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn filtered(app: &TestApp, token: &str, filter: Value) -> Vec<String> {
    let q = "query($f: TransactionFilterInput) { transactions(first: 100, filter: $f) { edges { node { counterpartName } } } }";
    let data = app.gql_data(token, q, json!({"f": filter})).await;
    let mut names: Vec<String> = data["transactions"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{data}"))
        .iter()
        .map(|e| e["node"]["counterpartName"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn every_filter() {
    let app = TestApp::start().await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let token = app.full_token("acme");
    let mut tx = app.store.begin_write().await.unwrap();
    let (_, a1) = tx
        .upsert_account(org, None, account("acc-1", "BE68539007547034"))
        .await
        .unwrap();
    let (_, a2) = tx
        .upsert_account(org, None, account("acc-2", "BE68539007547034"))
        .await
        .unwrap();
    let rows = [
        (
            a1.id,
            "in-small",
            1_050,
            date(2026, 3, 1),
            "Invoice 2026-001 paid",
        ),
        (
            a1.id,
            "in-big",
            250_000,
            date(2026, 3, 10),
            "Payment 100%_done",
        ),
        (a1.id, "out-rent", -120_000, date(2026, 3, 15), "Rent March"),
        (a2.id, "out-fee", -1, date(2026, 4, 1), "Bank fee"),
    ];
    let mut ids = Vec::new();
    for (acc, name, amount, d, rem) in rows {
        ids.push(
            tx.upsert_transaction(org, acc, transaction(name, amount, d, name, rem))
                .await
                .unwrap()
                .id(),
        );
    }
    let mut pending = transaction("pending", 500, date(2026, 4, 2), "pending", "soon");
    pending.status = TransactionStatus::Pending;
    tx.upsert_transaction(org, a2.id, pending).await.unwrap();
    let mut yen = transaction("yen", 1500, date(2026, 4, 3), "yen", "JPY payment");
    yen.amount = Money::new(1500, Currency::parse("JPY").unwrap());
    tx.upsert_transaction(org, a2.id, yen).await.unwrap();
    let (inv, _) = tx
        .upsert_invoice(org, invoice("inv-1", "2026-001", 1_050))
        .await
        .unwrap();
    tx.apply_match(
        org,
        NewMatch {
            invoice_id: inv.id,
            transaction_id: ids[0],
            amount: eur(1_050),
            rule: MatchRule::Manual,
            written_off: 0,
            excess: 0,
            evidence: "MANUAL".into(),
            confidence: 100,
            created_by: "t".into(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let acc2 = ponto_bridge::graphql::ids::encode("BankAccount", a2.id.0);

    let all = [
        "in-big", "in-small", "out-fee", "out-rent", "pending", "yen",
    ];
    assert_eq!(filtered(&app, &token, json!({})).await, all);
    assert_eq!(
        filtered(&app, &token, json!({"accountId": acc2})).await,
        ["out-fee", "pending", "yen"]
    );
    assert_eq!(
        filtered(
            &app,
            &token,
            json!({"dateFrom": date(2026, 3, 10), "dateTo": date(2026, 3, 15)})
        )
        .await,
        ["in-big", "out-rent"]
    );
    assert_eq!(
        filtered(&app, &token, json!({"direction": "OUTGOING"})).await,
        ["out-fee", "out-rent"]
    );
    assert_eq!(
        filtered(
            &app,
            &token,
            json!({"direction": "INCOMING", "status": "BOOKED"})
        )
        .await,
        ["in-big", "in-small", "yen"]
    );
    assert_eq!(
        filtered(&app, &token, json!({"status": "PENDING"})).await,
        ["pending"]
    );
    // Absolute amounts, in each row's own currency (1500 JPY is 1500, not 15.00).
    assert_eq!(
        filtered(
            &app,
            &token,
            json!({"amountMin": "10.50", "amountMax": "1500"})
        )
        .await,
        ["in-small", "out-rent", "yen"]
    );
    assert_eq!(
        filtered(&app, &token, json!({"amountMax": "0.01"})).await,
        ["out-fee"]
    );
    assert_eq!(
        filtered(
            &app,
            &token,
            json!({"amountMin": "10.495", "amountMax": "10.505"})
        )
        .await,
        ["in-small"],
        "bounds round inward"
    );
    assert_eq!(
        filtered(&app, &token, json!({"text": "INVOICE 2026"})).await,
        ["in-small"]
    );
    assert_eq!(
        filtered(&app, &token, json!({"text": "RENT"})).await,
        ["out-rent"],
        "matches the counterparty name too"
    );
    assert_eq!(
        filtered(&app, &token, json!({"text": "100%_"})).await,
        ["in-big"],
        "wildcards are literal"
    );
    assert_eq!(
        filtered(&app, &token, json!({"text": "%"})).await,
        ["in-big"]
    );
    assert_eq!(
        filtered(&app, &token, json!({"matched": true})).await,
        ["in-small"]
    );
    assert_eq!(
        filtered(&app, &token, json!({"matched": false}))
            .await
            .len(),
        5
    );
    assert_eq!(
        filtered(&app, &token, json!({"ignored": true})).await,
        Vec::<String>::new()
    );
    assert_eq!(filtered(&app, &token, json!({"ignored": false})).await, all);
    let bad = app
        .gql(
            &token,
            "{ transactions(filter: {accountId: \"nope\"}) { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(crate::support::error_code(&bad), Some("NOT_FOUND"), "{bad}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_with_accounts_and_matches_costs_a_constant_number_of_statements() {
    // Nothing but this test's requests touches the database while it counts.
    let app = TestApp::builder()
        .flags(&["--background-tasks", "false"])
        .start()
        .await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let mut tx = app.store.begin_write().await.unwrap();
    let mut accounts = Vec::new();
    for a in 0..5 {
        accounts.push(
            tx.upsert_account(org, None, account(&format!("acc-{a}"), "BE68539007547034"))
                .await
                .unwrap()
                .1
                .id,
        );
    }
    for i in 0..150 {
        let t = tx
            .upsert_transaction(
                org,
                accounts[i % 5],
                transaction(&format!("t{i}"), 1_000, date(2026, 1, 1), "c", "r"),
            )
            .await
            .unwrap()
            .id();
        if i.is_multiple_of(3) {
            let (inv, _) = tx
                .upsert_invoice(org, invoice(&format!("inv-{i}"), &format!("N{i}"), 1_000))
                .await
                .unwrap();
            tx.apply_match(
                org,
                NewMatch {
                    invoice_id: inv.id,
                    transaction_id: t,
                    amount: eur(1_000),
                    rule: MatchRule::StructuredReference,
                    written_off: 0,
                    excess: 0,
                    evidence: "X".into(),
                    confidence: 90,
                    created_by: "system".into(),
                },
            )
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
    let token = app.full_token("acme");
    let q = "query($n: Int) { transactions(first: $n) { edges { node { id amount { amount }
        account { id reference currentBalance { amount } }
        matches { amount { amount } invoice { number status } transaction { id } } } } } }";
    app.gql(&token, q, json!({"n": 1})).await; // warm the identity cache
    let mut counts = Vec::new();
    for n in [10, 100] {
        let before = app.store.statement_count();
        let data = app.gql_data(&token, q, json!({"n": n})).await;
        let edges = data["transactions"]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{data}"));
        assert_eq!(edges.len(), n as usize);
        assert!(edges.iter().all(|e| e["node"]["account"]["id"].is_string()));
        assert!(
            edges
                .iter()
                .filter(|e| e["node"]["matches"][0]["invoice"]["number"].is_string())
                .count()
                >= n as usize / 4
        );
        counts.push(app.store.statement_count() - before);
    }
    assert!(
        counts[0] >= 3,
        "the counter counts this request's statements: {counts:?}"
    );
    assert_eq!(
        counts[0], counts[1],
        "statements for 10 rows vs 100 rows: {counts:?}"
    );
    assert!(
        counts[1] <= 5,
        "page + accounts + matches + invoices + transactions: {counts:?}"
    );
}
