//! Manual control of reconciliation through GraphQL, with payments from the sandbox bank:
//! accepting a suggestion and unmatching (each announced once), refusals that carry their code
//! and change nothing, a reversed automatic match and a dismissed suggestion that stay so through
//! later imports and upserts.

use crate::desk::{Desk, MATCH, UNMATCH, amount, sales};
use crate::support::day;
use serde_json::{Value, json};

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
        let confidence = got[0]["confidence"].as_i64().unwrap();
        assert!(
            (1..100).contains(&confidence),
            "a suggestion is never certain: {got}"
        );
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
    let updates = d.bank_updates().await;
    d.l.sb
        .change_transaction(&d.acc_tx(&paying).await, json!({"description": "re-sent"}))
        .await;
    d.bank_read().await;
    assert_eq!(d.bank_updates().await, updates + 1, "the change was read");
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

    // Both invoices upserted again, both transactions changed by the bank, and a new payment
    // naming D: D is suggested the new payment (the control: its suggestions were made again),
    // never the dismissed one.
    let mut d2 = sales("D", "2026-0300", "100.00", None);
    d2["counterpartyName"] = json!("Customer NV, renamed");
    let mut k2 = sales("K", "2026-0301", "100.00", None);
    k2["counterpartyName"] = json!("Customer NV, renamed");
    d.upsert(json!([d2, k2])).await;
    let updates = d.bank_updates().await;
    for id in [&t, &kept] {
        let sandbox = d.acc_tx(id).await;
        d.l.sb
            .change_transaction(&sandbox, json!({"description": "again"}))
            .await;
    }
    d.l.sb
        .transactions(
            &d.acc,
            json!([{"amount": "30.00", "remittanceInformation": "invoice 2026-0300 rest", "valueDate": day(-1)}]),
        )
        .await;
    d.bank_read().await;
    assert_eq!(
        d.bank_updates().await,
        updates + 2,
        "both changes were read"
    );
    let rest = d.tx("invoice 2026-0300 rest").await;
    let dv = d.invoice("D").await;
    let suggested: Vec<&Value> = dv["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["transaction"]["id"])
        .collect();
    assert_eq!(suggested, [&json!(rest)], "{dv}");
    let q = "query($t: ID) { matchSuggestions(transactionId: $t) { evidence } }";
    assert_eq!(
        d.data(q, json!({"t": t})).await["matchSuggestions"],
        json!([])
    );
    assert_eq!(
        d.invoice("K").await["suggestions"][0]["transaction"]["id"],
        json!(kept)
    );
    let again = d.data(m, json!({"t": t, "i": dv["id"]})).await["dismissSuggestion"].take();
    assert_eq!(again["userErrors"][0]["code"], "NOT_FOUND");
}

