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

#[derive(SimpleObject)]
pub struct PaymentMatch {
    pub id: ID,
    invoice: Related<InvoiceId, Option<Invoice>>,
    transaction: Related<TransactionId, Option<BankTransaction>>,
    /// The amount allocated, in the invoice's currency.
    amount: Money,
    method: MatchMethod,
    /// What the match rests on, e.g. `STRUCTURED_REFERENCE`, `INVOICE_NUMBER`, `AMOUNT_AND_IBAN`.
    evidence: String,
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
            evidence: m.evidence,
            confidence: m.confidence,
            created_by: m.created_by,
            created_at: m.created_at,
            reversed_at: m.reversed_at,
            reversed_by: m.reversed_by,
        }
    }
}
