//! Owns the outbound event catalogue (ARCHITECTURE.md, outbound events): every event type, the data each carries,
//! and the versioned envelope `{"type", "timestamp", "data"}` sent to subscribers.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

/// Every event type we announce. The string forms are a public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    InvoicePaid,
    InvoicePartiallyPaid,
    InvoiceOverpaid,
    InvoicePaymentReversed,
    InvoicePaymentPending,
    BankAccountReauthorizationExpiring,
    BankAccountReauthorizationRequired,
    BankAccountReauthorized,
    ConnectionConnected,
    ConnectionDisconnected,
    ConnectionBroken,
    ConnectionNoAccountsActivated,
    ConnectionRestored,
    BankTransactionCreated,
    BankTransactionUpdated,
    BankTransactionRemoved,
    BankAccountBalanceUpdated,
    BankAccountAdded,
    BankAccountRevoked,
    WebhookEndpointDisabled,
    WebhookEndpointTest,
}

impl EventType {
    pub const ALL: [EventType; 21] = [
        EventType::InvoicePaid,
        EventType::InvoicePartiallyPaid,
        EventType::InvoiceOverpaid,
        EventType::InvoicePaymentReversed,
        EventType::InvoicePaymentPending,
        EventType::BankAccountReauthorizationExpiring,
        EventType::BankAccountReauthorizationRequired,
        EventType::BankAccountReauthorized,
        EventType::ConnectionConnected,
        EventType::ConnectionDisconnected,
        EventType::ConnectionBroken,
        EventType::ConnectionNoAccountsActivated,
        EventType::ConnectionRestored,
        EventType::BankTransactionCreated,
        EventType::BankTransactionUpdated,
        EventType::BankTransactionRemoved,
        EventType::BankAccountBalanceUpdated,
        EventType::BankAccountAdded,
        EventType::BankAccountRevoked,
        EventType::WebhookEndpointDisabled,
        EventType::WebhookEndpointTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::InvoicePaid => "invoice.paid",
            EventType::InvoicePartiallyPaid => "invoice.partially_paid",
            EventType::InvoiceOverpaid => "invoice.overpaid",
            EventType::InvoicePaymentReversed => "invoice.payment_reversed",
            EventType::InvoicePaymentPending => "invoice.payment_pending",
            EventType::BankAccountReauthorizationExpiring => {
                "bank_account.reauthorization_expiring"
            }
            EventType::BankAccountReauthorizationRequired => {
                "bank_account.reauthorization_required"
            }
            EventType::BankAccountReauthorized => "bank_account.reauthorized",
            EventType::ConnectionConnected => "connection.connected",
            EventType::ConnectionDisconnected => "connection.disconnected",
            EventType::ConnectionBroken => "connection.broken",
            EventType::ConnectionNoAccountsActivated => "connection.no_accounts_activated",
            EventType::ConnectionRestored => "connection.restored",
            EventType::BankTransactionCreated => "bank_transaction.created",
            EventType::BankTransactionUpdated => "bank_transaction.updated",
            EventType::BankTransactionRemoved => "bank_transaction.removed",
            EventType::BankAccountBalanceUpdated => "bank_account.balance_updated",
            EventType::BankAccountAdded => "bank_account.added",
            EventType::BankAccountRevoked => "bank_account.revoked",
            EventType::WebhookEndpointDisabled => "webhook_endpoint.disabled",
            EventType::WebhookEndpointTest => "webhook_endpoint.test",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Sent only to the endpoint it was asked for, whatever the others subscribe to.
    pub fn is_targeted(self) -> bool {
        self == EventType::WebhookEndpointTest
    }

    /// Whether an endpoint subscribed to `types` (empty: every type) receives this type.
    pub fn subscribed_by(self, types: &[EventType]) -> bool {
        !self.is_targeted() && (types.is_empty() || types.contains(&self))
    }
}

/// Data of `invoice.*` events. Amounts are decimal strings in the invoice currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoicePaymentData {
    pub invoice_id: String,
    pub external_id: String,
    pub number: String,
    pub status: String,
    pub paid_amount: String,
    pub open_amount: String,
    pub currency: String,
    pub paid_at: Option<NaiveDate>,
    /// A pending transaction looks like the payment.
    pub payment_pending: bool,
    /// The live allocations that make up `paidAmount`, oldest first.
    pub payments: Vec<PaymentData>,
}

/// One allocation in an `invoice.*` event: which transaction paid how much, and its value date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentData {
    pub transaction_id: String,
    pub amount: String,
    pub value_date: Option<NaiveDate>,
}

/// Data of `bank_account.*` re-authorization events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountAuthorizationData {
    pub account_id: String,
    pub iban: Option<String>,
    pub authorization_expires_at: Option<DateTime<Utc>>,
    /// Our link (`/reauthorize/{account}?t=…`), when one can be made.
    pub reauthorization_url: Option<String>,
}

/// Data of `connection.*` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionData {
    pub connection_id: String,
    pub status: String,
    pub problems: Vec<String>,
    pub reason: Option<String>,
}

/// Data of `bank_transaction.created`, `.updated` (as it is now) and `.removed` (as it was
/// last seen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionData {
    pub transaction_id: String,
    pub account_id: String,
    pub status: String,
    pub amount: String,
    pub currency: String,
    pub counterpart_name: Option<String>,
    pub value_date: Option<NaiveDate>,
    /// A pending transaction retired because this booked one replaced it (`updated` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

