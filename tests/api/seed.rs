//! Seeding through the store: organizations with a connection, accounts, transactions,
//! invoices, a match and events — the shapes the sync and reconciliation will write.

use chrono::{Duration, NaiveDate};
use ponto_bridge::domain::event::{ConnectionData, ConnectionEvent, Event};
use ponto_bridge::domain::ids::{AccountId, InvoiceId, MatchId, OrganizationId, TransactionId};
use ponto_bridge::domain::invoice::InvoiceKind;
use ponto_bridge::domain::money::{Currency, Money};
use ponto_bridge::domain::transaction::TransactionStatus;
use ponto_bridge::store::Store;
use ponto_bridge::store::accounts::AccountUpsert;
use ponto_bridge::store::invoices::InvoiceUpsert;
use ponto_bridge::store::matches::{MatchRule, NewMatch};
use ponto_bridge::store::transactions::TransactionUpsert;

pub fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap())
}

/// A calendar date as the tests were written on 2026-12-01, moved with the test clock: it keeps
/// its distance to "today" (and to the other dates), whatever day the suite runs on.
pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    let written_on = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    crate::support::day_date(0) - (written_on - NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

pub fn account(ponto_id: &str, iban: &str) -> AccountUpsert {
    AccountUpsert {
        ponto_id: ponto_id.into(),
        reference: Some(iban.into()),
        reference_type: Some("IBAN".into()),
        currency: Currency::parse("EUR").unwrap(),
        description: Some("Current account".into()),
        holder_name: Some("ACME BV".into()),
        product: Some("Business".into()),
        subtype: Some("checking".into()),
        financial_institution_id: Some("fi-1".into()),
        current_balance_minor: Some(123_456),
        current_balance_reference_date: None,
        available_balance_minor: Some(100_000),
        available_balance_reference_date: None,
        authorized_at: None,
        authorization_expires_at: None,
        availability: Some("available".into()),
    }
}

pub fn transaction(
    ponto_id: &str,
    amount: i64,
    value_date: NaiveDate,
    counterpart: &str,
    remittance: &str,
) -> TransactionUpsert {
    TransactionUpsert {
        ponto_id: ponto_id.into(),
        status: TransactionStatus::Booked,
        amount: eur(amount),
        counterpart_name: Some(counterpart.into()),
        counterpart_reference: Some("BE68539007547034".into()),
        remittance_information: Some(remittance.into()),
        remittance_information_type: Some("unstructured".into()),
        structured_reference: None,
        description: None,
        execution_date: Some(value_date),
        value_date: Some(value_date),
        bank_transaction_code: None,
        proprietary_bank_transaction_code: None,
        end_to_end_id: None,
        purpose_code: None,
        mandate_id: None,
        creditor_id: None,
        additional_information: None,
        card_reference: None,
        raw_json: format!(
            r#"{{"id":"{ponto_id}","amount":{}}}"#,
            amount as f64 / 100.0
        ),
    }
}

pub fn invoice(external_id: &str, number: &str, total: i64) -> InvoiceUpsert {
    InvoiceUpsert {
        external_id: external_id.into(),
        kind: InvoiceKind::SalesInvoice,
        number: number.into(),
        counterparty_name: Some("Customer NV".into()),
        counterparty_iban: Some("BE68539007547034".into()),
        total: eur(total),
        issue_date: date(2026, 10, 1),
        due_date: Some(date(2026, 10, 31)),
        structured_reference: None,
    }
}

/// Ids of what `seed_org` wrote.
#[allow(dead_code)]
pub struct Seeded {
    pub org: OrganizationId,
    pub accounts: Vec<AccountId>,
    pub transactions: Vec<TransactionId>,
    pub invoices: Vec<InvoiceId>,
    pub payment_match: MatchId,
}

/// A connected organization with two accounts, three transactions each, two invoices
/// (`inv-1`, `inv-2` — the same external ids in every organization), one match and events.
pub async fn seed_org(store: &Store, org_claim: &str) -> Seeded {
    let org = store.ensure_organization(org_claim).await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    let conn = tx
        .set_connection_state(
            org,
            ponto_bridge::domain::status::ConnectionStatus::Connected,
            &[],
            Some(&format!("ponto-{org_claim}")),
        )
        .await
        .unwrap();
    let mut accounts = Vec::new();
    let mut transactions = Vec::new();
    for a in 0..2 {
        let (_, acc) = tx
            .upsert_account(
                org,
                Some(conn),
                account(&format!("{org_claim}-acc-{a}"), "BE68539007547034"),
            )
            .await
            .unwrap();
        accounts.push(acc.id);
        for t in 0..3 {
            let up = transaction(
                &format!("{org_claim}-tx-{a}-{t}"),
                10_000 + t,
                date(2026, 10, 1) + Duration::days(t),
                &format!("{org_claim} counterparty {t}"),
                &format!("payment {org_claim} {t}"),
            );
            transactions.push(tx.upsert_transaction(org, acc.id, up).await.unwrap().id());
        }
    }
    let mut invoices = Vec::new();
    for (ext, number) in [("inv-1", "2026-0001"), ("inv-2", "2026-0002")] {
        let (inv, _) = tx
            .upsert_invoice(org, invoice(ext, &format!("{org_claim}-{number}"), 10_000))
            .await
            .unwrap();
        invoices.push(inv.id);
    }
    let (m, _) = tx
        .apply_match(
            org,
            NewMatch {
                invoice_id: invoices[0],
                transaction_id: transactions[0],
                amount: eur(10_000),
                rule: MatchRule::StructuredReference,
                written_off: 0,
                excess: 0,
                evidence: "STRUCTURED_REFERENCE".into(),
                confidence: 100,
                created_by: "system".into(),
            },
        )
        .await
        .unwrap();
    let connected = Event::connection(
        ConnectionEvent::Connected,
        ConnectionData {
            connection_id: conn.to_string(),
            status: "CONNECTED".into(),
            problems: vec![],
            reason: None,
        },
    );
    tx.append_event(org, &connected, None).await.unwrap();
    tx.commit().await.unwrap();
    Seeded {
        org,
        accounts,
        transactions,
        invoices,
        payment_match: m.id,
    }
}
