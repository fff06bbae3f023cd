//! Owns the inputs and payloads of `upsertInvoices` and `voidInvoice`, and their translation to
//! and from the invoices service (validation lives there: `crate::invoices`).

use super::invoices::{Invoice, InvoiceKind};
use super::scalars::{Date, Decimal, UserError};
use crate::invoices::{InvoiceDraft, ItemProblem};
use async_graphql::{ID, InputObject, SimpleObject};

/// One invoice to create or update, identified by `externalId`.
#[derive(InputObject)]
pub struct InvoiceInput {
    pub external_id: String,
    pub kind: InvoiceKind,
    pub number: String,
    pub counterparty_name: Option<String>,
    pub counterparty_iban: Option<String>,
    /// ISO-4217 code.
    pub currency: String,
    /// Positive, with at most the currency's decimals.
    pub total: Decimal,
    pub issue_date: Date,
    pub due_date: Option<Date>,
    /// OGM/VCS or RF in any usual form; stored normalized.
    pub structured_reference: Option<String>,
}

#[derive(InputObject)]
pub struct UpsertInvoicesInput {
    /// At most 500 per call.
    pub invoices: Vec<InvoiceInput>,
}

#[derive(SimpleObject)]
pub struct UpsertInvoicesPayload {
    /// The invoices written (or found unchanged), in input order; invalid items are absent.
    pub invoices: Vec<Invoice>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct VoidInvoiceInput {
    pub id: Option<ID>,
    pub external_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct VoidInvoicePayload {
    pub invoice: Option<Invoice>,
    pub user_errors: Vec<UserError>,
}

impl VoidInvoicePayload {
    pub(super) fn not_found(field: &str) -> Self {
        Self {
            invoice: None,
            user_errors: vec![UserError {
                field: Some(vec![field.into()]),
                message: "invoice not found".into(),
                code: super::scalars::UserErrorCode::NotFound,
            }],
        }
    }
}

impl From<&InvoiceInput> for InvoiceDraft {
    fn from(i: &InvoiceInput) -> Self {
        Self {
            external_id: i.external_id.clone(),
            kind: i.kind.into(),
            number: i.number.clone(),
            counterparty_name: i.counterparty_name.clone(),
            counterparty_iban: i.counterparty_iban.clone(),
            currency: i.currency.clone(),
            total: i.total.0,
            issue_date: i.issue_date.0,
            due_date: i.due_date.map(|d| d.0),
            structured_reference: i.structured_reference.clone(),
        }
    }
}

impl From<ItemProblem> for UserError {
    /// `field` is the path to the input field: `["invoices", "<index>", "<field>"]`.
    fn from(p: ItemProblem) -> Self {
        UserError {
            field: Some(vec!["invoices".into(), p.index.to_string(), p.field.into()]),
            message: p.message,
            code: p.problem.into(),
        }
    }
}