/// Data of `bank_account.balance_updated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BalanceData {
    pub account_id: String,
    pub iban: Option<String>,
    pub currency: String,
    pub current_balance: Option<String>,
    pub available_balance: Option<String>,
    pub reference_date: Option<DateTime<Utc>>,
}

/// Data of `bank_account.added` and `bank_account.revoked` (the user switched the account on
/// or off in Ponto; a revoked account's history is kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountData {
    pub account_id: String,
    pub iban: Option<String>,
    pub currency: String,
    pub description: Option<String>,
}

/// Data of `webhook_endpoint.disabled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointDisabledData {
    pub endpoint_id: String,
    /// The endpoint's origin (`https://host:port`): its path or query may hold the
    /// subscriber's own token, and this event reaches the organization's other endpoints.
    pub origin: String,
    pub reason: String,
}

/// Data of `webhook_endpoint.test`, sent on request to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTestData {
    pub endpoint_id: String,
    pub message: String,
}

/// An event to announce: its type and its data. Constructors pair each type with the data
/// family it carries, so a `connection.broken` can never carry invoice data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    event_type: EventType,
    data: Value,
}

fn to_value(data: impl Serialize) -> Value {
    serde_json::to_value(data).expect("event data serializes")
}

impl Event {
    pub fn invoice(event_type: InvoiceEvent, data: InvoicePaymentData) -> Self {
        Self {
            event_type: event_type.into(),
            data: to_value(data),
        }
    }

    pub fn account_authorization(
        event_type: AuthorizationEvent,
        data: AccountAuthorizationData,
    ) -> Self {
        Self {
            event_type: event_type.into(),
            data: to_value(data),
        }
    }

    pub fn connection(event_type: ConnectionEvent, data: ConnectionData) -> Self {
        Self {
            event_type: event_type.into(),
            data: to_value(data),
        }
    }

    pub fn transaction_created(data: TransactionData) -> Self {
        Self {
            event_type: EventType::BankTransactionCreated,
            data: to_value(data),
        }
    }

    pub fn transaction_updated(data: TransactionData) -> Self {
        Self {
            event_type: EventType::BankTransactionUpdated,
            data: to_value(data),
        }
    }

    pub fn transaction_removed(data: TransactionData) -> Self {
        Self {
            event_type: EventType::BankTransactionRemoved,
            data: to_value(data),
        }
    }

    pub fn account_added(data: AccountData) -> Self {
        Self {
            event_type: EventType::BankAccountAdded,
            data: to_value(data),
        }
    }

    pub fn account_revoked(data: AccountData) -> Self {
        Self {
            event_type: EventType::BankAccountRevoked,
            data: to_value(data),
        }
    }

    pub fn balance_updated(data: BalanceData) -> Self {
        Self {
            event_type: EventType::BankAccountBalanceUpdated,
            data: to_value(data),
        }
    }

    pub fn endpoint_disabled(data: EndpointDisabledData) -> Self {
        Self {
            event_type: EventType::WebhookEndpointDisabled,
            data: to_value(data),
        }
    }

    pub fn endpoint_test(data: EndpointTestData) -> Self {
        Self {
            event_type: EventType::WebhookEndpointTest,
            data: to_value(data),
        }
    }

    pub fn event_type(&self) -> EventType {
        self.event_type
    }

    pub fn data(&self) -> &Value {
        &self.data
    }

    /// The envelope subscribers receive. `timestamp` is RFC 3339 with milliseconds, UTC.
    pub fn envelope(&self, timestamp: DateTime<Utc>) -> Value {
        json!({
            "type": self.event_type.as_str(),
            "timestamp": timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
            "data": self.data,
        })
    }
}

macro_rules! event_family {
    ($name:ident { $($variant:ident => $ty:ident),* $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),* }
        impl From<$name> for EventType {
            fn from(e: $name) -> EventType {
                match e { $($name::$variant => EventType::$ty),* }
            }
        }
    };
}

event_family!(InvoiceEvent {
    Paid => InvoicePaid,
    PartiallyPaid => InvoicePartiallyPaid,
    Overpaid => InvoiceOverpaid,
    PaymentReversed => InvoicePaymentReversed,
    PaymentPending => InvoicePaymentPending,
});
event_family!(AuthorizationEvent {
    Expiring => BankAccountReauthorizationExpiring,
    Required => BankAccountReauthorizationRequired,
    Reauthorized => BankAccountReauthorized,
});
event_family!(ConnectionEvent {
    Connected => ConnectionConnected,
    Disconnected => ConnectionDisconnected,
    Broken => ConnectionBroken,
    NoAccountsActivated => ConnectionNoAccountsActivated,
    Restored => ConnectionRestored,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_and_names_are_unique() {
        let mut names: Vec<_> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EventType::ALL.len());
        assert_eq!(EventType::parse("invoice.unknown"), None);
    }

    #[test]
    fn envelope_has_type_timestamp_and_data() {
        let e = Event::connection(
            ConnectionEvent::Broken,
            ConnectionData {
                connection_id: "c1".into(),
                status: "BROKEN".into(),
                problems: vec!["CONNECTION_BROKEN".into()],
                reason: Some("invalid_grant".into()),
            },
        );
        let ts = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .to_utc();
        let env = e.envelope(ts);
        assert_eq!(env["type"], "connection.broken");
        assert_eq!(env["timestamp"], "2026-11-25T10:00:00.000Z");
        assert_eq!(env["data"]["problems"][0], "CONNECTION_BROKEN");
        assert_eq!(env["data"]["connectionId"], "c1");
    }
}
