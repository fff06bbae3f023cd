//! Owns invoices in the API: the `Invoice` type, its listing and lookup, and the
//! `upsertInvoices` / `voidInvoice` mutations, which translate to and from the invoices service
//! (their inputs and payloads: `invoice_input`).

use super::errors::GqlResult;
use super::invoice_input::{
    UpsertInvoicesInput, UpsertInvoicesPayload, VoidInvoiceInput, VoidInvoicePayload,
};
use super::loaders::MatchesOf;
use super::matches::PaymentMatchGql;
use super::scalars::{Date, Money, UserError, connection};
use super::{ContextExt, RequireScope, ids};
use crate::domain::ids::InvoiceId;
use crate::domain::invoice::{InvoiceKind, InvoiceStatus};
use crate::domain::reference::StructuredReference;
use crate::domain::scope::Scope;
use crate::error::AppError;
use crate::invoices::{InvoiceDraft, InvoiceRef};
use crate::store::invoices::{Invoice, InvoiceFilter};
use crate::store::page::{Cursor, PageArgs};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};

pub const INVOICE_TYPE: &str = "Invoice";

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "InvoiceKind", remote = "crate::domain::invoice::InvoiceKind")]
pub enum InvoiceKindGql {
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
#[graphql(
    name = "InvoiceStatus",
    remote = "crate::domain::invoice::InvoiceStatus"
)]
pub enum InvoiceStatusGql {
    Open,
    PartiallyPaid,
    Paid,
    Overpaid,
    Void,
}

pub struct InvoiceGql(pub Invoice);

#[Object(name = "Invoice")]
impl InvoiceGql {
    pub async fn id(&self) -> ID {
        ID(ids::encode(INVOICE_TYPE, self.0.id.0))
    }
    /// The accounting product's id for this invoice.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }
    async fn kind(&self) -> InvoiceKindGql {
        self.0.kind.into()
    }
    async fn number(&self) -> &str {
        &self.0.number
    }
    async fn counterparty_name(&self) -> Option<&str> {
        self.0.counterparty_name.as_deref()
    }
    /// Normalized: uppercase, no spaces.
    async fn counterparty_iban(&self) -> Option<&str> {
        self.0.counterparty_iban.as_deref()
    }
    async fn currency(&self) -> &str {
        self.0.total.currency.code()
    }
    async fn total(&self) -> Money {
        self.0.total.into()
    }
    async fn paid_amount(&self) -> Money {
        self.0.paid.into()
    }
    /// A shortfall accepted within the organization's tolerance.
    async fn written_off_amount(&self) -> Money {
        self.0.written_off.into()
    }
    async fn open_amount(&self) -> Money {
        self.0.open_amount().into()
    }
    async fn status(&self) -> InvoiceStatusGql {
        self.0.status.into()
    }
    async fn issue_date(&self) -> Date {
        Date(self.0.issue_date)
    }
    async fn due_date(&self) -> Option<Date> {
        self.0.due_date.map(Date)
    }
    /// As people write it: `+++090/9337/55493+++` or `RF18 5390 0754 7034`.
    async fn structured_reference(&self) -> Option<String> {
        self.0
            .structured_reference
            .as_deref()
            .and_then(StructuredReference::from_normalized)
            .map(|r| r.to_string())
    }
    /// Value date of the booked transaction that completed the payment.
    async fn paid_at(&self) -> Option<Date> {
        self.0.paid_at.map(Date)
    }
    /// A pending (not yet booked) transaction looks like its payment.
    async fn payment_pending(&self) -> bool {
        self.0.payment_pending
    }
    async fn voided_at(&self) -> Option<DateTime<Utc>> {
        self.0.voided_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// Allocations of bank transactions to this invoice, reversed ones included.
    async fn matches(&self, ctx: &Context<'_>) -> GqlResult<Vec<PaymentMatchGql>> {
        let found = ctx
            .loaders()?
            .loader
            .load_one(MatchesOf::Invoice(self.0.id))
            .await?;
        Ok(found
            .unwrap_or_default()
            .into_iter()
            .map(PaymentMatchGql)
            .collect())
    }
}

#[derive(InputObject, Default)]
pub struct InvoiceFilterInput {
    pub kinds: Option<Vec<InvoiceKindGql>>,
    pub statuses: Option<Vec<InvoiceStatusGql>>,
    /// Due strictly before this date.
    pub due_before: Option<Date>,
    /// Text in the counterparty name (any case), or the counterparty's exact IBAN.
    pub counterparty: Option<String>,
}

impl InvoiceFilterInput {
    pub fn into_store(self) -> InvoiceFilter {
        InvoiceFilter {
            kinds: self
                .kinds
                .unwrap_or_default()
                .into_iter()
                .map(InvoiceKind::from)
                .collect(),
            statuses: self
                .statuses
                .unwrap_or_default()
                .into_iter()
                .map(InvoiceStatus::from)
                .collect(),
            due_before: self.due_before.map(|d| d.0),
            counterparty: self.counterparty,
        }
    }
}

fn decode_invoice_id(id: &ID) -> Option<InvoiceId> {
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
    ) -> GqlResult<Connection<String, InvoiceGql>> {
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?;
        let filter = filter.unwrap_or_default().into_store();
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
            InvoiceGql,
        ))
    }

    /// One invoice by `id` or by `externalId` (exactly one of them).
    #[graphql(guard = "RequireScope(Scope::Read)")]
    async fn invoice(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        external_id: Option<String>,
    ) -> GqlResult<InvoiceGql> {
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
            .map(InvoiceGql)
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
            invoices: done.invoices.into_iter().map(InvoiceGql).collect(),
            user_errors: done.problems.into_iter().map(UserError::from).collect(),
        })
    }

    /// Marks an invoice VOID: it no longer awaits payment. Its matches stay for the record.
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
                invoice: Some(InvoiceGql(invoice)),
                user_errors: vec![],
            },
            None => VoidInvoicePayload::not_found(field),
        })
    }
}
