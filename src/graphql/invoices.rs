//! Owns invoices in the API: the `Invoice` type, its listing and lookup, and the
//! `upsertInvoices` / `voidInvoice` mutations with per-item validation.

use super::errors::{GqlError, GqlResult};
use super::loaders::MatchesOf;
use super::matches::PaymentMatchGql;
use super::scalars::{Date, Decimal, Money, UserError, UserErrorCode, connection};
use super::{RequireScope, ids, principal, store};
use crate::domain::iban::Iban;
use crate::domain::ids::InvoiceId;
use crate::domain::invoice::{InvoiceKind, InvoiceStatus};
use crate::domain::money::{Currency, Money as DomainMoney, MoneyError};
use crate::domain::reference::StructuredReference;
use crate::domain::scope::Scope;
use crate::error::AppError;
use crate::store::invoices::{Invoice, InvoiceFilter, InvoiceUpsert};
use crate::store::page::{Cursor, PageArgs};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

pub const INVOICE_TYPE: &str = "Invoice";
pub const MAX_BATCH: usize = 500;
const MAX_TEXT: usize = 255;

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
        let found = super::loaders(ctx)?
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

/// One invoice to create or update, identified by `externalId`.
#[derive(InputObject)]
pub struct InvoiceInput {
    pub external_id: String,
    pub kind: InvoiceKindGql,
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
    pub invoices: Vec<InvoiceGql>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct VoidInvoiceInput {
    pub id: Option<ID>,
    pub external_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct VoidInvoicePayload {
    pub invoice: Option<InvoiceGql>,
    pub user_errors: Vec<UserError>,
}

fn err(index: usize, field: &str, code: UserErrorCode, message: impl Into<String>) -> UserError {
    UserError {
        field: Some(vec!["invoices".into(), index.to_string(), field.into()]),
        message: message.into(),
        code,
    }
}

fn required_text(index: usize, field: &str, value: &str, errors: &mut Vec<UserError>) -> String {
    let v = value.trim();
    if v.is_empty() {
        errors.push(err(
            index,
            field,
            UserErrorCode::Required,
            format!("{field} is required"),
        ));
    } else if v.chars().count() > MAX_TEXT {
        errors.push(err(
            index,
            field,
            UserErrorCode::TooLong,
            format!("{field} is at most {MAX_TEXT} characters"),
        ));
    }
    v.to_owned()
}

/// Checks one input item; every problem is reported, each with its field path.
fn validate(index: usize, i: &InvoiceInput) -> Result<InvoiceUpsert, Vec<UserError>> {
    let mut errors = Vec::new();
    let external_id = required_text(index, "externalId", &i.external_id, &mut errors);
    let number = required_text(index, "number", &i.number, &mut errors);
    let counterparty_name = i
        .counterparty_name
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if counterparty_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_TEXT)
    {
        errors.push(err(
            index,
            "counterpartyName",
            UserErrorCode::TooLong,
            format!("counterpartyName is at most {MAX_TEXT} characters"),
        ));
    }
    let counterparty_iban = match i
        .counterparty_iban
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => match Iban::parse(s) {
            Ok(iban) => Some(iban.as_str().to_owned()),
            Err(e) => {
                errors.push(err(
                    index,
                    "counterpartyIban",
                    UserErrorCode::InvalidIban,
                    e.to_string(),
                ));
                None
            }
        },
    };
    let total = match Currency::parse(i.currency.trim()) {
        Err(e) => {
            errors.push(err(
                index,
                "currency",
                UserErrorCode::InvalidCurrency,
                e.to_string(),
            ));
            None
        }
        Ok(currency) => match DomainMoney::from_decimal(i.total.0, currency) {
            Ok(m) if m.minor > 0 => Some(m),
            Ok(_) => {
                errors.push(err(
                    index,
                    "total",
                    UserErrorCode::NotPositive,
                    "total must be greater than 0",
                ));
                None
            }
            Err(e @ MoneyError::TooManyDecimals { .. }) => {
                errors.push(err(
                    index,
                    "total",
                    UserErrorCode::TooManyDecimals,
                    e.to_string(),
                ));
                None
            }
            Err(e) => {
                errors.push(err(index, "total", UserErrorCode::Invalid, e.to_string()));
                None
            }
        },
    };
    if let Some(due) = i.due_date
        && due.0 < i.issue_date.0
    {
        errors.push(err(
            index,
            "dueDate",
            UserErrorCode::Invalid,
            "dueDate is before issueDate",
        ));
    }
    let structured_reference = match i
        .structured_reference
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => match StructuredReference::parse(s) {
            Ok(r) => Some(r.normalized().to_owned()),
            Err(e) => {
                errors.push(err(
                    index,
                    "structuredReference",
                    UserErrorCode::InvalidReference,
                    e.to_string(),
                ));
                None
            }
        },
    };
    match total {
        Some(total) if errors.is_empty() => Ok(InvoiceUpsert {
            external_id,
            kind: i.kind.into(),
            number,
            counterparty_name,
            counterparty_iban,
            total,
            issue_date: i.issue_date.0,
            due_date: i.due_date.map(|d| d.0),
            structured_reference,
        }),
        _ => Err(errors),
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
        let f = filter.unwrap_or_default();
        let filter = InvoiceFilter {
            kinds: f
                .kinds
                .unwrap_or_default()
                .into_iter()
                .map(InvoiceKind::from)
                .collect(),
            statuses: f
                .statuses
                .unwrap_or_default()
                .into_iter()
                .map(InvoiceStatus::from)
                .collect(),
            due_before: f.due_before.map(|d| d.0),
            counterparty: f.counterparty,
        };
        let p = principal(ctx)?;
        let page = store(ctx)
            .invoices(p.organization_id, &filter, &args)
            .await?;
        super::loaders(ctx)?
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
        let p = principal(ctx)?;
        let found = match (id, external_id) {
            (Some(id), None) => match decode_invoice_id(&id) {
                Some(id) => store(ctx).invoice(p.organization_id, id).await?,
                None => None,
            },
            (None, Some(ext)) => {
                store(ctx)
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
        if input.invoices.len() > MAX_BATCH {
            return Err(GqlError::from(AppError::BadUserInput {
                message: format!("at most {MAX_BATCH} invoices per call"),
                field: Some(vec!["invoices".into()]),
            }));
        }
        let p = principal(ctx)?;
        let mut user_errors = Vec::new();
        let mut valid = Vec::new();
        let mut seen = HashSet::new();
        for (index, item) in input.invoices.iter().enumerate() {
            match validate(index, item) {
                Ok(u) if !seen.insert(u.external_id.clone()) => user_errors.push(err(
                    index,
                    "externalId",
                    UserErrorCode::DuplicateInBatch,
                    "this externalId appears earlier in the batch",
                )),
                Ok(u) => valid.push((index, u)),
                Err(e) => user_errors.extend(e),
            }
        }
        let mut written = Vec::new();
        if !valid.is_empty() {
            let mut tx = store(ctx).begin_write().await?;
            for (index, u) in valid {
                match tx.upsert_invoice(p.organization_id, u).await {
                    Ok((invoice, _)) => written.push(InvoiceGql(invoice)),
                    Err(AppError::Conflict(message)) => {
                        user_errors.push(err(index, "currency", UserErrorCode::Conflict, message))
                    }
                    Err(other) => return Err(other.into()),
                }
            }
            tx.commit().await?;
        }
        Ok(UpsertInvoicesPayload {
            invoices: written,
            user_errors,
        })
    }

    /// Marks an invoice VOID: it no longer awaits payment. Its matches stay for the record.
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn void_invoice(
        &self,
        ctx: &Context<'_>,
        input: VoidInvoiceInput,
    ) -> GqlResult<VoidInvoicePayload> {
        let p = principal(ctx)?;
        let s = store(ctx);
        let not_found = |field: &str| VoidInvoicePayload {
            invoice: None,
            user_errors: vec![UserError {
                field: Some(vec![field.into()]),
                message: "invoice not found".into(),
                code: UserErrorCode::NotFound,
            }],
        };
        let id = match (&input.id, &input.external_id) {
            (Some(id), None) => match decode_invoice_id(id) {
                Some(id) => id,
                None => return Ok(not_found("id")),
            },
            (None, Some(ext)) => match s.invoice_by_external_id(p.organization_id, ext).await? {
                Some(inv) => inv.id,
                None => return Ok(not_found("externalId")),
            },
            _ => {
                return Err(
                    AppError::bad_input("pass exactly one of `id` and `externalId`").into(),
                );
            }
        };
        let mut tx = s.begin_write().await?;
        match tx.void_invoice(p.organization_id, id).await {
            Ok(invoice) => {
                tx.commit().await?;
                Ok(VoidInvoicePayload {
                    invoice: Some(InvoiceGql(invoice)),
                    user_errors: vec![],
                })
            }
            Err(AppError::NotFound(_)) => Ok(not_found("id")),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> InvoiceInput {
        InvoiceInput {
            external_id: "inv-1".into(),
            kind: InvoiceKindGql::SalesInvoice,
            number: "2026-0001".into(),
            counterparty_name: Some(" ACME ".into()),
            counterparty_iban: Some("be68 5390 0754 7034".into()),
            currency: "EUR".into(),
            total: Decimal("121.00".parse().unwrap()),
            issue_date: Date(chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()),
            due_date: Some(Date(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())),
            structured_reference: Some("***090/9337/55493***".into()),
        }
    }

    #[test]
    fn valid_input_is_normalized() {
        let u = validate(0, &input()).unwrap();
        assert_eq!(u.counterparty_iban.as_deref(), Some("BE68539007547034"));
        assert_eq!(u.structured_reference.as_deref(), Some("090933755493"));
        assert_eq!(u.counterparty_name.as_deref(), Some("ACME"));
        assert_eq!(u.total.minor, 12100);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut i = input();
        i.external_id = " ".into();
        i.total = Decimal("0.001".parse().unwrap());
        i.counterparty_iban = Some("BE00".into());
        i.structured_reference = Some("+++090/9337/55494+++".into());
        i.due_date = Some(Date(chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()));
        let errors = validate(7, &i).unwrap_err();
        let fields: Vec<_> = errors
            .iter()
            .map(|e| e.field.clone().unwrap()[2].clone())
            .collect();
        assert_eq!(
            fields,
            [
                "externalId",
                "counterpartyIban",
                "total",
                "dueDate",
                "structuredReference"
            ]
        );
        assert!(
            errors
                .iter()
                .all(|e| e.field.as_ref().unwrap()[..2] == ["invoices".to_owned(), "7".to_owned()])
        );
        let mut i = input();
        i.total = Decimal("-5".parse().unwrap());
        i.currency = "XXX".into();
        assert_eq!(
            validate(0, &i).unwrap_err()[0].code,
            UserErrorCode::InvalidCurrency
        );
        let mut i = input();
        i.total = Decimal("0".parse().unwrap());
        assert_eq!(
            validate(0, &i).unwrap_err()[0].code,
            UserErrorCode::NotPositive
        );
    }
}
