//! The bookkeeper's desk the reconciliation tests work at: one tenant linked to one sandbox
//! account through the real connect flow, with the GraphQL calls those tests share (invoices,
//! transactions, the unallocated list, events, the audit log, a bank read).

use crate::support::{Linked, day, wait_until};
use chrono::Duration;
use serde_json::{Value, json};
use std::time::Duration as Wait;

pub const INVOICE: &str = "query($e: String) { invoice(externalId: $e) { id status openAmount { amount }
    writtenOffAmount { amount } paymentPending overdue structuredReference
    matches { id rule method evidence createdBy reversedAt reversedBy amount { amount } transaction { id } }
    suggestions { basis evidence confidence pending transaction { id } } } }";

pub const TRANSACTION: &str =
    "query($id: ID!) { node(id: $id) { ... on BankTransaction { id ignored
    ignoredReason ignoredBy unallocatedAmount { amount }
    matches { id reversedAt invoice { number } }
    suggestions { evidence invoice { number } } } } }";

pub const MATCH: &str = "mutation($t: ID!, $i: ID!, $a: Decimal) { matchTransaction(input: {transactionId: $t, invoiceId: $i, amount: $a}) {
    match { id rule method evidence createdBy amount { amount } } invoice { status openAmount { amount } }
    transaction { unallocatedAmount { amount } } userErrors { field message code } } }";

pub const UNMATCH: &str = "mutation($m: ID!, $r: String) { unmatchTransaction(input: {matchId: $m, reason: $r}) {
    match { reversedAt reversedBy } invoice { status openAmount { amount } } userErrors { code } } }";

pub const UPSERT: &str = "mutation($i: [InvoiceInput!]!) { upsertInvoices(input: {invoices: $i}) { userErrors { code message } } }";

/// One tenant linked to one sandbox account.
pub struct Desk {
    pub l: Linked,
    pub token: String,
    pub ponto_org: String,
    pub acc: String,
}

pub fn sales(ext: &str, number: &str, total: &str, reference: Option<&str>) -> Value {
    json!({"externalId": ext, "kind": "SALES_INVOICE", "number": number, "currency": "EUR",
           "total": total, "issueDate": day(-30), "dueDate": day(-2), "structuredReference": reference,
           "counterpartyName": "Customer NV"})
}

impl Desk {
    /// Links "acme" with these transactions at the bank, and waits for their import.
    pub async fn start(txs: Value) -> Desk {
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

    pub async fn data(&self, q: &str, vars: Value) -> Value {
        self.l.app.gql_data(&self.token, q, vars).await
    }

    pub async fn upsert(&self, items: Value) {
        let d = self.data(UPSERT, json!({"i": items})).await;
        assert_eq!(d["upsertInvoices"]["userErrors"], json!([]), "{d}");
    }

    pub async fn invoice(&self, ext: &str) -> Value {
        self.data(INVOICE, json!({"e": ext})).await["invoice"].take()
    }

    pub async fn transaction(&self, id: &str) -> Value {
        self.data(TRANSACTION, json!({"id": id})).await["node"].take()
    }

    /// The id of the (live) transaction whose remittance information is `text`.
    pub async fn tx(&self, text: &str) -> String {
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
    pub async fn unallocated(&self) -> Vec<String> {
        self.texts_where_unallocated(true).await
    }

    /// Remittance texts of the transactions `filter: {unallocated: $u}` selects, sorted.
    pub async fn texts_where_unallocated(&self, unallocated: bool) -> Vec<String> {
        let q = "query($u: Boolean) { transactions(first: 100, filter: {unallocated: $u}) { edges { node { remittanceInformation } } } }";
        let d = self.data(q, json!({"u": unallocated})).await;
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

    pub async fn invoice_events(&self) -> Vec<String> {
        self.l
            .event_types("acme")
            .await
            .into_iter()
            .filter(|t| t.starts_with("invoice."))
            .collect()
    }

    /// How many bank changes were imported (`bank_transaction.updated` events): proof that a
    /// read after a change at the bank really brought it in.
    pub async fn bank_updates(&self) -> usize {
        self.l
            .event_types("acme")
            .await
            .iter()
            .filter(|t| *t == "bank_transaction.updated")
            .count()
    }

    /// A Ponto-side synchronization, then the next scheduled read.
    pub async fn bank_read(&self) {
        self.l.reads_settled("acme").await;
        self.l
            .sb
            .organization_does(&self.ponto_org, "synchronize")
            .await;
        self.l.clock.advance(Duration::minutes(61));
        self.l.reads_settled("acme").await;
    }

    pub async fn audit(&self) -> Vec<Value> {
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

pub fn amount(v: &Value) -> &str {
    v["amount"].as_str().unwrap()
}

impl Desk {
    /// The sandbox's id of one of our transactions.
    pub async fn acc_tx(&self, id: &str) -> String {
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
