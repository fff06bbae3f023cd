//! Tenant isolation: two organizations seeded with accounts, transactions, invoices, a match and
//! events. Each owner reads its own rows; the other organization's token gets NOT_FOUND or
//! nothing through every root field, mutation and `node(id)`. Every root field listed by
//! introspection must have a case here.

use crate::seed::{Seeded, seed_org};
use crate::support::{Linked, TestApp, day, error_code};
use crate::surface::{call, root_fields};
use ponto_bridge::domain::scope::Scope;
use ponto_bridge::graphql::ids::encode;
use serde_json::{Value, json};

struct World {
    app: TestApp,
    a: Seeded,
    b: Seeded,
    token_a: String,
    token_b: String,
}

fn ids_in(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

fn gid(ty: &str, id: uuid::Uuid) -> String {
    encode(ty, id)
}

impl World {
    fn a_ids(&self, ty: &str) -> Vec<String> {
        match ty {
            "BankAccount" => self.a.accounts.iter().map(|i| gid(ty, i.0)).collect(),
            "BankTransaction" => self.a.transactions.iter().map(|i| gid(ty, i.0)).collect(),
            "Invoice" => self.a.invoices.iter().map(|i| gid(ty, i.0)).collect(),
            "PaymentMatch" => vec![gid(ty, self.a.payment_match.0)],
            _ => unreachable!(),
        }
    }

    async fn case(&self, field: &str) {
        let (app, ta, tb) = (&self.app, self.token_a.as_str(), self.token_b.as_str());
        match field {
            "query.viewer" => {
                let q = "{ viewer { organization { externalId } } }";
                assert_eq!(
                    app.gql_data(ta, q, json!({})).await["viewer"]["organization"]["externalId"],
                    "org-a"
                );
                assert_eq!(
                    app.gql_data(tb, q, json!({})).await["viewer"]["organization"]["externalId"],
                    "org-b"
                );
            }
            "query.pontoConnection" => {
                let q = "{ pontoConnection { status accounts { edges { node { id } } } } }";
                let a = app.gql_data(ta, q, json!({})).await;
                assert_eq!(a["pontoConnection"]["status"], "CONNECTED", "{a}");
                let mut got = ids_in(&a["pontoConnection"]["accounts"]);
                got.sort();
                let mut want = self.a_ids("BankAccount");
                want.sort();
                assert_eq!(got, want);
                let b = app.gql_data(tb, q, json!({})).await;
                let b_ids = ids_in(&b["pontoConnection"]["accounts"]);
                assert_eq!(b_ids.len(), 2);
                assert!(
                    self.a_ids("BankAccount")
                        .iter()
                        .all(|id| !b_ids.contains(id))
                );
            }
            "query.bankAccounts" => {
                self.listing(
                    "{ bankAccounts(first: 100) { edges { node { id } } } }",
                    "bankAccounts",
                    "BankAccount",
                )
                .await
            }
            "query.transactions" => {
                self.listing(
                    "{ transactions(first: 100) { edges { node { id } } } }",
                    "transactions",
                    "BankTransaction",
                )
                .await;
                // Filtering by another organization's account finds nothing.
                let q = "query($acc: ID) { transactions(filter: {accountId: $acc}) { edges { node { id } } } }";
                let vars = json!({"acc": self.a_ids("BankAccount")[0]});
                assert_eq!(
                    ids_in(&app.gql_data(ta, q, vars.clone()).await["transactions"]).len(),
                    3
                );
                assert!(ids_in(&app.gql_data(tb, q, vars).await["transactions"]).is_empty());
            }
            "query.invoices" => {
                self.listing(
                    "{ invoices(first: 100) { edges { node { id matches { id } } } } }",
                    "invoices",
                    "Invoice",
                )
                .await
            }
            "query.bankAccount" => {
                let q = "query($id: ID!) { bankAccount(id: $id) { id transactions { edges { node { id } } } } }";
                for id in self.a_ids("BankAccount") {
                    let a = app.gql_data(ta, q, json!({"id": id})).await;
                    assert_eq!(a["bankAccount"]["id"], id.as_str());
                    let b = app.gql(tb, q, json!({"id": id})).await;
                    assert_eq!(error_code(&b), Some("NOT_FOUND"), "{b}");
                    assert!(b["data"].is_null() || b["data"]["bankAccount"].is_null());
                }
            }
            "query.invoice" => {
                let q = "query($id: ID) { invoice(id: $id) { id number } }";
                for id in self.a_ids("Invoice") {
                    assert_eq!(
                        app.gql_data(ta, q, json!({"id": id})).await["invoice"]["id"],
                        id.as_str()
                    );
                    assert_eq!(
                        error_code(&app.gql(tb, q, json!({"id": id})).await),
                        Some("NOT_FOUND")
                    );
                }
                // The same external id names each organization's own invoice.
                let q = "{ invoice(externalId: \"inv-1\") { id number } }";
                assert_eq!(
                    app.gql_data(ta, q, json!({})).await["invoice"]["id"],
                    self.a_ids("Invoice")[0].as_str()
                );
                let b = app.gql_data(tb, q, json!({})).await;
                assert_eq!(
                    b["invoice"]["id"],
                    gid("Invoice", self.b.invoices[0].0).as_str()
                );
                assert_eq!(b["invoice"]["number"], "org-b-2026-0001");
            }
            "query.node" => {
                let q = "query($id: ID!) { node(id: $id) { id } }";
                for ty in ["BankAccount", "BankTransaction", "Invoice", "PaymentMatch"] {
                    for id in self.a_ids(ty) {
                        assert_eq!(
                            app.gql_data(ta, q, json!({"id": id})).await["node"]["id"],
                            id.as_str(),
                            "{ty}"
                        );
                        let b = app.gql(tb, q, json!({"id": id})).await;
                        assert!(b["data"]["node"].is_null(), "{ty} leaked: {b}");
                        assert!(b["errors"].is_null(), "{b}");
                    }
                }
                // Walking from A's match to its invoice and transaction is only possible for A.
                let q = "query($id: ID!) { node(id: $id) { ... on PaymentMatch { invoice { number } transaction { amount { amount } } } } }";
                let id = self.a_ids("PaymentMatch")[0].clone();
                assert_eq!(
                    app.gql_data(ta, q, json!({"id": id})).await["node"]["invoice"]["number"],
                    "org-a-2026-0001"
                );
            }
            "mutation.upsertInvoices" => {
                let m = "mutation($inv: [InvoiceInput!]!) { upsertInvoices(input: {invoices: $inv}) { invoices { id number } userErrors { code } } }";
                let vars = json!({"inv": [{"externalId": "inv-1", "kind": "SALES_INVOICE", "number": "B-CHANGED",
                    "currency": "EUR", "total": "5.00", "issueDate": day(-61)}]});
                let b = app.gql_data(tb, m, vars).await;
                assert_eq!(
                    b["upsertInvoices"]["invoices"][0]["id"],
                    gid("Invoice", self.b.invoices[0].0).as_str(),
                    "{b}"
                );
                let q = "{ invoice(externalId: \"inv-1\") { number total { amount } } }";
                let a = app.gql_data(ta, q, json!({})).await;
                assert_eq!(
                    a["invoice"]["number"], "org-a-2026-0001",
                    "A's invoice untouched"
                );
                assert_eq!(a["invoice"]["total"]["amount"], "100.00");
            }
            "mutation.voidInvoice" => {
                let m = "mutation($id: ID) { voidInvoice(input: {id: $id}) { invoice { id } userErrors { code field } } }";
                let id = self.a_ids("Invoice")[1].clone();
                let b = app.gql_data(tb, m, json!({"id": id})).await;
                assert_eq!(
                    b["voidInvoice"]["userErrors"][0]["code"], "NOT_FOUND",
                    "{b}"
                );
                assert!(b["voidInvoice"]["invoice"].is_null());
                let q = "query($id: ID) { invoice(id: $id) { status } }";
                assert_eq!(
                    app.gql_data(ta, q, json!({"id": id})).await["invoice"]["status"],
                    "OPEN"
                );
            }
            "mutation.syncNow" => {
                let m = "mutation($id: ID!) { syncNow(input: {accountId: $id, customerIpAddress: \"203.0.113.1\"}) { nextSyncAllowedAt } }";
                for id in self.a_ids("BankAccount") {
                    let b = app.gql(tb, m, json!({"id": id})).await;
                    assert_eq!(error_code(&b), Some("NOT_FOUND"), "{b}");
                }
                let q = "{ bankAccounts { edges { node { nextSyncAllowedAt } } } }";
                let a = app.gql_data(ta, q, json!({})).await;
                assert!(
                    a["bankAccounts"]["edges"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|e| e["node"]["nextSyncAllowedAt"].is_null()),
                    "A's limit untouched: {a}"
                );
            }
            "mutation.requestReauthorization" => {
                let m = "mutation($id: ID!) { requestReauthorization(input: {accountId: $id, returnUrl: \"https://app.example/\"}) { url } }";
                for id in self.a_ids("BankAccount") {
                    let b = app.gql(tb, m, json!({"id": id})).await;
                    assert_eq!(error_code(&b), Some("NOT_FOUND"), "{b}");
                }
            }
            "mutation.connectPonto" => {
                let m = "mutation { connectPonto(input: {returnUrl: \"https://app.example/\", reconnect: true}) { url } }";
                let b = app.gql_data(tb, m, json!({})).await;
                assert!(b["connectPonto"]["url"].is_string(), "{b}");
                self.assert_a_connected().await;
            }
            "mutation.disconnectPonto" => {
                let m = "mutation { disconnectPonto { pontoConnection { status } } }";
                let b = app.gql_data(tb, m, json!({})).await;
                assert_eq!(
                    b["disconnectPonto"]["pontoConnection"]["status"], "DISCONNECTED",
                    "B's own: {b}"
                );
                self.assert_a_connected().await;
            }
            "mutation.retryInboundEvents" => {
                // A's Ponto webhook whose effect failed: only A can requeue it.
                let store = &app.store;
                let body =
                    br#"{"data":{"id":"iso-evt-1","type":"pontoConnect.account.detailsUpdated"}}"#;
                let stored = store
                    .store_inbound_event(ponto_bridge::store::inbound::NewInboundEvent {
                        ponto_event_id: "iso-evt-1",
                        ponto_organization_id: None,
                        event_type: "pontoConnect.account.detailsUpdated",
                        raw_body: body,
                    })
                    .await
                    .unwrap();
                assert!(stored);
                let until = store.clock().now() + chrono::Duration::minutes(1);
                let claimed = store.claim_inbound("isolation", until, 10).await.unwrap();
                let failed = ponto_bridge::domain::status::InboundStatus::Failed;
                assert!(
                    store
                        .finish_inbound(
                            claimed[0].id,
                            "isolation",
                            failed,
                            Some(self.a.org),
                            Some("test")
                        )
                        .await
                        .unwrap()
                );
                let m = "mutation($s: DateTime!) { retryInboundEvents(input: {since: $s}) { requeued } }";
                let since =
                    json!({"s": (store.clock().now() - chrono::Duration::days(1)).to_rfc3339()});
                let b = app.gql_data(tb, m, since.clone()).await;
                assert_eq!(
                    b["retryInboundEvents"]["requeued"], 0,
                    "B requeues nothing of A's"
                );
                assert_eq!(
                    store.inbound_status("iso-evt-1").await.unwrap().as_deref(),
                    Some(failed.as_str())
                );
                let a = app.gql_data(ta, m, since).await;
                assert_eq!(a["retryInboundEvents"]["requeued"], 1, "A's own: {a}");
            }
            "query.matchSuggestions" => {
                self.a_suggestion().await;
                let q = "query($t: ID, $i: ID) { matchSuggestions(transactionId: $t, invoiceId: $i) { evidence } }";
                for vars in [
                    json!({"t": self.a_ids("BankTransaction")[1]}),
                    json!({"i": self.a_ids("Invoice")[1]}),
                ] {
                    let a = app.gql_data(ta, q, vars.clone()).await;
                    assert_eq!(
                        a["matchSuggestions"],
                        json!([{"evidence": "seeded for A"}]),
                        "{a}"
                    );
                    let b = app.gql(tb, q, vars).await;
                    assert_eq!(error_code(&b), Some("NOT_FOUND"), "{b}");
                }
            }
            "query.reconciliationSettings" => {
                let store = &app.store;
                store
                    .set_reconciliation_settings(self.a.org, 7, Default::default())
                    .await
                    .unwrap();
                let q = "{ reconciliationSettings { matchTolerance } }";
                let a = app.gql_data(ta, q, json!({})).await;
                assert_eq!(a["reconciliationSettings"]["matchTolerance"], "0.07");
                let b = app.gql_data(tb, q, json!({})).await;
                assert_eq!(b["reconciliationSettings"]["matchTolerance"], "0.00");
            }
            "query.ignoreRules" => {
                let m = "mutation { createIgnoreRule(input: {keyword: \"only-a-rule\"}) { ignoreRule { id } userErrors { code } } }";
                let a = app.gql_data(ta, m, json!({})).await;
                let id = a["createIgnoreRule"]["ignoreRule"]["id"].clone();
                assert!(id.is_string(), "{a}");
                let q = "{ ignoreRules { id keyword } }";
                let a = app.gql_data(ta, q, json!({})).await;
                assert!(
                    a["ignoreRules"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["id"] == id)
                );
                let b = app.gql_data(tb, q, json!({})).await;
                assert!(
                    b["ignoreRules"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|r| r["id"] != id),
                    "{b}"
                );
            }
            "query.auditLog" => {
                let m = "mutation($t: ID!) { ignoreTransaction(input: {transactionId: $t, reason: \"audit\"}) { userErrors { code } } }";
                let t = self.a_ids("BankTransaction")[5].clone();
                let a = app.gql_data(ta, m, json!({"t": t})).await;
                assert_eq!(a["ignoreTransaction"]["userErrors"], json!([]), "{a}");
                let q = "{ auditLog(first: 100) { edges { node { subjectId action } } } }";
                let a = app.gql_data(ta, q, json!({})).await;
                let subjects = |d: &Value| -> Vec<Value> {
                    d["auditLog"]["edges"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e["node"]["subjectId"].clone())
                        .collect()
                };
                assert!(subjects(&a).contains(&json!(t)), "{a}");
                let b = app.gql_data(tb, q, json!({})).await;
                assert!(!subjects(&b).contains(&json!(t)), "{b}");
            }
            "mutation.matchTransaction" => {
                let m = "mutation($t: ID!, $i: ID!) { matchTransaction(input: {transactionId: $t, invoiceId: $i, amount: \"1.00\"}) { match { id } userErrors { code field } } }";
                let (a_tx, a_inv) = (
                    self.a_ids("BankTransaction")[1].clone(),
                    self.a_ids("Invoice")[1].clone(),
                );
                let b_tx = gid("BankTransaction", self.b.transactions[1].0);
                let b_inv = gid("Invoice", self.b.invoices[1].0);
                for (t, i, field) in [
                    (&a_tx, &b_inv, "transactionId"),
                    (&b_tx, &a_inv, "invoiceId"),
                ] {
                    let b = app.gql_data(tb, m, json!({"t": t, "i": i})).await;
                    assert_eq!(
                        b["matchTransaction"]["userErrors"][0]["code"], "NOT_FOUND",
                        "{b}"
                    );
                    assert_eq!(
                        b["matchTransaction"]["userErrors"][0]["field"],
                        json!([field])
                    );
                }
                self.assert_a_invoice_open().await;
            }
            "mutation.unmatchTransaction" => {
                let m = "mutation($id: ID!) { unmatchTransaction(input: {matchId: $id}) { userErrors { code } } }";
                let id = self.a_ids("PaymentMatch")[0].clone();
                let b = app.gql_data(tb, m, json!({"id": id})).await;
                assert_eq!(
                    b["unmatchTransaction"]["userErrors"][0]["code"], "NOT_FOUND",
                    "{b}"
                );
                let q = "query($id: ID!) { node(id: $id) { ... on PaymentMatch { reversedAt } } }";
                let a = app.gql_data(ta, q, json!({"id": id})).await;
                assert!(
                    a["node"]["reversedAt"].is_null(),
                    "A's match still live: {a}"
                );
            }
            "mutation.dismissSuggestion" => {
                self.a_suggestion().await;
                let m = "mutation($t: ID!, $i: ID!) { dismissSuggestion(input: {transactionId: $t, invoiceId: $i}) { userErrors { code field } } }";
                let (t, i) = (
                    self.a_ids("BankTransaction")[1].clone(),
                    self.a_ids("Invoice")[1].clone(),
                );
                // A's pair, and A's transaction with B's own invoice: B finds neither.
                let b_invoice = gid("Invoice", self.b.invoices[1].0);
                for (vars, field) in [
                    (json!({"t": t, "i": i}), "transactionId"),
                    (json!({"t": t, "i": b_invoice}), "transactionId"),
                ] {
                    let b = app.gql_data(tb, m, vars).await;
                    assert_eq!(
                        b["dismissSuggestion"]["userErrors"][0],
                        json!({"code": "NOT_FOUND", "field": [field]}),
                        "{b}"
                    );
                }
                let q = "query($t: ID) { matchSuggestions(transactionId: $t) { evidence } }";
                let a = app.gql_data(ta, q, json!({"t": t})).await;
                assert_eq!(
                    a["matchSuggestions"],
                    json!([{"evidence": "seeded for A"}]),
                    "A's suggestion stays"
                );
            }
            "mutation.ignoreTransaction" | "mutation.restoreTransaction" => {
                let name = field.trim_start_matches("mutation.");
                let m = format!(
                    "mutation($t: ID!) {{ {name}(input: {{transactionId: $t}}) {{ userErrors {{ code }} }} }}"
                );
                let t = self.a_ids("BankTransaction")[2].clone();
                let b = app.gql_data(tb, &m, json!({"t": t})).await;
                assert_eq!(b[name]["userErrors"][0]["code"], "NOT_FOUND", "{b}");
                let q = "query($id: ID!) { node(id: $id) { ... on BankTransaction { ignored } } }";
                let a = app.gql_data(ta, q, json!({"id": t})).await;
                assert_eq!(
                    a["node"]["ignored"], false,
                    "A's transaction untouched: {a}"
                );
            }
            "mutation.createIgnoreRule" => {
                // B's rule names A's remittance text: A's transactions stay as they are.
                let m = "mutation { createIgnoreRule(input: {keyword: \"payment org-a\"}) { ignoredCount userErrors { code } } }";
                let b = app.gql_data(tb, m, json!({})).await;
                assert_eq!(b["createIgnoreRule"]["ignoredCount"], 0, "{b}");
                let q = "{ transactions(first: 100, filter: {ignored: true}) { edges { node { id } } } }";
                let a = app.gql_data(ta, q, json!({})).await;
                // Only the one the audit case ignored by hand.
                assert_eq!(
                    ids_in(&a["transactions"]),
                    [self.a_ids("BankTransaction")[5].clone()]
                );
            }
            "mutation.deleteIgnoreRule" => {
                let q = "{ ignoreRules { id } }";
                let a = app.gql_data(ta, q, json!({})).await;
                let id = a["ignoreRules"][0]["id"].clone();
                assert!(id.is_string(), "{a}");
                let m = "mutation($id: ID!) { deleteIgnoreRule(input: {id: $id}) { userErrors { code } } }";
                let b = app.gql_data(tb, m, json!({"id": id})).await;
                assert_eq!(
                    b["deleteIgnoreRule"]["userErrors"][0]["code"], "NOT_FOUND",
                    "{b}"
                );
                let a = app.gql_data(ta, q, json!({})).await;
                assert_eq!(a["ignoreRules"][0]["id"], id, "A's rule stays");
            }
            "mutation.updateReconciliationSettings" => {
                let m = "mutation { updateReconciliationSettings(input: {matchTolerance: \"0.50\", referenceStyle: RF}) { settings { matchTolerance } userErrors { code } } }";
                let b = app.gql_data(tb, m, json!({})).await;
                assert_eq!(
                    b["updateReconciliationSettings"]["settings"]["matchTolerance"], "0.50",
                    "{b}"
                );
                let q = "{ reconciliationSettings { matchTolerance referenceStyle } }";
                let a = app.gql_data(ta, q, json!({})).await;
                assert_eq!(
                    a["reconciliationSettings"],
                    json!({"matchTolerance": "0.07", "referenceStyle": "OGM"})
                );
            }
            "query.webhookEndpoints" | "query.webhookEndpoint" => {
                let a = self.a_endpoint().await;
                let q = "{ webhookEndpoints { id } }";
                let b = app.gql_data(tb, q, json!({})).await;
                assert!(!b.to_string().contains(&a), "{b}");
                let own = app.gql_data(ta, q, json!({})).await;
                assert!(own.to_string().contains(&a), "{own}");
                let q = "query($id: ID!) { webhookEndpoint(id: $id) { id url } }";
                let b = app.gql_data(tb, q, json!({"id": a})).await;
                assert_eq!(b["webhookEndpoint"], Value::Null, "{b}");
                let own = app.gql_data(ta, q, json!({"id": a})).await;
                assert_eq!(own["webhookEndpoint"]["id"], json!(a), "{own}");
            }
            "query.events" => {
                let q = "{ events(first: 100) { edges { node { id type data } } } }";
                let a = app.gql_data(ta, q, json!({})).await;
                let b = app.gql_data(tb, q, json!({})).await;
                let ids = |d: &Value| -> Vec<String> {
                    d["events"]["edges"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
                        .collect()
                };
                let (a, b) = (ids(&a), ids(&b));
                assert!(!a.is_empty() && !b.is_empty(), "both logs seeded");
                assert!(a.iter().all(|id| !b.contains(id)), "B reads A's events");
            }
            "mutation.createWebhookEndpoint" => {
                // B's endpoint is B's alone.
                let m = "mutation { createWebhookEndpoint(input: {url: \"https://127.0.0.1/b\"}) { endpoint { id } userErrors { code } } }";
                let b = app.gql_data(tb, m, json!({})).await;
                let id = b["createWebhookEndpoint"]["endpoint"]["id"].clone();
                assert!(id.is_string(), "{b}");
                let q = "{ webhookEndpoints { id } }";
                let a = app.gql_data(ta, q, json!({})).await;
                assert!(!a.to_string().contains(id.as_str().unwrap()), "{a}");
            }
            "mutation.updateWebhookEndpoint"
            | "mutation.deleteWebhookEndpoint"
            | "mutation.rotateWebhookSecret" => {
                let a = self.a_endpoint().await;
                let name = field.trim_start_matches("mutation.");
                let m = match name {
                    "updateWebhookEndpoint" => {
                        "mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, enabled: false, url: \"https://127.0.0.1/taken\"}) { userErrors { code } } }"
                    }
                    "deleteWebhookEndpoint" => {
                        "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { userErrors { code } } }"
                    }
                    _ => {
                        "mutation($id: ID!) { rotateWebhookSecret(input: {id: $id}) { secret userErrors { code } } }"
                    }
                };
                let b = app.gql_data(tb, m, json!({"id": a})).await;
                assert_eq!(b[name]["userErrors"][0]["code"], "NOT_FOUND", "{b}");
                let q = "query($id: ID!) { webhookEndpoint(id: $id) { url status previousSecretExpiresAt } }";
                let own = app.gql_data(ta, q, json!({"id": a})).await;
                assert_eq!(
                    own["webhookEndpoint"],
                    json!({"url": "https://127.0.0.1/a", "status": "ENABLED", "previousSecretExpiresAt": null}),
                    "A's endpoint untouched"
                );
            }
            other => panic!(
                "root field {other} has no tenant-isolation case: add one to tests/api/isolation.rs"
            ),
        }
    }

    /// A suggestion pairing A's second transaction with A's second invoice (written once).
    async fn a_suggestion(&self) {
        use ponto_bridge::domain::status::SuggestionBasis;
        use ponto_bridge::store::reconcile::{Changes, NewSuggestion};
        let store = &self.app.store;
        let (t, i) = (self.a.transactions[1], self.a.invoices[1]);
        if !store
            .suggestions_by_transactions(self.a.org, &[t])
            .await
            .unwrap()
            .is_empty()
        {
            return;
        }
        let mut tx = store.begin_write().await.unwrap();
        let changes = Changes {
            suggestions_of: vec![t],
            suggestions: vec![NewSuggestion {
                transaction_id: t,
                invoice_id: i,
                basis: SuggestionBasis::CounterpartyName,
                evidence: "seeded for A".into(),
                confidence: 20,
                pending: false,
            }],
            ..Default::default()
        };
        tx.apply_changes(self.a.org, changes, "seed").await.unwrap();
        tx.commit().await.unwrap();
    }

    /// A's webhook endpoint (created on first use).
    async fn a_endpoint(&self) -> String {
        let q = "{ webhookEndpoints { id } }";
        let found = self.app.gql_data(&self.token_a, q, json!({})).await;
        if let Some(id) = found["webhookEndpoints"][0]["id"].as_str() {
            return id.to_owned();
        }
        let m = "mutation { createWebhookEndpoint(input: {url: \"https://127.0.0.1/a\"}) { endpoint { id } userErrors { code } } }";
        let d = self.app.gql_data(&self.token_a, m, json!({})).await;
        d["createWebhookEndpoint"]["endpoint"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{d}"))
            .to_owned()
    }

    /// A's open invoice still has nothing allocated.
    async fn assert_a_invoice_open(&self) {
        let q = "query($id: ID) { invoice(id: $id) { status matches { id } } }";
        let id = self.a_ids("Invoice")[1].clone();
        let a = self.app.gql_data(&self.token_a, q, json!({"id": id})).await;
        assert_eq!(
            a["invoice"],
            json!({"status": "OPEN", "matches": []}),
            "A untouched"
        );
    }

    async fn assert_a_connected(&self) {
        let q = "{ pontoConnection { status accounts { edges { node { status } } } } }";
        let a = self.app.gql_data(&self.token_a, q, json!({})).await;
        assert_eq!(
            a["pontoConnection"]["status"], "CONNECTED",
            "A untouched: {a}"
        );
        let edges = a["pontoConnection"]["accounts"]["edges"]
            .as_array()
            .unwrap();
        assert!(edges.iter().all(|e| e["node"]["status"] == "ACTIVE"));
    }

    /// A listing: A sees exactly its rows, B sees none of A's.
    async fn listing(&self, q: &str, field: &str, ty: &str) {
        let a = ids_in(&self.app.gql_data(&self.token_a, q, json!({})).await[field]);
        let mut want = self.a_ids(ty);
        want.sort();
        let mut got = a.clone();
        got.sort();
        assert_eq!(got, want, "{field} for its owner");
        let b = ids_in(&self.app.gql_data(&self.token_b, q, json!({})).await[field]);
        assert_eq!(b.len(), want.len(), "{field}: B sees its own rows");
        assert!(
            b.iter().all(|id| !want.contains(id)),
            "{field}: B sees A's rows"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_root_field_crosses_organizations() {
    // No background work: the cases seed rows (a failed webhook, say) a worker would take.
    let linked = Linked::start(&[
        "--background-tasks",
        "false",
        "--webhook-allowed-targets",
        "127.0.0.1/32",
    ])
    .await;
    let app = linked.app;
    let a = seed_org(&app.store, "org-a").await;
    let b = seed_org(&app.store, "org-b").await;
    let token_a = app.token("org-a", &Scope::ALL);
    let token_b = app.token("org-b", &Scope::ALL);
    let world = World {
        app,
        a,
        b,
        token_a,
        token_b,
    };
    let fields = root_fields(&world.app).await;
    // Mutations last: they change state the read cases look at.
    let (mutations, reads): (Vec<_>, Vec<_>) =
        fields.iter().partition(|f| f.starts_with("mutation."));
    for f in reads.into_iter().chain(mutations) {
        world.case(f).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_root_field_requires_its_scope() {
    let linked = Linked::start(&[]).await;
    let app = linked.app;
    for field in root_fields(&app).await {
        let c =
            call(&field).unwrap_or_else(|| panic!("{field} is missing from tests/api/surface.rs"));
        let without: Vec<Scope> = Scope::ALL.into_iter().filter(|s| *s != c.scope).collect();
        let body = app
            .gql(&app.token("acme", &without), c.doc, c.vars.clone())
            .await;
        assert_eq!(
            error_code(&body),
            Some("FORBIDDEN"),
            "{field} without {:?}: {body}",
            c.scope
        );
        let body = app.gql(&app.token("acme", &[c.scope]), c.doc, c.vars).await;
        assert_ne!(
            error_code(&body),
            Some("FORBIDDEN"),
            "{field} with {:?}: {body}",
            c.scope
        );
        assert_ne!(
            error_code(&body),
            Some("UNAUTHENTICATED"),
            "{field}: {body}"
        );
    }
}
