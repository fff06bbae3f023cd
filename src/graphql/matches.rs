//! Owns the `PaymentMatch` type: an allocation of a bank transaction to an invoice.

use super::ids;
use super::invoices::Invoice;
use super::related::Related;
use super::scalars::Money;
use super::transactions::BankTransaction;
use crate::domain::ids::{InvoiceId, TransactionId};
use crate::store::matches::PaymentMatch as Record;
use async_graphql::{Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};

pub const MATCH_TYPE: &str = "PaymentMatch";

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::status::MatchMethod")]
pub enum MatchMethod {
    /// Applied by the reconciliation engine on strong evidence.
    Automatic,
    /// Made by a person.
    Manual,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::status::MatchRule")]
pub enum MatchRule {
    /// The transaction carries the invoice's structured reference (OGM/VCS or RF).
    StructuredReference,
    /// The invoice number stands in the communication and the amount is what was open.
    InvoiceNumber,
    /// The open amount came from the invoice's counterparty IBAN and no other invoice fits.
    AmountAndIban,
    /// A person allocated it.
    Manual,
}

#[derive(SimpleObject)]
pub struct PaymentMatch {
    pub id: ID,
    invoice: Related<InvoiceId, Option<Invoice>>,
    transaction: Related<TransactionId, Option<BankTransaction>>,
    /// The amount allocated, in the invoice's currency.
    amount: Money,
    method: MatchMethod,
    /// What the match rests on.
    rule: MatchRule,
    /// Why, in words: "structured communication +++090/9337/55493+++ equals invoice 2026-0042".
    evidence: String,
    /// A shortfall within the organization's tolerance this match counts as paid.
    written_off: Money,
    /// An excess within tolerance, recorded and left unallocated on the transaction.
    excess: Money,
    /// 0–100.
    confidence: i32,
    /// Who made it: `system` or the token's subject.
    created_by: String,
    created_at: DateTime<Utc>,
    reversed_at: Option<DateTime<Utc>>,
    reversed_by: Option<String>,
}

impl From<Record> for PaymentMatch {
    fn from(m: Record) -> Self {
        Self {
            id: ID(ids::encode(MATCH_TYPE, m.id.0)),
            invoice: Related::new(m.invoice_id),
            transaction: Related::new(m.transaction_id),
            amount: m.amount.into(),
            method: m.method.into(),
            rule: m.rule.into(),
            evidence: m.evidence,
            written_off: crate::domain::money::Money::new(m.written_off, m.amount.currency).into(),
            excess: crate::domain::money::Money::new(m.excess, m.amount.currency).into(),
            confidence: m.confidence,
            created_by: m.created_by,
            created_at: m.created_at,
            reversed_at: m.reversed_at,
            reversed_by: m.reversed_by,
        }
    }
}
