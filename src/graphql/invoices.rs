//! Owns invoices in the API: the `Invoice` type, its listing and lookup, and the
//! `upsertInvoices` / `voidInvoice` mutations, which translate to and from the invoices service
//! (their inputs and payloads: `invoice_input`).

use super::errors::GqlResult;
use super::invoice_input::{
    UpsertInvoicesInput, UpsertInvoicesPayload, VoidInvoiceInput, VoidInvoicePayload,
};
use super::loaders::{MatchesOf, SuggestionsOf};
use super::matches::PaymentMatch;
use super::related::Related;
use super::scalars::{Date, Money, UserError, connection};
use super::suggestions::MatchSuggestion;
use super::{ContextExt, RequireScope, ids};
use crate::domain::ids::InvoiceId;
use crate::domain::reference::StructuredReference;
use crate::domain::scope::Scope;
use crate::error::AppError;
use crate::invoices::{InvoiceDraft, InvoiceRef};
use crate::store::invoices::{Invoice as Record, InvoiceFilter};
use crate::store::page::{Cursor, PageArgs};
use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

pub const INVOICE_TYPE: &str = "Invoice";

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::invoice::InvoiceKind")]
pub enum InvoiceKind {
    /// Paid by incoming money.
    SalesInvoice,
    /// Refunded by outgoing money.
    SalesCreditNote,
    /// Paid by outgoing money.
    PurchaseInvoice,
    /// Refunded by incoming money.
    PurchaseCreditNote,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::invoice::InvoiceStatus")]
pub enum InvoiceStatus {
    Open,
    PartiallyPaid,
    Paid,
    Overpaid,
    Void,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Invoice {
    pub id: ID,
    /// The accounting product's id for this invoice.
    external_id: String,
    kind: InvoiceKind,
    number: String,
    counterparty_name: Option<String>,
    /// Normalized: uppercase, no spaces.
    counterparty_iban: Option<String>,
    currency: String,
    total: Money,
    paid_amount: Money,
    /// A shortfall accepted within the organization's tolerance.
    written_off_amount: Money,
    open_amount: Money,
    status: InvoiceStatus,
    issue_date: Date,
    due_date: Option<Date>,
    /// As people write it: `+++090/9337/55493+++` or `RF18 5390 0754 7034`.
    structured_reference: Option<String>,
    /// Value date of the booked transaction that completed the payment.
    paid_at: Option<Date>,
    /// A pending (not yet booked) transaction looks like its payment.
    payment_pending: bool,
    voided_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    /// Allocations of bank transactions to this invoice, reversed ones included: each with its
    /// transaction, rule, evidence, confidence, who made it and when, and who reversed it.
    matches: Related<MatchesOf, Vec<PaymentMatch>>,
    /// Transactions that likely pay it but were not matched on their own, most confident first.
    suggestions: Related<SuggestionsOf, Vec<MatchSuggestion>>,
    /// The due date while it still awaits payment.
    #[graphql(skip)]
    awaiting_since: Option<chrono::NaiveDate>,
}

#[ComplexObject]
impl Invoice {
    /// Past its due date and not (fully) paid.
    async fn overdue(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        let today = ctx.store()?.clock().now().date_naive();
        Ok(self.awaiting_since.is_some_and(|due| due < today))
    }
}

impl From<Record> for Invoice {
    fn from(r: Record) -> Self {
        Self {
            id: ID(ids::encode(INVOICE_TYPE, r.id.0)),
            currency: r.total.currency.code().to_owned(),
            total: r.total.into(),
            paid_amount: r.paid.into(),
            written_off_amount: r.written_off.into(),
            open_amount: r.open_amount().into(),
            kind: r.kind.into(),
            status: r.status.into(),
            issue_date: Date(r.issue_date),
            due_date: r.due_date.map(Date),
            structured_reference: r
                .structured_reference
                .as_deref()
                .and_then(StructuredReference::from_normalized)
                .map(|s| s.to_string()),
            paid_at: r.paid_at.map(Date),
            payment_pending: r.payment_pending,
            voided_at: r.voided_at,
            updated_at: r.updated_at,
            matches: Related::new(MatchesOf::Invoice(r.id)),
            suggestions: Related::new(SuggestionsOf::Invoice(r.id)),
            awaiting_since: r.due_date.filter(|_| r.status.awaits_payment()),
            external_id: r.external_id,
            number: r.number,
            counterparty_name: r.counterparty_name,
            counterparty_iban: r.counterparty_iban,
        }
    }
}

#[derive(InputObject, Default)]
pub struct InvoiceFilterInput {
    pub kinds: Option<Vec<InvoiceKind>>,
    pub statuses: Option<Vec<InvoiceStatus>>,
    /// Due strictly before this date.
    pub due_before: Option<Date>,
    /// Text in the counterparty name (any case), or the counterparty's exact IBAN.
    pub counterparty: Option<String>,
    /// Only invoices past their due date and not (fully) paid (true), or only the others.
    pub overdue: Option<bool>,
    /// Only invoices a pending transaction looks like paying (true), or only the others.
    pub payment_pending: Option<bool>,
}

impl InvoiceFilterInput {
    /// `today` decides what is overdue.
    pub fn into_store(self, today: chrono::NaiveDate) -> InvoiceFilter {
        InvoiceFilter {
            kinds: self
                .kinds
                .unwrap_or_default()
                .into_iter()
                .map(crate::domain::invoice::InvoiceKind::from)
                .collect(),
            statuses: self
                .statuses
                .unwrap_or_default()
                .into_iter()
                .map(crate::domain::invoice::InvoiceStatus::from)
                .collect(),
            due_before: self.due_before.map(|d| d.0),
            counterparty: self.counterparty,
            overdue: self.overdue.map(|o| (o, today)),
            payment_pending: self.payment_pending,
        }
    }
}

pub(super) fn decode_invoice_id(id: &ID) -> Option<InvoiceId> {
    ids::decode_as(INVOICE_TYPE, id).map(InvoiceId)
}

#[derive(Default)]
pub struct InvoicesQuery;

#[Object]
impl InvoicesQuery {
    /// The organization's invoices, newest issue date first.
    #[graphql(
        guard = "RequireScope(Scope::Read)",
        complexity = "super::page_complexity(first, last, child_complexity)"
    )]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        filter: Option<InvoiceFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, Invoice>> {
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?;
        let today = ctx.store()?.clock().now().date_naive();
        let filter = filter.unwrap_or_default().into_store(today);
        let p = ctx.principal()?;
        let page = ctx
            .store()?
            .invoices(p.organization_id, &filter, &args)
            .await?;
        ctx.loaders()?
            .prefetch_invoices(&ctx.look_ahead(), &page.items)
            .await?;
        Ok(connection(
            page,
            |i| Cursor {
                date: Some(i.issue_date),
                id: i.id.0,
            },
            Invoice::from,
        ))
    }

