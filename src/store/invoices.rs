//! Owns invoices as rows: filtered keyset listing, lookups by id or external id, the idempotent
//! upsert of the accounting product's invoices, voiding, and the invoice payment events.

use super::page::{self, Page, PageArgs};
use super::{Store, WriteTx};
use super::{find_ids_in, find_in, owned_by};
use crate::domain::event::{InvoiceEvent, InvoicePaymentData, PaymentData};
use crate::domain::ids::{InvoiceId, OrganizationId};
use crate::domain::invoice::{InvoiceKind, InvoiceStatus};
use crate::domain::lookup::name_key;
use crate::domain::money::Money;
use crate::domain::remittance::number_key;
use crate::error::{AppError, AppResult};
use chrono::{DateTime, NaiveDate, Utc};
use entity::invoice;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, IntoActiveModel,
    QueryFilter,
};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: InvoiceId,
    pub external_id: String,
    pub kind: InvoiceKind,
    pub number: String,
    pub counterparty_name: Option<String>,
    pub counterparty_iban: Option<String>,
    pub total: Money,
    pub paid: Money,
    pub written_off: Money,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub structured_reference: Option<String>,
    pub status: InvoiceStatus,
    pub paid_at: Option<NaiveDate>,
    pub payment_pending: bool,
    pub voided_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Invoice {
    /// What is still to be paid (never negative).
    pub fn open_amount(&self) -> Money {
        let open = Ord::max(
            self.total.minor - self.paid.minor - self.written_off.minor,
            0,
        );
        Money::new(open, self.total.currency)
    }

    /// The data of its `invoice.*` events, with the live allocations that make up its paid amount.
    pub fn event_data(&self, payments: Vec<PaymentData>) -> InvoicePaymentData {
        InvoicePaymentData {
            invoice_id: self.id.to_string(),
            external_id: self.external_id.clone(),
            number: self.number.clone(),
            status: self.status.as_str().to_owned(),
            paid_amount: self.paid.to_string(),
            open_amount: self.open_amount().to_string(),
            currency: self.total.currency.code().to_owned(),
            paid_at: self.paid_at,
            payment_pending: self.payment_pending,
            payments,
        }
    }
}

