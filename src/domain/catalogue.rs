//! Owns the published event catalogue: for every event type a description and the JSON Schema
//! of the envelope subscribers receive, derived from the very structs the data is serialized
//! from, so the schema cannot drift from what is sent.

use super::event::{
    AccountAuthorizationData, AccountData, BalanceData, ConnectionData, EndpointDisabledData,
    EndpointTestData, EventType, InvoicePaymentData, TransactionData,
};
use chrono::{DateTime, Utc};
use schemars::{JsonSchema, schema_for};
use serde_json::{Value, json};

/// The envelope as a schema: `type`, `timestamp` (RFC 3339, milliseconds, UTC) and `data`.
#[derive(JsonSchema)]
#[allow(dead_code)] // Only its schema is used; envelopes are built in `Event::envelope`.
struct Envelope<T> {
    r#type: String,
    timestamp: DateTime<Utc>,
    data: T,
}

/// What a subscriber reads about one event type.
#[derive(Debug, Clone, PartialEq)]
pub struct EventTypeInfo {
    pub event_type: EventType,
    pub description: &'static str,
    /// JSON Schema (draft 2020-12) of the whole envelope. Fields may be added over time, never
    /// removed or retyped, so a receiver should accept properties it does not know.
    pub schema: Value,
}

pub fn description(t: EventType) -> &'static str {
    use EventType::*;
    match t {
        InvoicePaid => "An invoice is paid in full by the transactions matched to it.",
        InvoicePartiallyPaid => "A payment covers part of an invoice; some remains open.",
        InvoiceOverpaid => "The payments matched to an invoice exceed its total.",
        InvoicePaymentReversed => {
            "A payment that counted toward an invoice no longer does (unmatched, removed or \
             corrected by the bank)."
        }
        InvoicePaymentPending => {
            "A pending bank transaction looks like the invoice's payment; not yet booked."
        }
        BankAccountReauthorizationExpiring => {
            "A bank account's authorization expires soon; the user should renew it."
        }
        BankAccountReauthorizationRequired => {
            "A bank account's authorization expired: no new data until the user renews it."
        }
        BankAccountReauthorized => "A bank account was authorized again.",
        ConnectionConnected => "The organization linked Ponto.",
        ConnectionDisconnected => "The Ponto link was revoked.",
        ConnectionBroken => "The Ponto link stopped working (for example a refused token).",
        ConnectionNoAccountsActivated => "The Ponto link has no bank account switched on.",
        ConnectionRestored => "The Ponto link works again.",
        BankTransactionCreated => "A bank transaction was read for the first time.",
        BankTransactionUpdated => {
            "The bank changed a transaction already read, or booked a pending one under a new \
             id (the pending one's `supersededBy` names its booked successor)."
        }
        BankTransactionRemoved => "The bank no longer reports a transaction read before.",
        BankAccountBalanceUpdated => "A bank account's balance changed.",
        BankAccountAdded => "A bank account was switched on in Ponto.",
        BankAccountRevoked => "A bank account was switched off in Ponto; its history is kept.",
        WebhookEndpointDisabled => {
            "One of the organization's webhook endpoints was disabled after failing (it \
             answered 410 or failed for too long)."
        }
        WebhookEndpointTest => "Sent on request to one endpoint, to check that it receives.",
    }
}

fn envelope_schema<T: JsonSchema>(t: EventType) -> Value {
    let mut schema = serde_json::to_value(schema_for!(Envelope<T>)).expect("a schema serializes");
    schema["title"] = json!(t.as_str());
    schema["description"] = json!(description(t));
    schema["properties"]["type"] = json!({"const": t.as_str()});
    schema
}

/// The JSON Schema of `t`'s envelope.
pub fn schema(t: EventType) -> Value {
    use EventType::*;
    match t {
        InvoicePaid
        | InvoicePartiallyPaid
        | InvoiceOverpaid
        | InvoicePaymentReversed
        | InvoicePaymentPending => envelope_schema::<InvoicePaymentData>(t),
        BankAccountReauthorizationExpiring
        | BankAccountReauthorizationRequired
        | BankAccountReauthorized => envelope_schema::<AccountAuthorizationData>(t),
        ConnectionConnected
        | ConnectionDisconnected
        | ConnectionBroken
        | ConnectionNoAccountsActivated
        | ConnectionRestored => envelope_schema::<ConnectionData>(t),
        BankTransactionCreated | BankTransactionUpdated | BankTransactionRemoved => {
            envelope_schema::<TransactionData>(t)
        }
        BankAccountBalanceUpdated => envelope_schema::<BalanceData>(t),
        BankAccountAdded | BankAccountRevoked => envelope_schema::<AccountData>(t),
        WebhookEndpointDisabled => envelope_schema::<EndpointDisabledData>(t),
        WebhookEndpointTest => envelope_schema::<EndpointTestData>(t),
    }
}

/// The whole catalogue, in declaration order.
pub fn catalogue() -> Vec<EventTypeInfo> {
    EventType::ALL
        .into_iter()
        .map(|t| EventTypeInfo {
            event_type: t,
            description: description(t),
            schema: schema(t),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_an_envelope_schema_naming_it() {
        for info in catalogue() {
            let name = info.event_type.as_str();
            let s = &info.schema;
            assert_eq!(s["title"], name);
            assert_eq!(s["properties"]["type"]["const"], name);
            assert_eq!(s["properties"]["timestamp"]["format"], "date-time", "{s}");
            let required: Vec<&str> = s["required"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(required, ["type", "timestamp", "data"], "{name}");
            assert!(!info.description.is_empty());
        }
    }

    #[test]
    fn data_fields_are_named_as_sent() {
        let s = schema(EventType::InvoicePaid);
        // The data schema sits in `$defs` or inline; either way its fields are camelCase.
        let text = s.to_string();
        assert!(text.contains("\"invoiceId\""), "{text}");
        assert!(text.contains("\"paymentPending\""), "{text}");
        assert!(!text.contains("invoice_id"), "{text}");
    }
}