    /// One invoice by `id` or by `externalId` (exactly one of them).
    #[graphql(guard = "RequireScope(Scope::Read)")]
    async fn invoice(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        external_id: Option<String>,
    ) -> GqlResult<Invoice> {
        let p = ctx.principal()?;
        let found = match (id, external_id) {
            (Some(id), None) => match decode_invoice_id(&id) {
                Some(id) => ctx.store()?.invoice(p.organization_id, id).await?,
                None => None,
            },
            (None, Some(ext)) => {
                ctx.store()?
                    .invoice_by_external_id(p.organization_id, &ext)
                    .await?
            }
            _ => {
                return Err(
                    AppError::bad_input("pass exactly one of `id` and `externalId`").into(),
                );
            }
        };
        found
            .map(Invoice::from)
            .ok_or_else(|| AppError::not_found("invoice").into())
    }
}

#[derive(Default)]
pub struct InvoicesMutation;

#[Object]
impl InvoicesMutation {
    /// Creates or updates invoices by `externalId` (idempotent). Valid items are written; each
    /// invalid one is reported in `userErrors` with its index, and nothing of it is written.
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn upsert_invoices(
        &self,
        ctx: &Context<'_>,
        input: UpsertInvoicesInput,
    ) -> GqlResult<UpsertInvoicesPayload> {
        let drafts: Vec<InvoiceDraft> = input.invoices.iter().map(InvoiceDraft::from).collect();
        let org = ctx.principal()?.organization_id;
        let done = ctx.invoices()?.upsert(org, &drafts).await?;
        Ok(UpsertInvoicesPayload {
            invoices: done.invoices.into_iter().map(Invoice::from).collect(),
            user_errors: done.problems.into_iter().map(UserError::from).collect(),
        })
    }

    /// Marks an invoice VOID: it no longer awaits payment. Its live matches are reversed (kept
    /// for the record) and the amounts they took are free again on their transactions.
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn void_invoice(
        &self,
        ctx: &Context<'_>,
        input: VoidInvoiceInput,
    ) -> GqlResult<VoidInvoicePayload> {
        let (which, field) = match (input.id, input.external_id) {
            (Some(id), None) => match decode_invoice_id(&id) {
                Some(id) => (InvoiceRef::Id(id), "id"),
                None => return Ok(VoidInvoicePayload::not_found("id")),
            },
            (None, Some(ext)) => (InvoiceRef::ExternalId(ext), "externalId"),
            _ => {
                return Err(
                    AppError::bad_input("pass exactly one of `id` and `externalId`").into(),
                );
            }
        };
        let org = ctx.principal()?.organization_id;
        Ok(match ctx.invoices()?.void(org, &which).await? {
            Some(invoice) => VoidInvoicePayload {
                invoice: Some(Invoice::from(invoice)),
                user_errors: vec![],
            },
            None => VoidInvoicePayload::not_found(field),
        })
    }
}
