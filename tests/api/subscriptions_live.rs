//! Subscriptions end to end: the reference `graphql-ws` client sees a payment the bank reports
//! (sandbox transaction → signed webhook → pull → reconciliation → subscription); a client
//! resuming `events` from its last cursor while two writers commit misses nothing and sees
//! nothing twice; on PostgreSQL an event committed by one instance reaches a subscriber of
//! another, also across a lost listener connection.

use crate::inbound::hooked;
use crate::outbound_delivery::announce;
use crate::subscriptions::{EVENTS, started};
use crate::support::ws::{JsSubscriber, WsClient};
use crate::support::{TestApp, day, pg_admin_url, served};
use ponto_bridge::domain::event::{ConnectionData, ConnectionEvent, Event};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn the_graphql_ws_client_sees_an_invoice_paid_by_the_bank() {
    let h = hooked(&[]).await;
    let upsert = "mutation($i: [InvoiceInput!]!) { upsertInvoices(input: {invoices: $i}) { userErrors { code } } }";
    let invoice = json!({"externalId": "INV-7", "kind": "SALES_INVOICE", "number": "2026-0777",
        "currency": "EUR", "total": "42.00", "issueDate": day(-10), "dueDate": day(20),
        "structuredReference": "+++090/9337/55493+++"});
    let d =
        h.l.app
            .gql_data(&h.token, upsert, json!({"i": [invoice]}))
            .await;
    assert_eq!(d["upsertInvoices"]["userErrors"], json!([]), "{d}");

    let q =
        "subscription { invoicePaymentStatusChanged { externalId status openAmount { amount } } }";
    let mut js = JsSubscriber::start(&h.l.app.base, &h.token, q, json!({}), 1).await;
    started().await;
    h.l.sb
        .transactions(
            &h.acc,
            json!({"amount": "42.00", "remittanceInformation": "+++090/9337/55493+++",
                   "valueDate": day(0)}),
        )
        .await;
    h.synchronize().await;
    let got = js.line().await;
    assert_eq!(
        got["next"]["data"]["invoicePaymentStatusChanged"],
        json!({"externalId": "INV-7", "status": "PAID", "openAmount": {"amount": "0.00"}}),
        "{got}"
    );
}

/// The other subscriptions over the same pipeline: a new transaction, a changed one, and the
/// balance it moved (on the account and on the connection).
#[tokio::test(flavor = "multi_thread")]
async fn bank_changes_reach_their_subscriptions() {
    let h = hooked(&[]).await;
    let base = h.l.app.base.as_str();
    let mut c = WsClient::ready(base, &h.token).await;
    let account =
        h.l.app
            .gql_data(&h.token, "{ bankAccounts { nodes { id } } }", json!({}))
            .await["bankAccounts"]["nodes"][0]["id"]
            .clone();
    c.subscribe("added", "subscription($a: ID) { transactionAdded(accountId: $a) { remittanceInformation amount { amount } account { id } } }", json!({"a": account})).await;
    c.subscribe(
        "changed",
        "subscription { transactionChanged { description remittanceInformation status supersededBy removedAt } }",
        json!({}),
    )
    .await;
    c.subscribe(
        "account",
        "subscription { bankAccountChanged { id currentBalance { amount } } }",
        json!({}),
    )
    .await;
    c.subscribe("connection", "subscription { connectionStatusChanged { status accounts { nodes { currentBalance { amount } } } } }", json!({})).await;
    started().await;
    let tx =
        h.l.sb
            .transactions(
                &h.acc,
                json!({"amount": "7.50", "remittanceInformation": "second", "valueDate": day(0)}),
            )
            .await
            .remove(0);
    h.l.sb
        .change_account(&h.acc, json!({"currentBalance": "107.50"}))
        .await;
    h.synchronize().await;
    let mut seen: std::collections::HashMap<String, Vec<Value>> = Default::default();
    while !(seen.contains_key("added")
        && seen.contains_key("account")
        && seen.contains_key("connection"))
    {
        let m = c.json().await;
        assert_eq!(m["type"], "next", "{m}");
        seen.entry(m["id"].as_str().unwrap().to_owned())
            .or_default()
            .push(m["payload"]["data"].clone());
    }
    let added = &seen["added"][0]["transactionAdded"];
    assert_eq!(added["amount"]["amount"], "7.50", "{added}");
    assert_eq!(added["account"]["id"], account);
    assert_eq!(
        seen["account"][0]["bankAccountChanged"]["currentBalance"]["amount"],
        "107.50"
    );
    assert_eq!(
        seen["connection"][0]["connectionStatusChanged"]["status"],
        "CONNECTED"
    );
    assert!(
        !seen.contains_key("changed"),
        "nothing changed yet: {seen:?}"
    );

    h.l.sb
        .change_transaction(&tx, json!({"description": "second, corrected"}))
        .await;
    h.synchronize().await;
    let m = c.json().await;
    assert_eq!(m["id"], "changed", "{m}");
    assert_eq!(
        m["payload"]["data"]["transactionChanged"]["description"],
        "second, corrected"
    );

    // A pending card payment, then booked under a new id: the pending one is superseded.
    let pending =
        h.l.sb
            .transactions(
                &h.acc,
                json!({"amount": "-9.99", "pending": true, "remittanceInformation": "card",
                   "valueDate": day(0), "executionDate": day(0)}),
            )
            .await;
    h.synchronize().await;
    h.l.sb.book(&pending[0], &day(0)).await;
    h.synchronize().await;
    let changed = loop {
        let m = c.json().await;
        if m["id"] == "changed" {
            break m["payload"]["data"]["transactionChanged"].clone();
        }
    };
    assert_eq!(changed["remittanceInformation"], "card", "{changed}");
    assert_eq!(changed["status"], "PENDING");
    assert!(changed["supersededBy"].is_string(), "{changed}");

    // The bank drops a booked transaction: the reads that miss it remove it, and the
    // subscription shows it removed.
    h.l.sb.delete_transaction(&tx).await;
    h.synchronize().await;
    let org = h.l.app.store.ensure_organization("acme").await.unwrap();
    h.l.app.puller.read(org).await.unwrap();
    h.l.app.puller.read(org).await.unwrap();
    let removed = loop {
        let m = c.json().await;
        let t = &m["payload"]["data"]["transactionChanged"];
        if m["id"] == "changed" && t["removedAt"].is_string() {
            break t.clone();
        }
    };
    assert_eq!(removed["remittanceInformation"], "second", "{removed}");
}

