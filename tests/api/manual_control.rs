//! Manual control of reconciliation through GraphQL, with payments from the sandbox bank:
//! accepting a suggestion and unmatching (each announced once), refusals that carry their code
//! and change nothing, a reversed automatic match and a dismissed suggestion that stay so through
//! later imports and upserts, keyword ignore rules over past and future transactions, restoring,
//! the settings and the audit trail.

use crate::support::{Linked, day, wait_until};
use chrono::Duration;
use serde_json::{Value, json};
use std::time::Duration as Wait;

const INVOICE: &str = "query($e: String) { invoice(externalId: $e) { id status openAmount { amount }
    writtenOffAmount { amount } paymentPending overdue structuredReference
    matches { id rule method evidence createdBy reversedAt reversedBy amount { amount } transaction { id } }
    suggestions { basis evidence confidence pending transaction { id } } } }";

const TRANSACTION: &str = "query($id: ID!) { node(id: $id) { ... on BankTransaction { id ignored
    ignoredReason ignoredBy unallocatedAmount { amount }
    matches { id reversedAt invoice { number } }
    suggestions { evidence invoice { number } } } } }";

const MATCH: &str = "mutation($t: ID!, $i: ID!, $a: Decimal) { matchTransaction(input: {transactionId: $t, invoiceId: $i, amount: $a}) {
    match { id rule method evidence createdBy amount { amount } } invoice { status openAmount { amount } }
    transaction { unallocatedAmount { amount } } userErrors { field message code } } }";

const UNMATCH: &str = "mutation($m: ID!, $r: String) { unmatchTransaction(input: {matchId: $m, reason: $r}) {
    match { reversedAt reversedBy } invoice { status openAmount { amount } } userErrors { code } } }";

const UPSERT: &str = "mutation($i: [InvoiceInput!]!) { upsertInvoices(input: {invoices: $i}) { userErrors { code message } } }";

/// One tenant linked to one sandbox account.
struct Desk {
    l: Linked,
    token: String,
    ponto_org: String,
    acc: String,
}

fn sales(ext: &str, number: &str, total: &str, reference: Option<&str>) -> Value {
    json!({"externalId": ext, "kind": "SALES_INVOICE", "number": number, "currency": "EUR",
           "total": total, "issueDate": day(-30), "dueDate": day(-2), "structuredReference": reference,
           "counterpartyName": "Customer NV"})
}

impl Desk {
    /// Links "acme" with these transactions at the bank, and waits for their import.
    async fn start(txs: Value) -> Desk {
        let l = Linked::start(&[]).await;
        let ponto_org = l.sb.org("Acme BV").await;
        let acc = l.sb.account(&ponto_org, json!({})).await;
        let n = txs.as_array().unwrap().len();
        l.sb.transactions(&acc, txs).await;
        let token = l.token("acme");
        let landing = l.connect(&token, &ponto_org, &[&acc], true, false).await;
        assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
        l.reads_settled("acme").await;
        wait_until(Wait::from_secs(15), "the first import", || async {
            l.transactions(&token, false).await.len() == n
        })
        .await;
        Desk {
            l,
            token,
            ponto_org,
            acc,
        }
    }

    async fn data(&self, q: &str, vars: Value) -> Value {
        self.l.app.gql_data(&self.token, q, vars).await
    }

    async fn upsert(&self, items: Value) {
        let d = self.data(UPSERT, json!({"i": items})).await;
        assert_eq!(d["upsertInvoices"]["userErrors"], json!([]), "{d}");
    }

    async fn invoice(&self, ext: &str) -> Value {
        self.data(INVOICE, json!({"e": ext})).await["invoice"].take()
    }

    async fn transaction(&self, id: &str) -> Value {
        self.data(TRANSACTION, json!({"id": id})).await["node"].take()
    }

    /// The id of the (live) transaction whose remittance information is `text`.
    async fn tx(&self, text: &str) -> String {
        let q = "query($t: String) { transactions(first: 100, filter: {text: $t}) { edges { node { id remittanceInformation } } } }";
        let d = self.data(q, json!({"t": text})).await;
        let found: Vec<&Value> = d["transactions"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["node"]["remittanceInformation"] == text)
            .collect();
        assert_eq!(found.len(), 1, "one transaction reads {text:?}: {d}");
        found[0]["node"]["id"].as_str().unwrap().to_owned()
    }

