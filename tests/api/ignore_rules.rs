//! Setting transactions aside and steering reconciliation, through GraphQL with payments from
//! the sandbox bank: keyword ignore rules over past and future transactions, restoring, what a
//! person decided on a pending transaction holding for its booked successor, the settings and
//! the audit trail.

use crate::desk::{Desk, amount, sales};
use crate::support::day;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn ignore_rules_cover_past_and_future_transactions_and_a_restored_one_comes_back() {
    let d = Desk::start(json!([
        {"amount": "-12.50", "remittanceInformation": "Bank fees November", "valueDate": day(-4)},
        {"amount": "75.00", "remittanceInformation": "factuur 2026-0200 deel 1", "valueDate": day(-3)},
        {"amount": "121.00", "remittanceInformation": "+++111/2223/33491+++", "valueDate": day(-2)}]))
    .await;
    d.upsert(json!([
        sales("N", "2026-0200", "150.00", None),
        sales("R", "2026-0201", "121.00", Some("+++111/2223/33491+++"))
    ]))
    .await;
    assert_eq!(d.invoice("R").await["status"], "PAID");
    assert_eq!(
        d.unallocated().await,
        ["Bank fees November", "factuur 2026-0200 deel 1"]
    );
    assert_eq!(
        d.invoice("N").await["suggestions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let create = "mutation($k: String!, $d: Direction) { createIgnoreRule(input: {keyword: $k, direction: $d}) { ignoreRule { id keyword direction } ignoredCount userErrors { code field } } }";
    let fees = d
        .data(create, json!({"k": "bank   FEES", "d": "OUTGOING"}))
        .await["createIgnoreRule"]
        .take();
    assert_eq!(fees["ignoredCount"], 1, "{fees}");
    let fee = d.tx("Bank fees November").await;
    let t = d.transaction(&fee).await;
    assert_eq!(t["ignored"], true);
    assert_eq!(t["ignoredReason"], "keyword rule \"bank   FEES\"");
    assert_eq!(t["ignoredBy"], "tester");
    assert_eq!(d.unallocated().await, ["factuur 2026-0200 deel 1"]);
    // The same keyword (any case and spacing) and direction again: refused.
    let dup = d
        .data(create, json!({"k": "Bank Fees", "d": "OUTGOING"}))
        .await["createIgnoreRule"]
        .take();
    assert_eq!(dup["userErrors"][0]["code"], "CONFLICT", "{dup}");
    let short = d.data(create, json!({"k": " x "})).await["createIgnoreRule"].take();
    assert_eq!(short["userErrors"][0]["code"], "INVALID", "{short}");

    // A past transaction with a suggestion: set aside, its suggestion gone.
    let part = d.data(create, json!({"k": "deel 1"})).await["createIgnoreRule"].take();
    assert_eq!(part["ignoredCount"], 1, "{part}");
    assert_eq!(d.invoice("N").await["suggestions"], json!([]));
    let partial = d.tx("factuur 2026-0200 deel 1").await;
    let q = "query($t: ID) { matchSuggestions(transactionId: $t) { evidence } }";
    assert_eq!(
        d.data(q, json!({"t": partial})).await["matchSuggestions"],
        json!([])
    );
    assert!(d.unallocated().await.is_empty());

    // A future one, as it is imported.
    d.l.sb
        .transactions(&d.acc, json!([{"amount": "-9.99", "remittanceInformation": "BANK fees december", "valueDate": day(0)}]))
        .await;
    d.bank_read().await;
    let december = d.tx("BANK fees december").await;
    assert_eq!(d.transaction(&december).await["ignored"], true);
    assert!(d.unallocated().await.is_empty());

    // Restored by a person: back in the list, reconsidered (its suggestion is back), and no rule
    // sets it aside again when the bank changes it.
    let restore = "mutation($t: ID!) { restoreTransaction(input: {transactionId: $t}) { transaction { ignored } userErrors { code } } }";
    let back = d.data(restore, json!({"t": partial})).await["restoreTransaction"].take();
    assert_eq!(back["transaction"]["ignored"], false, "{back}");
    assert_eq!(d.unallocated().await, ["factuur 2026-0200 deel 1"]);
    assert_eq!(
        d.invoice("N").await["suggestions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let sandbox = d.acc_tx(&partial).await;
    let updates = d.bank_updates().await;
    d.l.sb
        .change_transaction(&sandbox, json!({"description": "again"}))
        .await;
    d.bank_read().await;
    assert_eq!(d.bank_updates().await, updates + 1, "the change was read");
    assert_eq!(d.transaction(&partial).await["ignored"], false);

    // Ignoring a paying transaction by hand reverses its payment; restoring it pays again.
    let paying = d.tx("+++111/2223/33491+++").await;
    let ignore = "mutation($t: ID!, $r: String) { ignoreTransaction(input: {transactionId: $t, reason: $r}) { transaction { ignored ignoredReason } userErrors { code } } }";
    let set = d
        .data(ignore, json!({"t": paying, "r": "a refund, not a payment"}))
        .await["ignoreTransaction"]
        .take();
    assert_eq!(
        set["transaction"]["ignoredReason"], "a refund, not a payment",
        "{set}"
    );
    assert_eq!(d.invoice("R").await["status"], "OPEN");
    let again = d.data(ignore, json!({"t": paying})).await["ignoreTransaction"].take();
    assert_eq!(again["userErrors"][0]["code"], "CONFLICT");
    d.data(restore, json!({"t": paying})).await;
    assert_eq!(
        d.invoice("R").await["status"],
        "PAID",
        "reconsidered by the engine"
    );
    assert_eq!(
        d.invoice_events().await,
        ["invoice.paid", "invoice.payment_reversed", "invoice.paid"]
    );

    // Deleting the fee rule brings back what it set aside.
    let delete = "mutation($id: ID!) { deleteIgnoreRule(input: {id: $id}) { deletedIgnoreRuleId restoredCount userErrors { code } } }";
    let gone = d
        .data(delete, json!({"id": fees["ignoreRule"]["id"]}))
        .await["deleteIgnoreRule"]
        .take();
    assert_eq!(gone["restoredCount"], 2, "{gone}");
    assert_eq!(
        d.unallocated().await,
        [
            "BANK fees december",
            "Bank fees November",
            "factuur 2026-0200 deel 1"
        ]
    );
    let rules = d
        .data("{ ignoreRules { keyword direction } }", json!({}))
        .await;
    assert_eq!(
        rules["ignoreRules"],
        json!([{"keyword": "deel 1", "direction": null}])
    );

    let actions: Vec<(String, Value)> = d
        .audit()
        .await
        .into_iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("IGNORE_RULE_DELETED".into(), Value::Null),
            ("TRANSACTION_RESTORED".into(), Value::Null),
            (
                "TRANSACTION_IGNORED".into(),
                json!("a refund, not a payment")
            ),
            ("TRANSACTION_RESTORED".into(), Value::Null),
            ("IGNORE_RULE_CREATED".into(), Value::Null),
            ("IGNORE_RULE_CREATED".into(), Value::Null),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_need_admin_apply_to_later_runs_and_are_audited() {
    let d = Desk::start(json!([
        {"amount": "99.97", "remittanceInformation": "+++555/6667/77880+++", "valueDate": day(-1)}]))
    .await;
    let m = "mutation($t: Decimal, $s: ReferenceStyle) { updateReconciliationSettings(input: {matchTolerance: $t, referenceStyle: $s}) { settings { matchTolerance referenceStyle } userErrors { code field } } }";
    for (t, code) in [
        ("-0.01", "OUT_OF_RANGE"),
        ("100.01", "OUT_OF_RANGE"),
        ("0.001", "TOO_MANY_DECIMALS"),
    ] {
        let got = d.data(m, json!({"t": t})).await["updateReconciliationSettings"].take();
        assert_eq!(got["userErrors"][0]["code"], code, "{t}: {got}");
        assert_eq!(got["userErrors"][0]["field"], json!(["matchTolerance"]));
    }
    let writer = d.l.app.token(
        "acme",
        &[
            ponto_bridge::domain::scope::Scope::Read,
            ponto_bridge::domain::scope::Scope::Write,
        ],
    );
    let refused = d.l.app.gql(&writer, m, json!({"t": "0.05"})).await;
    assert_eq!(
        crate::support::error_code(&refused),
        Some("FORBIDDEN"),
        "{refused}"
    );

    // Without tolerance 99.97 leaves 100.00 partially paid...
    d.upsert(json!([sales(
        "T0",
        "2026-0400",
        "100.00",
        Some("+++555/6667/77880+++")
    )]))
    .await;
    assert_eq!(d.invoice("T0").await["status"], "PARTIALLY_PAID");
    let got =
        d.data(m, json!({"t": "0.05", "s": "RF"})).await["updateReconciliationSettings"].take();
    assert_eq!(
        got["settings"],
        json!({"matchTolerance": "0.05", "referenceStyle": "RF"}),
        "{got}"
    );
    let q = "{ reconciliationSettings { matchTolerance referenceStyle } }";
    assert_eq!(
        d.data(q, json!({})).await["reconciliationSettings"],
        got["settings"]
    );
    // ...and with it the next run pays it, writing off the difference.
    let mut changed = sales("T0", "2026-0400", "100.00", Some("+++555/6667/77880+++"));
    changed["counterpartyName"] = json!("Customer NV, renamed");
    d.upsert(json!([changed])).await;
    let inv = d.invoice("T0").await;
    assert_eq!(inv["status"], "PAID", "{inv}");
    assert_eq!(amount(&inv["writtenOffAmount"]), "0.03");
    // New sales invoices get creditor references.
    d.upsert(json!([sales("T1", "2026-0401", "10.00", None)]))
        .await;
    let r = d.invoice("T1").await["structuredReference"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(r.starts_with("RF"), "{r}");

    let audit = d.audit().await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["action"], "SETTINGS_CHANGED");
    assert_eq!(
        audit[0]["details"],
        json!({"before": {"matchToleranceMinor": 0, "referenceStyle": "OGM"},
               "after": {"matchToleranceMinor": 5, "referenceStyle": "RF"}})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_person_decided_on_a_pending_transaction_holds_for_its_booked_successor() {
    let d = Desk::start(json!([
        {"amount": "-3.00", "remittanceInformation": "monthly fees", "pending": true, "endToEndId": "E2E-FEES"},
        {"amount": "-8.40", "remittanceInformation": "lunch card", "pending": true, "endToEndId": "E2E-LUNCH"}]))
    .await;
    let create = "mutation { createIgnoreRule(input: {keyword: \"fees\"}) { ignoredCount userErrors { code } } }";
    assert_eq!(
        d.data(create, json!({})).await["createIgnoreRule"]["ignoredCount"],
        1
    );
    let fees = d.tx("monthly fees").await;
    let lunch = d.tx("lunch card").await;
    // The rule's ignore undone by a person; another set aside by hand.
    let restore = "mutation($t: ID!) { restoreTransaction(input: {transactionId: $t}) { userErrors { code } } }";
    assert_eq!(
        d.data(restore, json!({"t": fees})).await["restoreTransaction"]["userErrors"],
        json!([])
    );
    let ignore = "mutation($t: ID!) { ignoreTransaction(input: {transactionId: $t, reason: \"staff lunch\"}) { userErrors { code } } }";
    assert_eq!(
        d.data(ignore, json!({"t": lunch})).await["ignoreTransaction"]["userErrors"],
        json!([])
    );

    // The bank books both under new ids.
    for t in [&fees, &lunch] {
        d.l.sb.book(&d.acc_tx(t).await, &day(0)).await;
    }
    d.bank_read().await;
    let q = "query($t: String) { transactions(first: 10, filter: {text: $t}) { edges { node { status ignored ignoredReason ignoredBy } } } }";
    let desk = &d;
    let booked = |text: &'static str| async move {
        let got = desk.data(q, json!({"t": text})).await;
        let rows: Vec<Value> = got["transactions"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .filter(|n| n["status"] == "BOOKED")
            .collect();
        assert_eq!(rows.len(), 1, "{text}: {got}");
        rows[0].clone()
    };
    let f = booked("monthly fees").await;
    assert_eq!(f["ignored"], false, "restored stays restored: {f}");
    let l = booked("lunch card").await;
    assert_eq!(l["ignored"], true, "{l}");
    assert_eq!(l["ignoredReason"], "staff lunch");
    assert_eq!(l["ignoredBy"], "tester");
    assert_eq!(d.unallocated().await, ["monthly fees"]);
}