/// A client resumes `events` from its last cursor while two writers (one per instance on
/// PostgreSQL) commit 50 events: it receives exactly those, in order, none twice, and at least
/// one of them was committed after the first replayed one reached it.
#[tokio::test(flavor = "multi_thread")]
async fn resuming_events_from_a_cursor_misses_nothing_and_repeats_nothing() {
    let first = TestApp::start().await;
    let org = first.store.ensure_organization("acme").await.unwrap();
    let token = first.full_token("acme");
    let mut c = WsClient::ready(&first.base, &token).await;
    c.subscribe("e", EVENTS, json!({})).await;
    started().await;
    for i in 0..3 {
        announce(&first, org, &format!("before {i}")).await;
    }
    let mut last = Value::Null;
    for _ in 0..3 {
        last = c.next_for("e").await["data"]["events"].clone();
    }
    assert_eq!(last["seq"], 3);
    drop(c);

    // On PostgreSQL the second writer is another instance; on SQLite (one process) the same.
    let second = if pg_admin_url().is_some() {
        Some(TestApp::builder().db(first.db.clone()).start().await)
    } else {
        None
    };
    let writers: Vec<_> = [0, 1]
        .into_iter()
        .map(|w| {
            let app = match (&second, w) {
                (Some(s), 1) => s,
                _ => &first,
            };
            let store = app.store.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    let e = Event::connection(
                        ConnectionEvent::Restored,
                        ConnectionData {
                            connection_id: "c".into(),
                            status: "CONNECTED".into(),
                            problems: vec![],
                            reason: Some(format!("writer {w} event {i}")),
                        },
                    );
                    let mut tx = store.begin_write().await.unwrap();
                    tx.append_event(org, &e, None).await.unwrap();
                    tx.commit().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
            })
        })
        .collect();
    // Some are committed while the client is away.
    crate::support::wait_until(Duration::from_secs(10), "writers under way", || async {
        let n = first.store.event_log_bounds(org).await.unwrap().last;
        (n >= 8).then_some(()).ok_or(format!("{n} committed"))
    })
    .await;
    let mut c = WsClient::ready(&first.base, &token).await;
    c.subscribe("e", EVENTS, json!({"a": last["cursor"]})).await;
    let mut got = vec![c.next_for("e").await["data"]["events"].clone()];
    let committed_then = first.store.event_log_bounds(org).await.unwrap().last;
    assert!(
        committed_then < 53,
        "the writers were still writing ({committed_then})"
    );
    while got.len() < 50 {
        got.push(c.next_for("e").await["data"]["events"].clone());
    }
    for w in writers {
        w.await.unwrap();
    }
    let seqs: Vec<i64> = got.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (4..=53).collect::<Vec<_>>(),
        "in order, none twice, none missed"
    );
    let mut reasons: Vec<&str> = got
        .iter()
        .map(|e| e["data"]["reason"].as_str().unwrap())
        .collect();
    reasons.sort();
    reasons.dedup();
    assert_eq!(reasons.len(), 50);
    c.silent_for(Duration::from_millis(300)).await;
}