    /// Remittance texts of the transactions left to allocate.
    async fn unallocated(&self) -> Vec<String> {
        let q = "{ transactions(first: 100, filter: {unallocated: true}) { edges { node { remittanceInformation } } } }";
        let d = self.data(q, json!({})).await;
        let mut out: Vec<String> = d["transactions"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e["node"]["remittanceInformation"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        out.sort();
        out
    }

    async fn invoice_events(&self) -> Vec<String> {
        self.l
            .event_types("acme")
            .await
            .into_iter()
            .filter(|t| t.starts_with("invoice."))
            .collect()
    }

    /// A Ponto-side synchronization, then the next scheduled read.
    async fn bank_read(&self) {
        self.l.reads_settled("acme").await;
        self.l
            .sb
            .organization_does(&self.ponto_org, "synchronize")
            .await;
        self.l.clock.advance(Duration::minutes(61));
        self.l.reads_settled("acme").await;
    }

    async fn audit(&self) -> Vec<Value> {
        let q =
            "{ auditLog(first: 100) { edges { node { action actor subjectId reason details } } } }";
        let d = self.data(q, json!({})).await;
        d["auditLog"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .collect()
    }
}

fn amount(v: &Value) -> &str {
    v["amount"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn accepting_a_suggestion_pays_once_and_unmatching_reverses_once() {
    let d = Desk::start(json!([
        // One typing slip away from S's reference: only ever a suggestion.
        {"amount": "300.00", "remittanceInformation": "+++090/9373/55493+++", "valueDate": day(-3)},
        {"amount": "121.00", "remittanceInformation": "+++123/4567/89002+++", "valueDate": day(-2)}]))
    .await;
    d.upsert(json!([
        sales("S", "2026-0101", "300.00", Some("+++090/9337/55493+++")),
        sales("A", "2026-0102", "121.00", Some("+++123/4567/89002+++"))
    ]))
    .await;
    let typo = d.tx("+++090/9373/55493+++").await;
    let paying = d.tx("+++123/4567/89002+++").await;
    assert_eq!(d.invoice("A").await["status"], "PAID");
    assert_eq!(d.invoice_events().await, ["invoice.paid"]);

    // The suggestion, both ways, in words.
    let s = d.invoice("S").await;
    assert_eq!(s["status"], "OPEN");
    assert_eq!(s["overdue"], true);
    let q = "query($t: ID, $i: ID) { matchSuggestions(transactionId: $t, invoiceId: $i) { basis evidence confidence invoice { number } transaction { id } } }";
    for vars in [json!({"i": s["id"]}), json!({"t": typo})] {
        let got = d.data(q, vars).await["matchSuggestions"].take();
        assert_eq!(got.as_array().unwrap().len(), 1, "{got}");
        assert_eq!(got[0]["basis"], "NEAR_REFERENCE");
        assert_eq!(got[0]["invoice"]["number"], "2026-0101");
        assert_eq!(got[0]["transaction"]["id"], typo.as_str());
        let words = got[0]["evidence"].as_str().unwrap();
        assert!(
            words.contains("+++090/9337/55493+++") && words.contains("2026-0101"),
            "{words}"
        );
    }
    assert_eq!(s["suggestions"][0]["transaction"]["id"], typo.as_str());

    // Accepting it is one mutation: paid, announced once.
    let done = d.data(MATCH, json!({"t": typo, "i": s["id"]})).await["matchTransaction"].take();
    assert_eq!(done["userErrors"], json!([]), "{done}");
    assert_eq!(done["match"]["rule"], "MANUAL");
    assert_eq!(done["match"]["method"], "MANUAL");
    assert_eq!(done["match"]["createdBy"], "tester");
    assert_eq!(amount(&done["match"]["amount"]), "300.00");
    assert!(
        done["match"]["evidence"]
            .as_str()
            .unwrap()
            .starts_with("accepted suggestion: ")
    );
    assert_eq!(done["invoice"]["status"], "PAID");
    assert_eq!(amount(&done["transaction"]["unallocatedAmount"]), "0.00");
    assert_eq!(d.invoice_events().await, ["invoice.paid", "invoice.paid"]);
    assert_eq!(
        d.invoice("S").await["suggestions"],
        json!([]),
        "accepted, not suggested"
    );
    assert!(d.unallocated().await.is_empty());

    // The same pair again: refused, nothing written.
    let again = d.data(MATCH, json!({"t": typo, "i": s["id"]})).await["matchTransaction"].take();
    assert_eq!(again["userErrors"][0]["code"], "CONFLICT", "{again}");
    assert_eq!(d.invoice_events().await.len(), 2);

    // Unmatching restores the open amount, announced once.
    let m = done["match"]["id"].clone();
    let undone = d
        .data(UNMATCH, json!({"m": m, "r": "wrong customer"}))
        .await["unmatchTransaction"]
        .take();
    assert_eq!(undone["userErrors"], json!([]), "{undone}");
    assert_eq!(undone["match"]["reversedBy"], "tester");
    assert_eq!(undone["invoice"]["status"], "OPEN");
    assert_eq!(amount(&undone["invoice"]["openAmount"]), "300.00");
    assert_eq!(
        d.invoice_events().await,
        ["invoice.paid", "invoice.paid", "invoice.payment_reversed"]
    );
    assert_eq!(
        amount(&d.transaction(&typo).await["unallocatedAmount"]),
        "300.00"
    );
    let twice = d.data(UNMATCH, json!({"m": m})).await["unmatchTransaction"].take();
    assert_eq!(twice["userErrors"][0]["code"], "CONFLICT");
    assert_eq!(d.invoice_events().await.len(), 3);

    // An automatic match a person reverses stays reversed through upserts and imports.
    let a = d.invoice("A").await;
    let auto = a["matches"][0]["id"].clone();
    let undone = d.data(UNMATCH, json!({"m": auto})).await["unmatchTransaction"].take();
    assert_eq!(undone["invoice"]["status"], "OPEN", "{undone}");
    let mut changed = sales("A", "2026-0102", "121.00", Some("+++123/4567/89002+++"));
    changed["counterpartyName"] = json!("Customer NV, renamed");
    d.upsert(json!([changed])).await;
    d.l.sb
        .change_transaction(
            &d.acc_tx(&paying).await,
            json!({"additionalInformation": "re-sent"}),
        )
        .await;
    d.bank_read().await;
    let a = d.invoice("A").await;
    assert_eq!(a["status"], "OPEN", "{a}");
    assert!(
        a["matches"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| !m["reversedAt"].is_null())
    );
    // It may still be suggested, saying why it is not applied.
    let why = a["suggestions"][0]["evidence"].as_str().unwrap_or_default();
    assert!(why.contains("a person undid this match"), "{a}");
    assert_eq!(
        d.invoice_events().await,
        [
            "invoice.paid",
            "invoice.paid",
            "invoice.payment_reversed",
            "invoice.payment_reversed"
        ]
    );

    let actions: Vec<String> = d
        .audit()
        .await
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            "TRANSACTION_UNMATCHED tester",
            "TRANSACTION_UNMATCHED tester",
            "TRANSACTION_MATCHED tester"
        ],
        "newest first"
    );
}

impl Desk {
    /// The sandbox's id of one of our transactions.
    async fn acc_tx(&self, id: &str) -> String {
        let (_, uuid) = ponto_bridge::graphql::ids::decode(id).unwrap();
        let org = self.l.app.store.ensure_organization("acme").await.unwrap();
        self.l
            .app
            .store
            .transaction(org, uuid.into())
            .await
            .unwrap()
            .unwrap()
            .ponto_id
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_carry_their_code_and_change_nothing() {
    let d = Desk::start(json!([
        {"amount": "50.00", "remittanceInformation": "order 77", "valueDate": day(-3)},
        {"amount": "20.00", "remittanceInformation": "on its way", "pending": true}]))
    .await;
    let purchase = json!({"externalId": "P", "kind": "PURCHASE_INVOICE", "number": "SUP-9",
        "currency": "EUR", "total": "50.00", "issueDate": day(-30)});
    let mut usd = sales("U", "2026-0202", "50.00", None);
    usd["currency"] = json!("USD");
    d.upsert(json!([
        sales("O", "2026-0201", "30.00", None),
        sales("O2", "2026-0203", "25.00", None),
        sales("V", "2026-0204", "40.00", None),
        usd,
        purchase
    ]))
    .await;
    let void = "mutation { voidInvoice(input: {externalId: \"V\"}) { userErrors { code } } }";
    assert_eq!(
        d.data(void, json!({})).await["voidInvoice"]["userErrors"],
        json!([])
    );
    let t = d.tx("order 77").await;
    let pending = d.tx("on its way").await;
    let desk = &d;
    let id = |ext: &'static str| async move {
        desk.invoice(ext).await["id"].as_str().unwrap().to_owned()
    };
    let (o, o2, u, v, p) = (
        id("O").await,
        id("O2").await,
        id("U").await,
        id("V").await,
        id("P").await,
    );

    let snapshot = || async {
        let mut s = Vec::new();
        for ext in ["O", "O2", "U", "V", "P"] {
            let i = d.invoice(ext).await;
            s.push(json!([i["status"], i["openAmount"], i["matches"]]));
        }
        s.push(d.transaction(&t).await);
        s.push(json!(d.invoice_events().await));
        s.push(json!(d.audit().await.len()));
        s
    };
    let before = snapshot().await;
    let fake = ponto_bridge::graphql::ids::encode("Invoice", uuid::Uuid::now_v7());
    for (tx, inv, a, code, field) in [
        (
            &t,
            &o,
            Some("60.00"),
            "ALLOCATION_EXCEEDS_UNALLOCATED",
            "amount",
        ),
        (&t, &u, None, "CURRENCY_MISMATCH", "invoiceId"),
        (&t, &v, None, "INVOICE_VOID", "invoiceId"),
        (&t, &p, None, "WRONG_DIRECTION", "invoiceId"),
        (&pending, &o, None, "TRANSACTION_PENDING", "transactionId"),
        (&t, &o, Some("0"), "NOT_POSITIVE", "amount"),
        (&t, &o, Some("1.001"), "TOO_MANY_DECIMALS", "amount"),
        (&t, &fake, None, "NOT_FOUND", "invoiceId"),
        (&o, &o, None, "NOT_FOUND", "transactionId"),
    ] {
        let got =
            d.data(MATCH, json!({"t": tx, "i": inv, "a": a})).await["matchTransaction"].take();
        assert_eq!(got["userErrors"][0]["code"], code, "{got}");
        assert_eq!(got["userErrors"][0]["field"], json!([field]), "{got}");
        assert!(got["match"].is_null());
    }
    assert_eq!(snapshot().await, before, "refusals change nothing");

    // Positive control: partial allocations, then what is left.
    let got = d.data(MATCH, json!({"t": t, "i": o, "a": "30.00"})).await["matchTransaction"].take();
    assert_eq!(got["userErrors"], json!([]), "{got}");
    assert_eq!(got["invoice"]["status"], "PAID");
    assert_eq!(amount(&got["transaction"]["unallocatedAmount"]), "20.00");
    assert_eq!(d.unallocated().await, ["order 77"]);
    let got =
        d.data(MATCH, json!({"t": t, "i": o2, "a": "25.00"})).await["matchTransaction"].take();
    assert_eq!(
        got["userErrors"][0]["code"], "ALLOCATION_EXCEEDS_UNALLOCATED",
        "{got}"
    );
    let got = d.data(MATCH, json!({"t": t, "i": o2})).await["matchTransaction"].take();
    assert_eq!(amount(&got["match"]["amount"]), "20.00", "{got}");
    assert_eq!(got["invoice"]["status"], "PARTIALLY_PAID");
    assert!(
        d.unallocated().await.is_empty(),
        "the pending one is never listed"
    );
    assert_eq!(
        d.invoice_events().await,
        ["invoice.paid", "invoice.partially_paid"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dismissed_suggestion_does_not_come_back() {
    let d = Desk::start(json!([
        {"amount": "40.00", "remittanceInformation": "invoice 2026-0300", "valueDate": day(-3)},
        {"amount": "10.00", "remittanceInformation": "invoice 2026-0301", "valueDate": day(-3)}]))
    .await;
    d.upsert(json!([
        sales("D", "2026-0300", "100.00", None),
        sales("K", "2026-0301", "100.00", None)
    ]))
    .await;
    let t = d.tx("invoice 2026-0300").await;
    let kept = d.tx("invoice 2026-0301").await;
    let dv = d.invoice("D").await;
    assert_eq!(dv["suggestions"][0]["basis"], "INVOICE_NUMBER", "{dv}");
    assert_eq!(
        d.invoice("K").await["suggestions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let m = "mutation($t: ID!, $i: ID!) { dismissSuggestion(input: {transactionId: $t, invoiceId: $i}) { invoice { suggestions { evidence } } userErrors { code } } }";
    let done = d.data(m, json!({"t": t, "i": dv["id"]})).await["dismissSuggestion"].take();
    assert_eq!(done["userErrors"], json!([]), "{done}");
    assert_eq!(done["invoice"]["suggestions"], json!([]));

    // Both invoices upserted again and both transactions changed by the bank: K's suggestion is
    // made again (the control), D's is not.
    let mut d2 = sales("D", "2026-0300", "100.00", None);
    d2["counterpartyName"] = json!("Customer NV, renamed");
    let mut k2 = sales("K", "2026-0301", "100.00", None);
    k2["counterpartyName"] = json!("Customer NV, renamed");
    d.upsert(json!([d2, k2])).await;
    for id in [&t, &kept] {
        let sandbox = d.acc_tx(id).await;
        d.l.sb
            .change_transaction(&sandbox, json!({"additionalInformation": "again"}))
            .await;
    }
    d.bank_read().await;
    assert_eq!(d.invoice("D").await["suggestions"], json!([]));
    let q = "query($t: ID) { matchSuggestions(transactionId: $t) { evidence } }";
    assert_eq!(
        d.data(q, json!({"t": t})).await["matchSuggestions"],
        json!([])
    );
    assert_eq!(
        d.invoice("K").await["suggestions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let again = d.data(m, json!({"t": t, "i": dv["id"]})).await["dismissSuggestion"].take();
    assert_eq!(again["userErrors"][0]["code"], "NOT_FOUND");
}

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
    d.l.sb
        .change_transaction(&sandbox, json!({"additionalInformation": "again"}))
        .await;
    d.bank_read().await;
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
