//! Reconciliation end to end, through real HTTP and the sandbox bank: payments read from Ponto
//! pay invoices upserted through GraphQL (before or after the payment), and what the bank
//! changes or removes later re-evaluates or reverses them, each change announced once.

use crate::support::{Linked, day, wait_until};
use chrono::Duration;
use serde_json::{Value, json};
use std::time::Duration as Wait;

const UPSERT: &str = "mutation($i: [InvoiceInput!]!) { upsertInvoices(input: {invoices: $i}) {
    invoices { externalId status openAmount { amount } } userErrors { code message } } }";

const INVOICES: &str =
    "{ invoices(first: 10) { edges { node { externalId status openAmount { amount }
    matches { rule evidence amount { amount } reversedAt } } } } }";

fn invoice(ext: &str, number: &str, total: &str, reference: Option<&str>) -> Value {
    json!({"externalId": ext, "kind": "SALES_INVOICE", "number": number, "currency": "EUR",
           "total": total, "issueDate": day(-20), "dueDate": day(10), "structuredReference": reference})
}

/// (status, open amount, live match rules) of an invoice, by external id.
async fn invoice_state(l: &Linked, token: &str, ext: &str) -> (String, String, Vec<String>) {
    let data = l.app.gql_data(token, INVOICES, json!({})).await;
    let node = data["invoices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .find(|n| n["externalId"] == ext)
        .unwrap_or_else(|| panic!("no invoice {ext} in {data}"))
        .clone();
    let live = node["matches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["reversedAt"].is_null())
        .map(|m| format!("{} {}", m["rule"].as_str().unwrap(), m["amount"]["amount"]))
        .collect();
    (
        node["status"].as_str().unwrap().to_owned(),
        node["openAmount"]["amount"].as_str().unwrap().to_owned(),
        live,
    )
}

async fn wait_for_invoice(l: &Linked, token: &str, ext: &str, status: &str, open: &str) {
    wait_until(Wait::from_secs(15), status, || async {
        let got = invoice_state(l, token, ext).await;
        (got.0 == status && got.1 == open)
            .then_some(())
            .ok_or_else(|| format!(" {ext} is {got:?}, waiting for {status} {open}"))
    })
    .await
}

/// The `invoice.*` events of "acme" so far, as (type, data).
async fn invoice_events(l: &Linked) -> Vec<(String, Value)> {
    let org = l.app.store.ensure_organization("acme").await.unwrap();
    crate::support::catalogue::checked_events(&l.app.store, org, 0)
        .await
        .into_iter()
        .filter(|e| e.event_type.as_str().starts_with("invoice."))
        .map(|e| {
            let envelope: Value = serde_json::from_str(&e.payload).unwrap();
            (e.event_type.as_str().to_owned(), envelope["data"].clone())
        })
        .collect()
}

/// A Ponto-side synchronization, then the next scheduled read an hour later.
async fn bank_read(l: &Linked, ponto_org: &str) {
    l.reads_settled("acme").await;
    l.sb.organization_does(ponto_org, "synchronize").await;
    l.clock.advance(Duration::minutes(61));
    l.reads_settled("acme").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn payments_from_the_bank_pay_invoices_and_bank_changes_undo_them_once() {
    let l = Linked::start(&[]).await;
    let ponto_org = l.sb.org("Acme BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    // Paid before its invoice exists: found when the invoice arrives.
    l.sb.transactions(
        &acc,
        json!({"amount": "250.00", "remittanceInformation": "Factuur 2026-0043 dank u",
               "valueDate": day(-3)}),
    )
    .await;
    let token = l.token("acme");
    assert!(
        l.connect(&token, &ponto_org, &[&acc], true, false)
            .await
            .ends_with("ponto_status=CONNECTED")
    );
    l.reads_settled("acme").await;
    wait_until(Wait::from_secs(15), "the first import", || async {
        l.transactions(&token, false).await.len() == 1
    })
    .await;

    let upsert = json!({"i": [invoice("A", "2026-0042", "121.00", Some("+++090/9337/55493+++")),
                              invoice("B", "2026-0043", "250.00", None)]});
    let data = l.app.gql_data(&token, UPSERT, upsert).await;
    assert_eq!(data["upsertInvoices"]["userErrors"], json!([]), "{data}");
    // The upsert's own answer already shows what reconciling it did.
    assert_eq!(
        data["upsertInvoices"]["invoices"],
        json!([{"externalId": "A", "status": "OPEN", "openAmount": {"amount": "121.00"}},
               {"externalId": "B", "status": "PAID", "openAmount": {"amount": "0.00"}}])
    );
    let (_, _, rules) = invoice_state(&l, &token, "B").await;
    assert_eq!(rules, ["INVOICE_NUMBER \"250.00\""]);

    // Paid by a transfer carrying its structured communication.
    let paying =
        l.sb.transactions(
            &acc,
            json!({"amount": "121.00", "remittanceInformation": "+++090/9337/55493+++",
               "valueDate": day(-1)}),
        )
        .await
        .remove(0);
    bank_read(&l, &ponto_org).await;
    wait_for_invoice(&l, &token, "A", "PAID", "0.00").await;
    let data = l.app.gql_data(&token, INVOICES, json!({})).await;
    let a = data["invoices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["externalId"] == "A")
        .unwrap()["node"]["matches"][0]
        .clone();
    assert_eq!(a["rule"], "STRUCTURED_REFERENCE");
    assert_eq!(
        a["evidence"],
        "structured communication +++090/9337/55493+++ equals invoice 2026-0042"
    );
    let events = invoice_events(&l).await;
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["invoice.paid", "invoice.paid"], "B, then A");
    let paid_a = &events[1].1;
    assert_eq!(paid_a["externalId"], "A");
    assert_eq!(paid_a["status"], "PAID");
    assert_eq!(paid_a["payments"].as_array().unwrap().len(), 1);
    assert_eq!(paid_a["payments"][0]["amount"], "121.00");
    assert_eq!(paid_a["payments"][0]["valueDate"], day(-1));

    // The same read again changes nothing and announces nothing.
    bank_read(&l, &ponto_org).await;
    assert_eq!(invoice_events(&l).await.len(), 2);

    // The bank corrects the amount: the match is re-evaluated, announced as one reversal
    // carrying the new status.
    l.sb.change_transaction(&paying, json!({"amount": "100.00"}))
        .await;
    bank_read(&l, &ponto_org).await;
    wait_for_invoice(&l, &token, "A", "PARTIALLY_PAID", "21.00").await;
    assert_eq!(
        invoice_state(&l, &token, "A").await.2,
        ["STRUCTURED_REFERENCE \"100.00\""]
    );
    let events = invoice_events(&l).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[2].0, "invoice.payment_reversed");
    assert_eq!(events[2].1["status"], "PARTIALLY_PAID");

    // The bank removes it: missing from one read it still counts (no flapping)...
    l.sb.delete_transaction(&paying).await;
    bank_read(&l, &ponto_org).await;
    assert_eq!(invoice_state(&l, &token, "A").await.0, "PARTIALLY_PAID");
    assert_eq!(invoice_events(&l).await.len(), 3);
    // ...still missing at the next one, it is removed and the payment reversed, once.
    bank_read(&l, &ponto_org).await;
    wait_for_invoice(&l, &token, "A", "OPEN", "121.00").await;
    assert!(invoice_state(&l, &token, "A").await.2.is_empty());
    bank_read(&l, &ponto_org).await;
    let events = invoice_events(&l).await;
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "invoice.paid",
            "invoice.paid",
            "invoice.payment_reversed",
            "invoice.payment_reversed"
        ]
    );
    assert_eq!(events[3].1["status"], "OPEN");
    assert_eq!(events[3].1["payments"], json!([]));
    // B, paid by another transaction, is untouched.
    assert_eq!(invoice_state(&l, &token, "B").await.0, "PAID");
}

/// Twenty writers at once over two instances (each its own connection pool), all about one
/// payment: ten upsert its invoice through GraphQL (each a real change, so each reconciles),
/// ten import its transaction through the import path (each a real change too). The
/// organization's lock must leave one match and one `invoice.paid`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_upserts_and_imports_of_one_payment_make_one_match() {
    use ponto_bridge::ponto::model::Transaction;
    use ponto_bridge::pull::ingest;
    let l = Linked::start(&[]).await;
    let ponto_org = l.sb.org("Acme BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    let token = l.token("acme");
    assert!(
        l.connect(&token, &ponto_org, &[&acc], true, false)
            .await
            .ends_with("ponto_status=CONNECTED")
    );
    l.reads_settled("acme").await;
    let second = l.second_instance().await;
    let org = l.app.store.ensure_organization("acme").await.unwrap();
    let account = l.app.store.accounts_of(org).await.unwrap().remove(0).id;

    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let instance = if i % 2 == 0 { &l.app } else { &second };
        let (barrier, token, store) = (barrier.clone(), token.clone(), instance.store.clone());
        let endpoint = format!("{}/graphql", instance.base);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            if i < 10 {
                let mut inv = invoice("A", "2026-0042", "121.00", Some("+++090/9337/55493+++"));
                inv["counterpartyName"] = json!(format!("Customer, version {i}"));
                let data =
                    crate::support::gql_at(&endpoint, &token, UPSERT, json!({"i": [inv]})).await;
                assert_eq!(
                    data["upsertInvoices"]["userErrors"],
                    json!([]),
                    "{data}"
                );
            } else {
                let resource = json!({"type": "transaction", "id": "race-payment", "attributes": {
                    "amount": 121.00, "currency": "EUR", "remittanceInformation": "+++090/9337/55493+++",
                    "remittanceInformationType": "unstructured", "additionalInformation": format!("read {i}"),
                    "valueDate": format!("{}T00:00:00.000Z", day(-1))}});
                let page = vec![Transaction::from_resource(&resource.to_string(), false).unwrap()];
                ingest::store_page(&store, org, account, page).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (status, open, live) = invoice_state(&l, &token, "A").await;
    assert_eq!((status.as_str(), open.as_str()), ("PAID", "0.00"));
    assert_eq!(live, ["STRUCTURED_REFERENCE \"121.00\""], "one live match");
    let types: Vec<String> = invoice_events(&l).await.into_iter().map(|e| e.0).collect();
    assert_eq!(types, ["invoice.paid"]);
    drop(second);
}
