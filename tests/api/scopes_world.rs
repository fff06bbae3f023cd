//! The world the scope tests run in: one organization linked to the sandbox with accounts,
//! transactions, invoices, matches, suggestions, ignore rules and webhook endpoints, so every
//! mutation's payload reaches data; and, per mutation, the arguments each test calls it with.

use crate::support::Linked;
use chrono::Duration;
use serde_json::{Value, json};
use std::collections::HashMap;

pub(crate) struct World {
    pub(crate) l: Linked,
    /// Global ids of the three accounts: re-authorization, `syncNow` write-only, read-write.
    pub(crate) accounts: Vec<String>,
    /// The two incoming transactions inv-1 did not take (it suggests them): write-only's,
    /// read-write's.
    pub(crate) spare: [String; 2],
    /// Two outgoing fees to ignore, and one ignored in advance to restore.
    pub(crate) fees: [String; 3],
    /// Manual matches of `spare` to inv-4, to unmatch.
    pub(crate) matches: [String; 2],
    /// inv-1, inv-3 (open, for matching).
    pub(crate) invoices: [String; 2],
    /// Two keyword rules, to delete.
    pub(crate) rules: [String; 2],
    /// Webhook endpoints: two to update and rotate, two to delete.
    pub(crate) endpoints: [String; 4],
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Caller {
    WriteOnly,
    ReadWrite,
}

/// The arguments (and variable definitions) of each mutation; a new mutation must be added here.
pub(crate) fn call(name: &str, w: &World, who: Caller) -> (String, String, Value) {
    let today = w.l.clock_now().date_naive().to_string();
    let invoice = |ext: &str, number: &str, total: &str| {
        json!({"externalId": ext, "kind": "SALES_INVOICE", "number": number, "currency": "EUR",
               "total": total, "issueDate": today})
    };
    let i = usize::from(who == Caller::ReadWrite);
    let (defs, args, vars) = match name {
        "matchTransaction" => (
            "($t: ID!, $i: ID!)",
            "(input: {transactionId: $t, invoiceId: $i, amount: \"1.00\"})",
            json!({"t": w.spare[i], "i": w.invoices[1]}),
        ),
        "unmatchTransaction" => (
            "($m: ID!)",
            "(input: {matchId: $m, reason: \"scopes\"})",
            json!({"m": w.matches[i]}),
        ),
        "dismissSuggestion" => (
            "($t: ID!, $i: ID!)",
            "(input: {transactionId: $t, invoiceId: $i})",
            json!({"t": w.spare[i], "i": w.invoices[0]}),
        ),
        "ignoreTransaction" => (
            "($t: ID!)",
            "(input: {transactionId: $t, reason: \"fees\"})",
            json!({"t": w.fees[i]}),
        ),
        // The second call finds it restored already: a user error, and the payload still answers.
        "restoreTransaction" => (
            "($t: ID!)",
            "(input: {transactionId: $t})",
            json!({"t": w.fees[2]}),
        ),
        "createIgnoreRule" => (
            "($k: String!)",
            "(input: {keyword: $k, direction: OUTGOING, reason: \"scopes\"})",
            json!({"k": format!("scope rule {i}")}),
        ),
        "deleteIgnoreRule" => ("($r: ID!)", "(input: {id: $r})", json!({"r": w.rules[i]})),
        "updateReconciliationSettings" => (
            "",
            "(input: {matchTolerance: \"0.02\", referenceStyle: OGM})",
            json!({}),
        ),
        "createWebhookEndpoint" => (
            "($u: String!)",
            "(input: {url: $u, eventTypes: [\"invoice.paid\"], rateLimitPerSecond: 5})",
            json!({"u": format!("https://127.0.0.1/scopes/{i}")}),
        ),
        "updateWebhookEndpoint" => (
            "($e: ID!)",
            "(input: {id: $e, description: \"scopes\", enabled: false})",
            json!({"e": w.endpoints[i]}),
        ),
        "rotateWebhookSecret" => (
            "($e: ID!)",
            "(input: {id: $e})",
            json!({"e": w.endpoints[i]}),
        ),
        // Deleted last of the endpoint calls (mutations run in schema order): the others' ids stay.
        "deleteWebhookEndpoint" => (
            "($e: ID!)",
            "(input: {id: $e})",
            json!({"e": w.endpoints[2 + i]}),
        ),
        "upsertInvoices" => (
            "($items: [InvoiceInput!]!)",
            "(input: {invoices: $items})",
            json!({"items": [invoice("inv-1", "2026-0001", "12.10"), invoice("inv-9", "2026-0009", "5.00"),
                             invoice("bad", "2026-0010", "0")]}),
        ),
        "voidInvoice" => ("", "(input: {externalId: \"inv-9\"})", json!({})),
        "connectPonto" => (
            "",
            "(input: {returnUrl: \"https://app.example/\", reconnect: true})",
            json!({}),
        ),
        "disconnectPonto" => ("", "(input: {reason: \"scopes test\"})", json!({})),
        "requestReauthorization" => (
            "($a: ID!)",
            "(input: {accountId: $a, returnUrl: \"https://app.example/\"})",
            json!({"a": w.accounts[0]}),
        ),
        "syncNow" => (
            "($a: ID!)",
            "(input: {accountId: $a, customerIpAddress: \"203.0.113.9\"})",
            json!({"a": w.accounts[if who == Caller::WriteOnly { 1 } else { 2 }]}),
        ),
        "retryInboundEvents" => (
            "($s: DateTime!)",
            "(input: {since: $s})",
            json!({"s": (w.l.clock_now() - Duration::days(1)).to_rfc3339()}),
        ),
        "sendTestWebhook" => (
            "($e: ID!)",
            "(input: {id: $e})",
            json!({"e": w.endpoints[i]}),
        ),
        // An id of another type: NOT_FOUND, and the payload still answers.
        "redeliverWebhook" => (
            "($d: ID!)",
            "(input: {deliveryId: $d})",
            json!({"d": w.endpoints[i]}),
        ),
        "recoverWebhookEndpoint" => (
            "($e: ID!, $s: DateTime!)",
            "(input: {endpointId: $e, since: $s})",
            json!({"e": w.endpoints[i], "s": (w.l.clock_now() - Duration::hours(1)).to_rfc3339()}),
        ),
        other => panic!("no call for mutation `{other}`: add one to tests/api/scopes.rs"),
    };
    (defs.to_owned(), args.to_owned(), vars)
}

pub(crate) async fn world() -> World {
    let l = Linked::start(&["--webhook-allowed-targets", "127.0.0.1/32"]).await;
    let ponto_org = l.sb.org("Scopes BV").await;
    // Expiring soon, so accounts carry a problem and `BankProblem` is reached.
    let soon = (l.clock_now() + Duration::days(5)).to_rfc3339();
    let mut sandbox_accounts = Vec::new();
    for (i, iban) in ["BE68539007547034", "BE71096123456769", "BE43068999999501"]
        .iter()
        .enumerate()
    {
        let acc =
            l.sb.account(
                &ponto_org,
                json!({"reference": iban, "authorizationExpirationExpectedAt": soon}),
            )
            .await;
        l.sb.transactions(
            &acc,
            json!([{"amount": "12.10", "remittanceInformation": format!("2026-0001 #{i}")},
                                        {"amount": "-3.00", "remittanceInformation": "fee"}]),
        )
        .await;
        sandbox_accounts.push(acc);
    }
    // Names inv-3 with another amount: a suggestion, so payloads reach `MatchSuggestion`.
    l.sb.transactions(
        &sandbox_accounts[0],
        json!([{"amount": "50.00", "remittanceInformation": "2026-0003 in part"}]),
    )
    .await;
    let token = l.token("acme");
    let refs: Vec<&str> = sandbox_accounts.iter().map(String::as_str).collect();
    assert!(
        l.connect(&token, &ponto_org, &refs, true, false)
            .await
            .ends_with("ponto_status=CONNECTED")
    );
    // The first import runs as soon as the link commits; wait for all seven transactions.
    l.reads_settled("acme").await;
    crate::support::wait_until(
        std::time::Duration::from_secs(15),
        "the first import",
        || async { l.transactions(&token, false).await.len() == 7 },
    )
    .await;

    let q = "{ bankAccounts { edges { node { id reference transactions { edges { node { id amount { amount } } } } } } } }";
    let data = l.app.gql_data(&token, q, json!({})).await;
    let mut by_ref: HashMap<String, (String, Vec<(String, String)>)> = HashMap::new();
    for e in data["bankAccounts"]["edges"].as_array().unwrap() {
        let n = &e["node"];
        let txs = n["transactions"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["node"]["id"].as_str().unwrap().to_owned(),
                    t["node"]["amount"]["amount"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        by_ref.insert(
            n["reference"].as_str().unwrap().to_owned(),
            (n["id"].as_str().unwrap().to_owned(), txs),
        );
    }
    let accounts: Vec<String> = ["BE68539007547034", "BE71096123456769", "BE43068999999501"]
        .iter()
        .map(|r| by_ref[*r].0.clone())
        .collect();

    // One read that fails (the first account's transactions answer 503, retries included), so
    // payloads reach `PontoConnection.lastReadError` and `BankAccount.lastReadError`.
    let failing = format!("{}/transactions", sandbox_accounts[0]);
    l.sb.fault(json!({"status": 503, "count": 4, "path": failing}))
        .await;
    let org = l.app.store.ensure_organization("acme").await.unwrap();
    assert!(l.app.puller.read(org).await.is_err());

    // inv-1, paid by the first account's incoming transaction, so payloads reach PaymentMatch.
    let m = "mutation($i: [InvoiceInput!]!) { upsertInvoices(input: {invoices: $i}) { invoices { id } userErrors { code } } }";
    let today = l.clock_now().date_naive().to_string();
    let data = l
        .app
        .gql_data(
            &token,
            m,
            json!({"i": [{"externalId": "inv-1", "kind": "SALES_INVOICE", "number": "2026-0001",
        "currency": "EUR", "total": "12.10", "issueDate": today}]}),
        )
        .await;
    let invoice = data["upsertInvoices"]["invoices"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{data}"));
    // The engine pays it from one of the three "2026-0001" transactions as the upsert commits.
    let q = "query($id: ID!) { node(id: $id) { ... on Invoice { status matches { rule } } } }";
    let paid = l.app.gql_data(&token, q, json!({"id": invoice})).await;
    assert_eq!(
        paid["node"],
        json!({"status": "PAID", "matches": [{"rule": "INVOICE_NUMBER"}]}),
    );
    let token_id = |v: &Value, path: &[&str]| -> String {
        let mut x = v;
        for p in path {
            x = match p.parse::<usize>() {
                Ok(i) => &x[i],
                Err(_) => &x[*p],
            };
        }
        x.as_str()
            .unwrap_or_else(|| panic!("{path:?} in {v}"))
            .to_owned()
    };
    let inv3 = l
        .app
        .gql_data(
            &token,
            m,
            json!({"i": [{"externalId": "inv-3", "kind": "SALES_INVOICE", "number": "2026-0003",
        "currency": "EUR", "total": "100.00", "issueDate": today},
        {"externalId": "inv-4", "kind": "SALES_INVOICE", "number": "2026-0004",
        "currency": "EUR", "total": "100.00", "issueDate": today}]}),
        )
        .await;
    let inv4 = token_id(&inv3, &["upsertInvoices", "invoices", "1", "id"]);
    let inv3 = token_id(&inv3, &["upsertInvoices", "invoices", "0", "id"]);
    // Every transaction of the three accounts, by amount.
    let all: Vec<(String, String)> = by_ref.values().flat_map(|(_, t)| t.clone()).collect();
    let q =
        "query($id: ID!) { node(id: $id) { ... on Invoice { matches { transaction { id } } } } }";
    let taken = l.app.gql_data(&token, q, json!({"id": invoice})).await;
    let taken = token_id(&taken, &["node", "matches", "0", "transaction", "id"]);
    let spare: Vec<String> = all
        .iter()
        .filter(|(id, amount)| amount == "12.10" && *id != taken)
        .map(|(id, _)| id.clone())
        .collect();
    let fees: Vec<String> = all
        .iter()
        .filter(|(_, amount)| amount == "-3.00")
        .map(|(id, _)| id.clone())
        .collect();
    let mut matches = Vec::new();
    for t in &spare {
        let m = "mutation($t: ID!, $i: ID!) { matchTransaction(input: {transactionId: $t, invoiceId: $i, amount: \"1.00\"}) { match { id } userErrors { code } } }";
        let done = l.app.gql_data(&token, m, json!({"t": t, "i": inv4})).await;
        matches.push(token_id(&done, &["matchTransaction", "match", "id"]));
    }
    let m = "mutation($t: ID!) { ignoreTransaction(input: {transactionId: $t}) { userErrors { code } } }";
    let done = l.app.gql_data(&token, m, json!({"t": fees[2]})).await;
    assert_eq!(done["ignoreTransaction"]["userErrors"], json!([]), "{done}");
    let mut rules = Vec::new();
    for k in ["to delete 0", "to delete 1"] {
        let m = "mutation($k: String!) { createIgnoreRule(input: {keyword: $k}) { ignoreRule { id } } }";
        let done = l.app.gql_data(&token, m, json!({"k": k})).await;
        rules.push(token_id(&done, &["createIgnoreRule", "ignoreRule", "id"]));
    }
    let mut endpoints = Vec::new();
    for n in 0..4 {
        let m =
            "mutation($u: String!) { createWebhookEndpoint(input: {url: $u}) { endpoint { id } } }";
        let u = format!("https://127.0.0.1/seeded/{n}");
        let done = l.app.gql_data(&token, m, json!({"u": u})).await;
        endpoints.push(token_id(
            &done,
            &["createWebhookEndpoint", "endpoint", "id"],
        ));
    }
    World {
        l,
        accounts,
        spare: spare.try_into().expect("two spare payments"),
        fees: fees.try_into().expect("three fees"),
        matches: matches.try_into().unwrap(),
        invoices: [invoice.to_owned(), inv3],
        rules: rules.try_into().unwrap(),
        endpoints: endpoints.try_into().unwrap(),
    }
}
