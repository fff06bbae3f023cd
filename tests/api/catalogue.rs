//! The published event catalogue (`webhookEventTypes`): every type of the library's catalogue
//! served with a JSON Schema that an independent validator compiles; an event of every type,
//! written through the event log as the service writes it, validates against its schema; and
//! the validator refuses what the schema does not describe (the negative controls). The other
//! tests' events are checked too: every read of the log in the suite goes through
//! `support::catalogue::checked_events`.

use crate::support::TestApp;
use crate::support::catalogue::{all_types, checked_events, validate};
use ponto_bridge::domain::catalogue;
use ponto_bridge::domain::event::*;
use serde_json::{Value, json};

/// One event of `t`, with the data the service would send (some optional fields empty, some
/// filled). A match without a wildcard: a new type does not compile without its sample.
pub(crate) fn sample(t: EventType, now: chrono::DateTime<chrono::Utc>) -> Event {
    let invoice = InvoicePaymentData {
        invoice_id: "inv".into(),
        external_id: "ext-1".into(),
        number: "2026-0001".into(),
        status: "PAID".into(),
        paid_amount: "12.10".into(),
        open_amount: "0.00".into(),
        currency: "EUR".into(),
        paid_at: Some(now.date_naive()),
        payment_pending: false,
        payments: vec![PaymentData {
            transaction_id: "tx".into(),
            amount: "12.10".into(),
            value_date: None,
        }],
    };
    let auth = AccountAuthorizationData {
        account_id: "acc".into(),
        iban: Some("BE68539007547034".into()),
        authorization_expires_at: Some(now),
        reauthorization_url: None,
    };
    let connection = ConnectionData {
        connection_id: "c".into(),
        status: "BROKEN".into(),
        problems: vec!["CONNECTION_BROKEN".into()],
        reason: None,
    };
    let transaction = TransactionData {
        transaction_id: "tx".into(),
        account_id: "acc".into(),
        status: "BOOKED".into(),
        amount: "-3.50".into(),
        currency: "EUR".into(),
        counterpart_name: None,
        value_date: Some(now.date_naive()),
        superseded_by: Some("booked".into()),
    };
    let account = AccountData {
        account_id: "acc".into(),
        iban: None,
        currency: "EUR".into(),
        description: Some("Current account".into()),
    };
    use EventType as T;
    match t {
        T::InvoicePaid => Event::invoice(InvoiceEvent::Paid, invoice),
        T::InvoicePartiallyPaid => Event::invoice(InvoiceEvent::PartiallyPaid, invoice),
        T::InvoiceOverpaid => Event::invoice(InvoiceEvent::Overpaid, invoice),
        T::InvoicePaymentReversed => Event::invoice(InvoiceEvent::PaymentReversed, invoice),
        T::InvoicePaymentPending => Event::invoice(InvoiceEvent::PaymentPending, invoice),
        T::BankAccountReauthorizationExpiring => {
            Event::account_authorization(AuthorizationEvent::Expiring, auth)
        }
        T::BankAccountReauthorizationRequired => {
            Event::account_authorization(AuthorizationEvent::Required, auth)
        }
        T::BankAccountReauthorized => {
            Event::account_authorization(AuthorizationEvent::Reauthorized, auth)
        }
        T::ConnectionConnected => Event::connection(ConnectionEvent::Connected, connection),
        T::ConnectionDisconnected => Event::connection(ConnectionEvent::Disconnected, connection),
        T::ConnectionBroken => Event::connection(ConnectionEvent::Broken, connection),
        T::ConnectionNoAccountsActivated => {
            Event::connection(ConnectionEvent::NoAccountsActivated, connection)
        }
        T::ConnectionRestored => Event::connection(ConnectionEvent::Restored, connection),
        T::BankTransactionCreated => Event::transaction_created(transaction),
        T::BankTransactionUpdated => Event::transaction_updated(transaction),
        T::BankTransactionRemoved => Event::transaction_removed(transaction),
        T::BankAccountBalanceUpdated => Event::balance_updated(BalanceData {
            account_id: "acc".into(),
            iban: None,
            currency: "EUR".into(),
            current_balance: Some("100.00".into()),
            available_balance: None,
            reference_date: Some(now),
        }),
        T::BankAccountAdded => Event::account_added(account),
        T::BankAccountRevoked => Event::account_revoked(account),
        T::WebhookEndpointDisabled => Event::endpoint_disabled(EndpointDisabledData {
            endpoint_id: "e".into(),
            origin: "https://hooks.example".into(),
            reason: "the endpoint answered 410 Gone".into(),
        }),
        T::WebhookEndpointTest => Event::endpoint_test(EndpointTestData {
            endpoint_id: "e".into(),
            message: "test".into(),
        }),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_type_is_published_and_an_event_of_each_validates_against_its_schema() {
    let app = TestApp::start().await;
    let admin = app.full_token("acme");
    let q = "{ webhookEventTypes { name description schema } }";
    let served = app.gql_data(&admin, q, json!({})).await["webhookEventTypes"].take();
    let names: Vec<&str> = served
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, all_types());
    for (t, info) in served
        .as_array()
        .unwrap()
        .iter()
        .zip(catalogue::catalogue())
    {
        assert_eq!(t["schema"], info.schema, "served as the library builds it");
        assert!(!t["description"].as_str().unwrap().is_empty());
    }

    // One of each type through the log, as the service writes it; each checked on reading.
    let org = app.store.ensure_organization("acme").await.unwrap();
    let now = app.store.clock().now();
    let mut tx = app.store.begin_write().await.unwrap();
    for t in EventType::ALL {
        tx.append_event(org, &sample(t, now), None).await.unwrap();
    }
    tx.commit().await.unwrap();
    let logged = checked_events(&app.store, org, 0).await;
    assert_eq!(logged.len(), EventType::ALL.len());
}

#[test]
fn the_validator_refuses_what_the_schema_does_not_describe() {
    let now = chrono::Utc::now();
    let schema = catalogue::schema(EventType::InvoicePaid);
    let good = sample(EventType::InvoicePaid, now).envelope(now);
    validate(&schema, &good).expect("the positive control validates");
    type Breakage = (&'static str, fn(&mut Value));
    let broken: [Breakage; 6] = [
        ("a missing field", |e| {
            e["data"].as_object_mut().unwrap().remove("openAmount");
        }),
        ("a wrong type", |e| {
            e["data"]["paymentPending"] = json!("no")
        }),
        ("a field not in the schema", |e| {
            e["data"]["secret"] = json!(1)
        }),
        ("another type's name", |e| {
            e["type"] = json!("invoice.overpaid")
        }),
        ("a timestamp that is not one", |e| {
            e["timestamp"] = json!("yesterday")
        }),
        ("a date that is not one", |e| {
            e["data"]["paidAt"] = json!("31/12")
        }),
    ];
    for (what, break_it) in broken {
        let mut e = good.clone();
        break_it(&mut e);
        assert!(validate(&schema, &e).is_err(), "{what} passed: {e}");
    }
}
