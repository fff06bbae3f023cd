//! Tenant isolation of the subscriptions: another organization's invoice or account is
//! NOT_FOUND (its owner's own subscription starts), and with both organizations subscribed at
//! once each sees its own events and never the other's.

use crate::isolation::World;
use crate::outbound_delivery::announce;
use crate::subscriptions::{EVENTS, first_result};
use crate::support::error_code;
use crate::support::ws::WsClient;
use serde_json::{Value, json};
use std::time::Duration;

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
            "connectionStatusChanged" => {
                self.apart("subscription { connectionStatusChanged { status } }", |p| {
                    p["data"]["connectionStatusChanged"]["status"].is_string()
                })
                .await
            }
            "events" => {
                self.apart(EVENTS, |p| {
                    p["data"]["events"]["type"] == "connection.broken"
                })
                .await
            }
            _ => return false,
        }
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

    /// A and B subscribed at once: an event of A's reaches A only, one of B's B only.
    async fn apart(&self, doc: &str, shows: impl Fn(&Value) -> bool) {
        let mut a = WsClient::ready(&self.app.base, &self.token_a).await;
        let mut b = WsClient::ready(&self.app.base, &self.token_b).await;
        a.subscribe("1", doc, json!({})).await;
        b.subscribe("1", doc, json!({})).await;
        crate::subscriptions::started().await;
        announce(&self.app, self.a.org, "a's").await;
        let got = a.next_for("1").await;
        assert!(shows(&got), "A's own: {got}");
        b.silent_for(Duration::from_millis(500)).await;
        announce(&self.app, self.b.org, "b's").await;
        let got = b.next_for("1").await;
        assert!(shows(&got), "B's own: {got}");
        a.silent_for(Duration::from_millis(500)).await;
    }
}
