//! Tenant isolation, continued: the cases of the root fields that steer reconciliation
//! (suggestions, manual matches, ignore rules, settings, the audit log) and of webhook endpoints
//! and the event log, called by `isolation::World::case` for the fields it does not handle.

use crate::isolation::{World, gid, ids_in};
use crate::support::error_code;
use serde_json::{Value, json};

impl World {
    /// The case of `field`, or `false` when it has none here either.
    pub(crate) async fn reconciliation_case(&self, field: &str) -> bool {
        let (app, ta, tb) = (&self.app, self.token_a.as_str(), self.token_b.as_str());
        match field {
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
                let b_tx = gid("BankTransaction", self.b.transactions[1].0);
                for (vars, field) in [
                    (json!({"t": t, "i": i}), "transactionId"),
                    (json!({"t": t, "i": b_invoice}), "transactionId"),
                    (json!({"t": b_tx, "i": i}), "invoiceId"),
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
                // B's ignore meets one of A's transactions in use, B's restore one A set aside
                // (and brings back afterwards, for the cases that count A's ignored ones).
                let t = self.a_ids("BankTransaction")[2].clone();
                let restoring = name == "restoreTransaction";
                let set_aside = |verb: &str| {
                    format!(
                        "mutation($t: ID!) {{ {verb}(input: {{transactionId: $t}}) {{ userErrors {{ code }} }} }}"
                    )
                };
                if restoring {
                    let a = app
                        .gql_data(ta, &set_aside("ignoreTransaction"), json!({"t": t}))
                        .await;
                    assert_eq!(a["ignoreTransaction"]["userErrors"], json!([]), "{a}");
                }
                let b = app.gql_data(tb, &m, json!({"t": t})).await;
                assert_eq!(b[name]["userErrors"][0]["code"], "NOT_FOUND", "{b}");
                let q = "query($id: ID!) { node(id: $id) { ... on BankTransaction { ignored } } }";
                let a = app.gql_data(ta, q, json!({"id": t})).await;
                assert_eq!(
                    a["node"]["ignored"], restoring,
                    "A's transaction untouched: {a}"
                );
                if restoring {
                    let a = app
                        .gql_data(ta, &set_aside("restoreTransaction"), json!({"t": t}))
                        .await;
                    assert_eq!(a["restoreTransaction"]["userErrors"], json!([]), "{a}");
                }
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
            "query.webhookEventTypes" => {
                // The catalogue is the same for everyone: no tenant data.
                let q = "{ webhookEventTypes { name } }";
                let a = app.gql_data(ta, q, json!({})).await;
                let b = app.gql_data(tb, q, json!({})).await;
                assert_eq!(a, b);
                assert!(a.to_string().contains("invoice.paid"), "{a}");
            }
            "mutation.sendTestWebhook"
            | "mutation.redeliverWebhook"
            | "mutation.recoverWebhookEndpoint" => {
                let a = self.a_endpoint().await;
                let m = "mutation($id: ID!) { sendTestWebhook(input: {id: $id}) { delivery { id } userErrors { code } } }";
                let own = app.gql_data(ta, m, json!({"id": a})).await;
                let delivery = own["sendTestWebhook"]["delivery"]["id"].clone();
                assert!(delivery.is_string(), "{own}");
                let b = app.gql_data(tb, m, json!({"id": a})).await;
                assert_eq!(
                    b["sendTestWebhook"]["userErrors"][0]["code"], "NOT_FOUND",
                    "{b}"
                );
                let m = "mutation($id: ID!) { redeliverWebhook(input: {deliveryId: $id}) { delivery { id } userErrors { code } } }";
                let b = app.gql_data(tb, m, json!({"id": delivery})).await;
                assert_eq!(
                    b["redeliverWebhook"]["userErrors"][0]["code"], "NOT_FOUND",
                    "{b}"
                );
                let m = "mutation($id: ID!, $s: DateTime!) { recoverWebhookEndpoint(input: {endpointId: $id, since: $s}) { requeued userErrors { code } } }";
                let since = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
                let b = app.gql_data(tb, m, json!({"id": a, "s": since})).await;
                assert_eq!(
                    b["recoverWebhookEndpoint"]["userErrors"][0]["code"], "NOT_FOUND",
                    "{b}"
                );
                // B's view of A's endpoint, and of its deliveries, is nothing.
                let q = "query($id: ID!) { webhookEndpoint(id: $id) { deliveries { edges { node { id } } } } }";
                let b = app.gql_data(tb, q, json!({"id": a})).await;
                assert_eq!(b["webhookEndpoint"], Value::Null, "{b}");
                let own = app.gql_data(ta, q, json!({"id": a})).await;
                assert!(
                    own.to_string().contains(delivery.as_str().unwrap()),
                    "{own}"
                );
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
            _ => return false,
        }
        true
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
}
