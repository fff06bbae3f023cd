//! `upsertInvoices` and `voidInvoice` through HTTP: idempotent batches, per-item errors with
//! their index, normalized references, no half-written invoice.

use crate::support::{TestApp, day, error_code};
use serde_json::{Value, json};

const UPSERT: &str = "mutation($inv: [InvoiceInput!]!) { upsertInvoices(input: {invoices: $inv}) {
    invoices { id externalId number status structuredReference counterpartyIban total { amount currency } openAmount { amount } updatedAt }
    userErrors { field message code } } }";

const LIST: &str = "{ invoices(first: 100) { edges { node { id externalId number kind status total { amount currency }
    counterpartyName counterpartyIban structuredReference issueDate dueDate updatedAt } } } }";

fn item(ext: &str, total: &str) -> Value {
    json!({"externalId": ext, "kind": "SALES_INVOICE", "number": format!("N-{ext}"), "counterpartyName": "Customer NV",
           "counterpartyIban": "BE68 5390 0754 7034", "currency": "EUR", "total": total,
           "issueDate": day(-30), "dueDate": day(0), "structuredReference": "***090/9337/55493***"})
}

async fn list(app: &TestApp, token: &str) -> Value {
    app.gql_data(token, LIST, json!({})).await["invoices"]["edges"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_batch_twice_leaves_the_same_rows() {
    let app = TestApp::start().await;
    let token = app.full_token("acme");
    let batch: Vec<Value> = (0..50)
        .map(|i| item(&format!("inv-{i}"), &format!("{}.50", 100 + i)))
        .collect();
    let first = app.gql_data(&token, UPSERT, json!({"inv": batch})).await;
    assert_eq!(first["upsertInvoices"]["userErrors"], json!([]), "{first}");
    assert_eq!(
        first["upsertInvoices"]["invoices"]
            .as_array()
            .unwrap()
            .len(),
        50
    );
    let inv0 = &first["upsertInvoices"]["invoices"][0];
    assert_eq!(inv0["structuredReference"], "+++090/9337/55493+++");
    assert_eq!(inv0["counterpartyIban"], "BE68539007547034");
    assert_eq!(
        inv0["total"],
        json!({"amount": "100.50", "currency": "EUR"})
    );
    assert_eq!(inv0["status"], "OPEN");
    let before = list(&app, &token).await;

    app.clock.advance(chrono::Duration::minutes(5));
    let second = app.gql_data(&token, UPSERT, json!({"inv": batch})).await;
    assert_eq!(second["upsertInvoices"]["userErrors"], json!([]));
    assert_eq!(
        first["upsertInvoices"]["invoices"], second["upsertInvoices"]["invoices"],
        "same ids, same rows"
    );
    assert_eq!(
        list(&app, &token).await,
        before,
        "nothing rewritten, not even updatedAt"
    );

    // A changed item updates in place under the same id.
    let mut changed = batch.clone();
    changed[3]["total"] = json!("999.99");
    changed[3]["structuredReference"] = json!("RF18 5390 0754 7034");
    let third = app.gql_data(&token, UPSERT, json!({"inv": changed})).await;
    let inv3 = &third["upsertInvoices"]["invoices"][3];
    assert_eq!(inv3["id"], first["upsertInvoices"]["invoices"][3]["id"]);
    assert_eq!(inv3["total"]["amount"], "999.99");
    assert_eq!(inv3["structuredReference"], "RF18 5390 0754 7034");
    assert_ne!(
        inv3["updatedAt"],
        first["upsertInvoices"]["invoices"][3]["updatedAt"]
    );
    assert_eq!(list(&app, &token).await.as_array().unwrap().len(), 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_items_are_reported_by_index_and_valid_ones_written() {
    let app = TestApp::start().await;
    let token = app.full_token("acme");
    let mut bad_ref = item("bad-ref", "10.00");
    bad_ref["structuredReference"] = json!("+++090/9337/55494+++");
    let mut bad_total = item("bad-total", "10.001");
    bad_total["counterpartyIban"] = json!("BE00 0000");
    let mut negative = item("negative", "-5");
    negative["currency"] = json!("EUR");
    let mut blank = item("", "1");
    blank["number"] = json!("   ");
    let batch = vec![
        item("ok-0", "1.00"),
        bad_ref,
        item("ok-2", "2.00"),
        bad_total,
        negative,
        blank,
        item("ok-0", "3.00"),
        item("ok-7", "7.00"),
    ];
    let data = app.gql_data(&token, UPSERT, json!({"inv": batch})).await;
    let payload = &data["upsertInvoices"];
    let written: Vec<_> = payload["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["externalId"].as_str().unwrap())
        .collect();
    assert_eq!(written, ["ok-0", "ok-2", "ok-7"], "{data}");
    let errors: Vec<(Value, &str)> = payload["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].clone(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (
                json!(["invoices", "1", "structuredReference"]),
                "INVALID_REFERENCE"
            ),
            (json!(["invoices", "3", "counterpartyIban"]), "INVALID_IBAN"),
            (json!(["invoices", "3", "total"]), "TOO_MANY_DECIMALS"),
            (json!(["invoices", "4", "total"]), "NOT_POSITIVE"),
            (json!(["invoices", "5", "externalId"]), "REQUIRED"),
            (json!(["invoices", "5", "number"]), "REQUIRED"),
            (json!(["invoices", "6", "externalId"]), "DUPLICATE_IN_BATCH"),
        ]
    );
    // Nothing of an invalid item exists; the duplicate did not overwrite the first.
    let rows = list(&app, &token).await;
    let mut stored: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["externalId"].as_str().unwrap().to_owned())
        .collect();
    stored.sort();
    assert_eq!(stored, ["ok-0", "ok-2", "ok-7"]);
    let q = "{ invoice(externalId: \"ok-0\") { total { amount } } }";
    assert_eq!(
        app.gql_data(&token, q, json!({})).await["invoice"]["total"]["amount"],
        "1.00"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_limits_and_request_level_errors() {
    let app = TestApp::start().await;
    let token = app.full_token("acme");
    let batch: Vec<Value> = (0..501).map(|i| item(&format!("i{i}"), "1.00")).collect();
    let body = app.gql(&token, UPSERT, json!({"inv": batch})).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        list(&app, &token).await.as_array().unwrap().is_empty(),
        "nothing written"
    );

    // Decimals must be strings (or integers): a float literal is refused before anything runs.
    let body = app
        .gql(&token, &format!("mutation {{ upsertInvoices(input: {{invoices: [{{externalId: \"x\", kind: SALES_INVOICE, number: \"1\", currency: \"EUR\", total: 1.1, issueDate: \"{}\"}}]}}) {{ userErrors {{ code }} }} }}", day(-30)), json!({}))
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let body = app
        .gql(&token, UPSERT, json!({"inv": [item("x", "abc")]}))
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(body["data"].is_null(), "{body}");

    // 500 is fine.
    let batch: Vec<Value> = (0..500).map(|i| item(&format!("i{i}"), "1.00")).collect();
    let data = app.gql_data(&token, UPSERT, json!({"inv": batch})).await;
    assert_eq!(
        data["upsertInvoices"]["invoices"].as_array().unwrap().len(),
        500
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn void_by_id_or_external_id_and_filters() {
    let app = TestApp::start().await;
    let token = app.full_token("acme");
    let mut purchase = item("p-1", "50.00");
    purchase["kind"] = json!("PURCHASE_INVOICE");
    purchase["counterpartyName"] = json!("Supplier & Co");
    purchase["dueDate"] = json!(day(-16));
    let data = app
        .gql_data(
            &token,
            UPSERT,
            json!({"inv": [item("s-1", "10.00"), item("s-2", "20.00"), purchase]}),
        )
        .await;
    let id = data["upsertInvoices"]["invoices"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let void = "mutation($id: ID, $ext: String) { voidInvoice(input: {id: $id, externalId: $ext}) { invoice { status voidedAt } userErrors { code field } } }";
    let v = app.gql_data(&token, void, json!({"id": id})).await;
    assert_eq!(v["voidInvoice"]["invoice"]["status"], "VOID", "{v}");
    let again = app.gql_data(&token, void, json!({"id": id})).await;
    assert_eq!(
        again["voidInvoice"]["invoice"]["voidedAt"], v["voidInvoice"]["invoice"]["voidedAt"],
        "idempotent"
    );
    let v = app.gql_data(&token, void, json!({"ext": "s-2"})).await;
    assert_eq!(v["voidInvoice"]["invoice"]["status"], "VOID");
    let v = app.gql_data(&token, void, json!({"ext": "nope"})).await;
    assert_eq!(v["voidInvoice"]["userErrors"][0]["code"], "NOT_FOUND");
    assert_eq!(
        error_code(&app.gql(&token, void, json!({})).await),
        Some("BAD_USER_INPUT")
    );
    // Re-upserting a void invoice keeps it void.
    app.gql(&token, UPSERT, json!({"inv": [item("s-1", "11.00")]}))
        .await;
    let q = "{ invoice(externalId: \"s-1\") { status total { amount } } }";
    assert_eq!(
        app.gql_data(&token, q, json!({})).await["invoice"],
        json!({"status": "VOID", "total": {"amount": "11.00"}})
    );

    let filtered = |f: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            let q = "query($f: InvoiceFilterInput) { invoices(filter: $f) { edges { node { externalId } } } }";
            let data = app.gql_data(&token, q, json!({"f": f})).await;
            let mut ids: Vec<String> = data["invoices"]["edges"]
                .as_array()
                .unwrap_or_else(|| panic!("{data}"))
                .iter()
                .map(|e| e["node"]["externalId"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(
        filtered(json!({"kinds": ["PURCHASE_INVOICE"]})).await,
        ["p-1"]
    );
    assert_eq!(
        filtered(json!({"statuses": ["VOID"]})).await,
        ["s-1", "s-2"]
    );
    assert_eq!(
        filtered(json!({"statuses": ["OPEN"], "kinds": ["SALES_INVOICE"]})).await,
        Vec::<String>::new()
    );
    assert_eq!(filtered(json!({"dueBefore": day(-15)})).await, ["p-1"]);
    assert_eq!(
        filtered(json!({"counterparty": "SUPPLIER &"})).await,
        ["p-1"]
    );
    assert_eq!(
        filtered(json!({"counterparty": "be68 5390 0754 7034"})).await,
        ["p-1", "s-1", "s-2"]
    );
    assert_eq!(
        filtered(json!({"counterparty": "%"})).await,
        Vec::<String>::new(),
        "LIKE wildcards are literal"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sales_invoice_without_a_reference_gets_one_and_keeps_it() {
    let app = TestApp::start().await;
    let token = app.full_token("acme");
    let without = |ext: &str, kind: &str| {
        let mut i = item(ext, "10.00");
        i.as_object_mut().unwrap().remove("structuredReference");
        i["kind"] = json!(kind);
        i
    };
    let batch = json!({"inv": [without("s-1", "SALES_INVOICE"), without("s-2", "SALES_INVOICE"),
                               without("p-1", "PURCHASE_INVOICE")]});
    let data = app.gql_data(&token, UPSERT, batch.clone()).await;
    let invoices = data["upsertInvoices"]["invoices"]
        .as_array()
        .unwrap()
        .clone();
    let reference = |i: usize| {
        invoices[i]["structuredReference"]
            .as_str()
            .map(str::to_owned)
    };
    let (r1, r2) = (
        reference(0).expect("generated"),
        reference(1).expect("generated"),
    );
    for r in [&r1, &r2] {
        let parsed = ponto_bridge::domain::reference::StructuredReference::parse(r);
        assert!(
            matches!(
                parsed,
                Ok(ponto_bridge::domain::reference::StructuredReference::Ogm(_))
            ),
            "{r}"
        );
    }
    assert_ne!(r1, r2, "unique in the organization");
    assert_eq!(
        reference(2),
        None,
        "a purchase invoice's reference is the supplier's to give"
    );

    // Upserted again without a reference: the one a customer may be paying with stays.
    let mut changed = batch.clone();
    changed["inv"][0]["total"] = json!("12.00");
    let data = app.gql_data(&token, UPSERT, changed).await;
    assert_eq!(
        data["upsertInvoices"]["invoices"][0]["structuredReference"],
        r1.as_str()
    );
    assert_eq!(
        data["upsertInvoices"]["invoices"][0]["total"]["amount"],
        "12.00"
    );
    // Given one explicitly, the accounting system's reference wins.
    let mut given = batch;
    given["inv"][0]["structuredReference"] = json!("RF18 5390 0754 7034");
    let data = app.gql_data(&token, UPSERT, given).await;
    assert_eq!(
        data["upsertInvoices"]["invoices"][0]["structuredReference"],
        "RF18 5390 0754 7034"
    );
}