/// PostgreSQL only (SQLite is one process): a webhook handled by one instance reaches a
/// subscriber of another, the real binary in a process of its own (running no background work,
/// so all it sees comes from the first); the listener connections killed in the middle of a
/// stream lose nothing once they reconnect.
#[tokio::test(flavor = "multi_thread")]
async fn events_cross_instances_and_survive_a_lost_listener() {
    if pg_admin_url().is_none() {
        return;
    }
    let h = hooked(&[]).await;
    let data = tempfile::tempdir().unwrap();
    let (child, base) = served::serve(
        &h.l.app.db.url,
        data.path(),
        0,
        &["--background-tasks", "false"],
    );
    let _other = served::KillOnDrop(child);
    let token = served::token(data.path(), "acme");
    let mut c = WsClient::ready(&base, &token).await;
    c.subscribe(
        "added",
        "subscription { transactionAdded { remittanceInformation } }",
        json!({}),
    )
    .await;
    c.subscribe("e", EVENTS, json!({"t": ["connection.broken"]}))
        .await;
    started().await;
    h.l.sb
        .transactions(
            &h.acc,
            json!({"amount": "3.00", "remittanceInformation": "crossed", "valueDate": day(0)}),
        )
        .await;
    h.synchronize().await;
    let m = c.next_for("added").await;
    assert_eq!(
        m["data"]["transactionAdded"]["remittanceInformation"], "crossed",
        "{m}"
    );

    let db = sea_orm::Database::connect(&h.l.app.db.url).await.unwrap();
    let listeners = |db: sea_orm::DatabaseConnection| async move {
        use sea_orm::{ConnectionTrait, Statement};
        let rows = db
            .query_all_raw(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'ponto-bridge-listener' AND datname = current_database()",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get::<i32>("", "pid").unwrap())
            .collect::<Vec<_>>()
    };
    let before = listeners(db.clone()).await;
    assert_eq!(before.len(), 2, "one listener per instance: {before:?}");
    let org = h.l.app.store.ensure_organization("acme").await.unwrap();
    for i in 0..10 {
        announce(&h.l.app, org, &format!("stream {i}")).await;
    }
    let mut reasons = Vec::new();
    while reasons.len() < 10 {
        reasons.push(
            c.next_for("e").await["data"]["events"]["data"]["reason"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let admin = sea_orm::Database::connect(pg_admin_url().unwrap())
        .await
        .unwrap();
    let sql = |text: String| {
        let db = admin.clone();
        async move {
            use sea_orm::{ConnectionTrait, Statement};
            db.execute_raw(Statement::from_string(sea_orm::DbBackend::Postgres, text))
                .await
                .unwrap();
        }
    };
    // The listeners killed, and kept from reconnecting (the pools' open connections go on).
    let name = url::Url::parse(&h.l.app.db.url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    sql(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await;
    sql(format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ponto-bridge-listener' AND datname = '{name}'")).await;
    for i in 10..20 {
        announce(&h.l.app, org, &format!("stream {i}")).await;
    }
    // Positive control: without a listener the other instance hears nothing.
    c.silent_for(Duration::from_millis(500)).await;
    sql(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await;
    // Only the replay after the reconnect finds them.
    while reasons.len() < 20 {
        reasons.push(
            c.next_for("e").await["data"]["events"]["data"]["reason"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        reasons,
        (0..20).map(|i| format!("stream {i}")).collect::<Vec<_>>()
    );
    crate::support::wait_until(Duration::from_secs(10), "listeners back", || async {
        let now = listeners(db.clone()).await;
        (now.len() == 2 && now.iter().all(|p| !before.contains(p)))
            .then_some(())
            .ok_or(format!("listeners {now:?}"))
    })
    .await;
    c.silent_for(Duration::from_millis(300)).await;
}