/// What the desk filters on: overdue and payment-pending invoices (and their complements), the
/// transactions left to allocate and the others, and what a transaction says it paid.
#[tokio::test(flavor = "multi_thread")]
async fn the_desk_filters_by_payment_state_and_due_date() {
    let d = Desk::start(json!([
        {"amount": "121.00", "remittanceInformation": "+++123/4567/89002+++", "valueDate": day(-2)},
        {"amount": "45.00", "remittanceInformation": "no clue", "valueDate": day(-2)},
        {"amount": "80.00", "remittanceInformation": "invoice 2026-0403", "pending": true}]))
    .await;
    let mut later = sales("F", "2026-0404", "70.00", None);
    later["dueDate"] = json!(day(10));
    let mut pending = sales("P", "2026-0403", "80.00", None);
    pending["dueDate"] = json!(day(5));
    d.upsert(json!([
        sales("A", "2026-0401", "121.00", Some("+++123/4567/89002+++")),
        sales("O", "2026-0402", "70.00", None),
        pending,
        later
    ]))
    .await;
    let numbers = |filter: Value| {
        let d = &d;
        async move {
            let q = "query($f: InvoiceFilterInput) { invoices(first: 50, filter: $f) { edges { node { number } } } }";
            let got = d.data(q, json!({"f": filter})).await;
            let mut out: Vec<String> = got["invoices"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["number"].as_str().unwrap().to_owned())
                .collect();
            out.sort();
            out
        }
    };
    assert_eq!(numbers(json!({"overdue": true})).await, ["2026-0402"]);
    assert_eq!(
        numbers(json!({"overdue": false})).await,
        ["2026-0401", "2026-0403", "2026-0404"],
        "paid or not due yet"
    );
    assert_eq!(
        numbers(json!({"paymentPending": true})).await,
        ["2026-0403"]
    );
    assert_eq!(
        numbers(json!({"paymentPending": false})).await,
        ["2026-0401", "2026-0402", "2026-0404"]
    );
    assert_eq!(
        numbers(json!({"overdue": false, "paymentPending": false})).await,
        ["2026-0401", "2026-0404"]
    );

    assert_eq!(d.unallocated().await, ["no clue"]);
    assert_eq!(
        d.texts_where_unallocated(false).await,
        ["+++123/4567/89002+++", "invoice 2026-0403"],
        "paid in full, or pending"
    );

    // What each transaction says about itself.
    let paying = d.transaction(&d.tx("+++123/4567/89002+++").await).await;
    assert_eq!(
        paying["matches"][0]["invoice"]["number"], "2026-0401",
        "{paying}"
    );
    assert!(paying["matches"][0]["reversedAt"].is_null());
    assert_eq!(paying["suggestions"], json!([]));
    assert_eq!(amount(&paying["unallocatedAmount"]), "0.00");
    let on_its_way = d.transaction(&d.tx("invoice 2026-0403").await).await;
    assert_eq!(on_its_way["matches"], json!([]), "{on_its_way}");
    let clueless = d.transaction(&d.tx("no clue").await).await;
    assert_eq!(clueless["matches"], json!([]));
    assert_eq!(clueless["suggestions"], json!([]));
    assert_eq!(amount(&clueless["unallocatedAmount"]), "45.00");
}

/// Ten people matching one payment at once over two instances, each to a different invoice of
/// its full amount: the organization's lock lets exactly one allocation through, the others are
/// refused with the allocation code, and one invoice is paid, announced once.
#[tokio::test(flavor = "multi_thread")]
async fn matches_of_one_payment_at_once_over_two_instances_allocate_it_once() {
    let d = Desk::start(json!([
        {"amount": "50.00", "remittanceInformation": "order 88", "valueDate": day(-3)}]))
    .await;
    let invoices: Vec<Value> = (0..10)
        .map(|i| sales(&format!("C{i}"), &format!("2026-05{i:02}"), "50.00", None))
        .collect();
    d.upsert(json!(invoices)).await;
    let t = d.tx("order 88").await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(d.invoice(&format!("C{i}")).await["id"].clone());
    }
    let second = d.l.second_instance().await;
    let calls = ids.iter().enumerate().map(|(k, i)| {
        let instance = if k % 2 == 0 { &d.l.app } else { &second };
        instance.gql_data(&d.token, MATCH, json!({"t": t, "i": i}))
    });
    let results = futures::future::join_all(calls).await;
    let codes: Vec<Value> = results
        .iter()
        .map(|r| r["matchTransaction"]["userErrors"][0]["code"].clone())
        .collect();
    assert_eq!(
        codes.iter().filter(|c| c.is_null()).count(),
        1,
        "exactly one allocation: {results:?}"
    );
    assert!(
        codes
            .iter()
            .all(|c| c.is_null() || c == "ALLOCATION_EXCEEDS_UNALLOCATED"),
        "{codes:?}"
    );
    let paid = d.transaction(&t).await;
    assert_eq!(amount(&paid["unallocatedAmount"]), "0.00", "{paid}");
    assert_eq!(paid["matches"].as_array().unwrap().len(), 1);
    assert_eq!(d.invoice_events().await, ["invoice.paid"]);
}
