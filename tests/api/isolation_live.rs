//! Tenant isolation of the subscriptions: another organization's invoice or account is
//! NOT_FOUND (its owner's own subscription starts), and with both organizations subscribed at
//! once, unfiltered, each sees its own events and never the other's — for every subscription.

use crate::isolation::{World, gid};
use crate::outbound_delivery::append;
use crate::seed::Seeded;
use crate::subscriptions::{EVENTS, first_result};
use crate::support::catalogue::broken_connection;
use crate::support::error_code;
use crate::support::ws::WsClient;
use ponto_bridge::domain::event::{
    BalanceData, Event, InvoiceEvent, InvoicePaymentData, TransactionData,
};
use serde_json::json;
use std::time::Duration;

/// An event of the kind `subscription` follows, about the organization's own first invoice,
/// account or transaction (so its own subscription yields it).
fn event_about(subscription: &str, s: &Seeded) -> Event {
    let (account, transaction) = (s.accounts[0].0.to_string(), s.transactions[0].0.to_string());
    let tx = TransactionData {
        transaction_id: transaction,
        account_id: account.clone(),
        status: "BOOKED".into(),
        amount: "1.00".into(),
        currency: "EUR".into(),
        counterpart_name: None,
        value_date: None,
        superseded_by: None,
    };
    match subscription {
        "invoicePaymentStatusChanged" => Event::invoice(
            InvoiceEvent::Paid,
            InvoicePaymentData {
                invoice_id: s.invoices[0].0.to_string(),
                external_id: "inv-1".into(),
                number: "inv-1".into(),
                status: "PAID".into(),
                paid_amount: "1.00".into(),
                open_amount: "0.00".into(),
                currency: "EUR".into(),
                paid_at: None,
                payment_pending: false,
                payments: vec![],
            },
        ),
        "transactionAdded" => Event::transaction_created(tx),
        "transactionChanged" => Event::transaction_removed(tx),
        "bankAccountChanged" => Event::balance_updated(BalanceData {
            account_id: account,
            iban: None,
            currency: "EUR".into(),
            current_balance: Some("1.00".into()),
            available_balance: None,
            reference_date: None,
        }),
        _ => broken_connection("isolation"),
    }
}

/// The id of the object `subscription` should yield for `s`'s event, or `None` when it yields
/// no object of the organization's own (the connection, the log).
fn own_object(subscription: &str, s: &Seeded) -> Option<String> {
    match subscription {
        "invoicePaymentStatusChanged" => Some(gid("Invoice", s.invoices[0].0)),
        "transactionAdded" | "transactionChanged" => {
            Some(gid("BankTransaction", s.transactions[0].0))
        }
        "bankAccountChanged" => Some(gid("BankAccount", s.accounts[0].0)),
        _ => None,
    }
}

impl World {
    /// The isolation case of a subscription field; `false` when `field` is not one.
    pub(crate) async fn subscription_case(&self, field: &str) -> bool {
        let Some(name) = field.strip_prefix("subscription.") else {
            return false;
        };
        match name {
            "invoicePaymentStatusChanged" => {
                let doc =
                    "subscription($id: ID) { invoicePaymentStatusChanged(invoiceId: $id) { id } }";
                self.foreign_id(doc, &self.a_ids("Invoice")[0]).await;
            }
            "transactionAdded" | "transactionChanged" | "bankAccountChanged" => {
                let doc = format!("subscription($id: ID) {{ {name}(accountId: $id) {{ id }} }}");
                self.foreign_id(&doc, &self.a_ids("BankAccount")[0]).await;
            }
            "connectionStatusChanged" | "events" => {}
            _ => return false,
        }
        let doc = match name {
            "connectionStatusChanged" => {
                "subscription { connectionStatusChanged { status } }".into()
            }
            "events" => EVENTS.to_owned(),
            _ => format!("subscription {{ {name} {{ id }} }}"),
        };
        self.apart(name, &doc).await;
        true
    }

    /// B subscribing with A's id is NOT_FOUND; A's own subscription starts.
    async fn foreign_id(&self, doc: &str, a_id: &str) {
        let vars = json!({"id": a_id});
        let b = first_result(&self.app, &self.token_b, doc, vars.clone()).await;
        assert_eq!(error_code(&b), Some("NOT_FOUND"), "{doc} for B: {b}");
        let a = first_result(&self.app, &self.token_a, doc, vars).await;
        assert_eq!(error_code(&a), None, "{doc} for A: {a}");
    }

    /// A and B subscribed at once, without a filter: an event of A's reaches A only (as A's own
    /// object), one of B's B only.
    async fn apart(&self, subscription: &str, doc: &str) {
        let mut a = WsClient::ready(&self.app.base, &self.token_a).await;
        let mut b = WsClient::ready(&self.app.base, &self.token_b).await;
        a.subscribe("1", doc, json!({})).await;
        b.subscribe("1", doc, json!({})).await;
        crate::subscriptions::started().await;
        self.one_way(subscription, &self.a, &mut a, &mut b).await;
        self.one_way(subscription, &self.b, &mut b, &mut a).await;
    }

    /// An event of `me`'s reaches `mine` as `me`'s own object, and `other` gets nothing.
    async fn one_way(
        &self,
        subscription: &str,
        me: &Seeded,
        mine: &mut WsClient,
        other: &mut WsClient,
    ) {
        append(&self.app, me.org, &event_about(subscription, me)).await;
        let got = mine.next_for("1").await;
        let yielded = &got["data"][subscription];
        match own_object(subscription, me) {
            Some(id) => assert_eq!(yielded["id"], id.as_str(), "{subscription}: {got}"),
            None => assert!(
                yielded["status"].is_string() || yielded["type"] == "connection.broken",
                "{subscription}: {got}"
            ),
        }
        other.silent_for(Duration::from_millis(500)).await;
    }
}