impl TryFrom<invoice::Model> for Invoice {
    type Error = AppError;
    fn try_from(m: invoice::Model) -> AppResult<Self> {
        let currency = super::accounts::parse_currency(&m.currency)?;
        let bad = |what: &str, v: &str| AppError::internal(format!("stored invoice {what} {v}"));
        Ok(Self {
            id: m.id.into(),
            kind: InvoiceKind::parse(&m.kind).ok_or_else(|| bad("kind", &m.kind))?,
            status: InvoiceStatus::parse(&m.status).ok_or_else(|| bad("status", &m.status))?,
            external_id: m.external_id,
            number: m.number,
            counterparty_name: m.counterparty_name,
            counterparty_iban: m.counterparty_iban,
            total: Money::new(m.total_minor, currency),
            paid: Money::new(m.paid_minor, currency),
            written_off: Money::new(m.written_off_minor, currency),
            issue_date: m.issue_date,
            due_date: m.due_date,
            structured_reference: m.structured_reference,
            paid_at: m.paid_at,
            payment_pending: m.payment_pending,
            voided_at: m.voided_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

/// A validated invoice from the accounting product (references and IBAN normalized).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceUpsert {
    pub external_id: String,
    pub kind: InvoiceKind,
    pub number: String,
    pub counterparty_name: Option<String>,
    pub counterparty_iban: Option<String>,
    pub total: Money,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub structured_reference: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub kinds: Vec<InvoiceKind>,
    pub statuses: Vec<InvoiceStatus>,
    /// Due strictly before this date.
    pub due_before: Option<NaiveDate>,
    /// Case-insensitive text in the counterparty name, or the exact (normalized) IBAN.
    pub counterparty: Option<String>,
    /// Overdue (true) or not (false) as of the date given: due before it and awaiting payment.
    pub overdue: Option<(bool, NaiveDate)>,
    pub payment_pending: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Inserted,
    Updated,
    Unchanged,
}

/// The event announcing a status a payment brought about, if any.
pub fn payment_event(status: InvoiceStatus) -> Option<InvoiceEvent> {
    match status {
        InvoiceStatus::Paid => Some(InvoiceEvent::Paid),
        InvoiceStatus::PartiallyPaid => Some(InvoiceEvent::PartiallyPaid),
        InvoiceStatus::Overpaid => Some(InvoiceEvent::Overpaid),
        InvoiceStatus::Open | InvoiceStatus::Void => None,
    }
}

fn filter_condition(org: OrganizationId, f: &InvoiceFilter) -> Condition {
    use invoice::Column as C;
    let mut c = Condition::all().add(owned_by::<invoice::Entity>(org));
    if !f.kinds.is_empty() {
        c = c.add(C::Kind.is_in(f.kinds.iter().map(|k| k.as_str())));
    }
    if !f.statuses.is_empty() {
        c = c.add(C::Status.is_in(f.statuses.iter().map(|s| s.as_str())));
    }
    if let Some(d) = f.due_before {
        c = c.add(C::DueDate.lt(d));
    }
    if let Some((overdue, today)) = f.overdue {
        let awaiting = [InvoiceStatus::Open, InvoiceStatus::PartiallyPaid].map(|s| s.as_str());
        let is_overdue = Condition::all()
            .add(C::DueDate.is_not_null())
            .add(C::DueDate.lt(today))
            .add(C::Status.is_in(awaiting));
        c = c.add(if overdue {
            is_overdue
        } else {
            is_overdue.not()
        });
    }
    if let Some(pending) = f.payment_pending {
        c = c.add(C::PaymentPending.eq(pending));
    }
    if let Some(text) = f
        .counterparty
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let by_iban: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase();
        c = c.add(
            Condition::any()
                .add(
                    Expr::expr(Func::lower(Expr::col(C::CounterpartyName)))
                        .like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
                )
                .add(C::CounterpartyIban.eq(by_iban)),
        );
    }
    c
}

impl Store {
    /// One page of invoices, newest issue date first.
    pub async fn invoices(
        &self,
        org: OrganizationId,
        filter: &InvoiceFilter,
        args: &PageArgs,
    ) -> AppResult<Page<Invoice>> {
        let select = invoice::Entity::find().filter(filter_condition(org, filter));
        let page = page::fetch(
            self.conn(),
            select,
            Some(invoice::Column::IssueDate),
            invoice::Column::Id,
            args,
        )
        .await?;
        page.try_map(Invoice::try_from)
    }

    pub async fn invoice(&self, org: OrganizationId, id: InvoiceId) -> AppResult<Option<Invoice>> {
        find_in::<invoice::Entity>(org)
            .filter(invoice::Column::Id.eq(id.0))
            .one(self.conn())
            .await?
            .map(Invoice::try_from)
            .transpose()
    }

    pub async fn invoice_by_external_id(
        &self,
        org: OrganizationId,
        external_id: &str,
    ) -> AppResult<Option<Invoice>> {
        find_in::<invoice::Entity>(org)
            .filter(invoice::Column::ExternalId.eq(external_id))
            .one(self.conn())
            .await?
            .map(Invoice::try_from)
            .transpose()
    }

    /// Invoices by id, in one statement (data loader).
    pub async fn invoices_by_ids(
        &self,
        org: OrganizationId,
        ids: &[InvoiceId],
    ) -> AppResult<HashMap<InvoiceId, Invoice>> {
        invoices_with_ids(self.conn(), org, ids).await
    }
}

async fn invoices_with_ids(
    conn: &impl sea_orm::ConnectionTrait,
    org: OrganizationId,
    ids: &[InvoiceId],
) -> AppResult<HashMap<InvoiceId, Invoice>> {
    find_ids_in::<invoice::Entity>(conn, org, ids.iter().map(|i| i.0))
        .await?
        .into_iter()
        .map(|m| Invoice::try_from(m).map(|i| (i.id, i)))
        .collect()
}

impl WriteTx {
    /// Invoices by id, as this transaction sees them.
    pub async fn invoices_in(
        &self,
        org: OrganizationId,
        ids: &[InvoiceId],
    ) -> AppResult<HashMap<InvoiceId, Invoice>> {
        invoices_with_ids(self.conn(), org, ids).await
    }

    pub(crate) async fn invoice_model(
        &self,
        org: OrganizationId,
        id: InvoiceId,
    ) -> AppResult<Option<invoice::Model>> {
        Ok(find_in::<invoice::Entity>(org)
            .filter(invoice::Column::Id.eq(id.0))
            .one(self.conn())
            .await?)
    }

    /// A structured reference for a sales invoice that has none (the customer pays with it),
    /// unique in the organization; purchase invoices and credit notes get none (the supplier's
    /// reference is theirs to give).
    async fn new_reference(
        &mut self,
        org: OrganizationId,
        kind: InvoiceKind,
    ) -> AppResult<Option<String>> {
        use crate::domain::remittance::{ReferenceStyle, generate_reference};
        use rand::Rng;
        if kind != InvoiceKind::SalesInvoice {
            return Ok(None);
        }
        let style = entity::organization::Entity::find_by_id(org.0)
            .one(self.conn())
            .await?
            .and_then(|o| ReferenceStyle::parse(&o.reference_style))
            .unwrap_or_default();
        loop {
            let seed: u64 = rand::rng().random();
            let r = generate_reference(style, seed);
            let taken = find_in::<invoice::Entity>(org)
                .filter(invoice::Column::StructuredReference.eq(r.normalized()))
                .one(self.conn())
                .await?
                .is_some();
            if !taken {
                return Ok(Some(r.normalized().to_owned()));
            }
        }
    }

    /// Inserts or updates an invoice by external id. An unchanged invoice is not written.
    /// Once money is allocated to it, its currency and kind are fixed (CONFLICT). A status
    /// change that follows from a new total is announced in this transaction.
    pub async fn upsert_invoice(
        &mut self,
        org: OrganizationId,
        u: InvoiceUpsert,
    ) -> AppResult<(Invoice, UpsertOutcome)> {
        let now = self.now();
        let existing = find_in::<invoice::Entity>(org)
            .filter(invoice::Column::ExternalId.eq(u.external_id.as_str()))
            .one(self.conn())
            .await?;
        let Some(model) = existing else {
            let reference = match u.structured_reference {
                Some(r) => Some(r),
                None => self.new_reference(org, u.kind).await?,
            };
            let am = invoice::ActiveModel {
                id: Set(InvoiceId::new().0),
                organization_id: Set(org.0),
                external_id: Set(u.external_id),
                kind: Set(u.kind.as_str().to_owned()),
                number_key: Set(Some(number_key(&u.number))),
                name_key: Set(u.counterparty_name.as_deref().and_then(name_key)),
                number: Set(u.number),
                counterparty_name: Set(u.counterparty_name),
                counterparty_iban: Set(u.counterparty_iban),
                currency: Set(u.total.currency.code().to_owned()),
                total_minor: Set(u.total.minor),
                issue_date: Set(u.issue_date),
                due_date: Set(u.due_date),
                structured_reference: Set(reference),
                status: Set(InvoiceStatus::Open.as_str().to_owned()),
                paid_minor: Set(0),
                written_off_minor: Set(0),
                paid_at: Set(None),
                payment_pending: Set(false),
                voided_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            };
            return Ok((
                Invoice::try_from(am.insert(self.conn()).await?)?,
                UpsertOutcome::Inserted,
            ));
        };
        let before = Invoice::try_from(model.clone())?;
        if before.paid.minor != 0
            && (before.total.currency != u.total.currency || before.kind != u.kind)
        {
            return Err(AppError::Conflict(
                "currency and kind cannot change once payments are allocated to the invoice".into(),
            ));
        }
        let mut am = model.into_active_model();
        am.kind.set_ne(u.kind.as_str().to_owned());
        am.number_key.set_ne(Some(number_key(&u.number)));
        am.name_key
            .set_ne(u.counterparty_name.as_deref().and_then(name_key));
        am.number.set_ne(u.number);
        am.counterparty_name.set_ne(u.counterparty_name);
        am.counterparty_iban.set_ne(u.counterparty_iban);
        am.currency.set_ne(u.total.currency.code().to_owned());
        am.total_minor.set_ne(u.total.minor);
        am.issue_date.set_ne(u.issue_date);
        am.due_date.set_ne(u.due_date);
        // A reference once given (or generated) stays when an upsert omits it: a customer may
        // already be paying with it.
        match (u.structured_reference, &before.structured_reference) {
            (Some(r), _) => am.structured_reference.set_ne(Some(r)),
            (None, Some(_)) => {}
            (None, None) => {
                let generated = self.new_reference(org, u.kind).await?;
                am.structured_reference.set_ne(generated);
            }
        }
        if !am.is_changed() {
            return Ok((before, UpsertOutcome::Unchanged));
        }
        am.updated_at = Set(now);
        am.update(self.conn()).await?;
        // A new total can change the status; settling says so with its event.
        let after = self
            .settle_invoices(org, &[before.id], &Default::default())
            .await?
            .remove(0);
        Ok((after, UpsertOutcome::Updated))
    }

    /// Marks an invoice VOID (idempotent). Its matches stay for the audit trail.
    pub async fn void_invoice(&mut self, org: OrganizationId, id: InvoiceId) -> AppResult<Invoice> {
        let model = self
            .invoice_model(org, id)
            .await?
            .ok_or_else(|| AppError::not_found("invoice"))?;
        if model.status == InvoiceStatus::Void.as_str() {
            return Invoice::try_from(model);
        }
        let now = self.now();
        let mut am = model.into_active_model();
        am.status = Set(InvoiceStatus::Void.as_str().to_owned());
        am.voided_at = Set(Some(now));
        am.updated_at = Set(now);
        Invoice::try_from(am.update(self.conn()).await?)
    }
}
