//! Tenant isolation: two organizations seeded with accounts, transactions, invoices, a match and
//! events. Each owner reads its own rows; the other organization's token gets NOT_FOUND or
//! nothing through every root field, mutation and `node(id)`. Every root field listed by
//! introspection must have a case here.

use crate::seed::{Seeded, seed_org};
use crate::support::{Linked, TestApp, day, error_code};
use crate::surface::{call, root_fields, send};
use ponto_bridge::domain::scope::Scope;
use ponto_bridge::graphql::ids::encode;
use serde_json::{Value, json};

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) a: Seeded,
    pub(crate) b: Seeded,
    pub(crate) token_a: String,
    pub(crate) token_b: String,
}

pub(crate) fn ids_in(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn gid(ty: &str, id: uuid::Uuid) -> String {
    encode(ty, id)
}

impl World {
    pub(crate) fn a_ids(&self, ty: &str) -> Vec<String> {
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
            other => {
                if !self.reconciliation_case(other).await && !self.subscription_case(other).await {
                    panic!(
                        "root field {other} has no tenant-isolation case: add one to tests/api/isolation.rs"
                    )
                }
            }
        }
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
        let body = send(&app, &field, &app.token("acme", &without), &c).await;
        assert_eq!(
            error_code(&body),
            Some("FORBIDDEN"),
            "{field} without {:?}: {body}",
            c.scope
        );
        let body = send(&app, &field, &app.token("acme", &[c.scope]), &c).await;
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
