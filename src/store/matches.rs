//! Owns payment matches as rows: allocating (part of) a transaction to an invoice by hand, with
//! the invoice settled and announced in the same transaction, and reading matches per invoice
//! or per transaction for data loaders.

use super::find_in;
use super::invoices::Invoice;
use super::{Store, WriteTx};
use crate::domain::ids::{InvoiceId, MatchId, OrganizationId, TransactionId};
use crate::domain::invoice::InvoiceStatus;
use crate::domain::money::Money;
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{bank_transaction, payment_match};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

pub use crate::domain::status::{MatchMethod, MatchRule};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMatch {
    pub id: MatchId,
    pub invoice_id: InvoiceId,
    pub transaction_id: TransactionId,
    pub amount: Money,
    pub method: MatchMethod,
    pub rule: MatchRule,
    pub written_off: i64,
    pub excess: i64,
    pub evidence: String,
    pub confidence: i32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub reversed_at: Option<DateTime<Utc>>,
    pub reversed_by: Option<String>,
    pub reversal_reason: Option<String>,
}

impl TryFrom<payment_match::Model> for PaymentMatch {
    type Error = AppError;
    fn try_from(m: payment_match::Model) -> AppResult<Self> {
        Ok(Self {
            id: m.id.into(),
            invoice_id: m.invoice_id.into(),
            transaction_id: m.transaction_id.into(),
            amount: Money::new(
                m.amount_minor,
                super::accounts::parse_currency(&m.currency)?,
            ),
            method: MatchMethod::parse(&m.method).ok_or_else(|| {
                AppError::internal(format!(
                    "unknown match method {:?} in the database",
                    m.method
                ))
            })?,
            rule: MatchRule::parse(&m.rule).ok_or_else(|| {
                AppError::internal(format!("unknown match rule {:?} in the database", m.rule))
            })?,
            written_off: m.written_off_minor,
            excess: m.excess_minor,
            evidence: m.evidence,
            confidence: m.confidence,
            created_by: m.created_by,
            created_at: m.created_at,
            reversed_at: m.reversed_at,
            reversed_by: m.reversed_by,
            reversal_reason: m.reversal_reason,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewMatch {
    pub invoice_id: InvoiceId,
    pub transaction_id: TransactionId,
    /// Positive amount allocated, in the invoice's currency.
    pub amount: Money,
    pub rule: MatchRule,
    /// A shortfall within tolerance this match settles without money.
    pub written_off: i64,
    /// An excess within tolerance, recorded and left on the transaction.
    pub excess: i64,
    pub evidence: String,
    pub confidence: i32,
    pub created_by: String,
}

impl NewMatch {
    pub(crate) fn into_row(
        self,
        org: OrganizationId,
        now: DateTime<Utc>,
    ) -> payment_match::ActiveModel {
        let method = if self.rule == MatchRule::Manual {
            MatchMethod::Manual
        } else {
            MatchMethod::Automatic
        };
        payment_match::ActiveModel {
            id: Set(MatchId::new().0),
            organization_id: Set(org.0),
            invoice_id: Set(self.invoice_id.0),
            transaction_id: Set(self.transaction_id.0),
            amount_minor: Set(self.amount.minor),
            currency: Set(self.amount.currency.code().to_owned()),
            method: Set(method.as_str().to_owned()),
            rule: Set(self.rule.as_str().to_owned()),
            written_off_minor: Set(self.written_off),
            excess_minor: Set(self.excess),
            evidence: Set(self.evidence),
            confidence: Set(self.confidence.clamp(0, 100)),
            created_by: Set(self.created_by),
            created_at: Set(now),
            reversed_at: Set(None),
            reversed_by: Set(None),
            reversal_reason: Set(None),
        }
    }
}

impl WriteTx {
    /// Allocates `m.amount` of a booked transaction to an invoice: writes the match, then
    /// settles the invoice from its live matches (paid amount, status, paid-at) and appends its
    /// `invoice.*` event — all in this transaction.
    pub async fn apply_match(
        &mut self,
        org: OrganizationId,
        m: NewMatch,
    ) -> AppResult<(PaymentMatch, Invoice)> {
        let before = self
            .invoice_model(org, m.invoice_id)
            .await?
            .map(Invoice::try_from)
            .transpose()?
            .ok_or_else(|| AppError::not_found("invoice"))?;
        find_in::<bank_transaction::Entity>(org)
            .filter(bank_transaction::Column::Id.eq(m.transaction_id.0))
            .one(self.conn())
            .await?
            .ok_or_else(|| AppError::not_found("transaction"))?;
        if m.amount.minor <= 0 || m.amount.currency != before.total.currency {
            return Err(AppError::bad_input(
                "a match allocates a positive amount in the invoice currency",
            ));
        }
        if before.status == InvoiceStatus::Void {
            return Err(AppError::Conflict("the invoice is void".into()));
        }
        let now = self.now();
        let row = m.into_row(org, now).insert(self.conn()).await?;
        let after = self
            .settle_invoices(org, &[before.id], &Default::default())
            .await?
            .remove(0);
        Ok((PaymentMatch::try_from(row)?, after))
    }
}

impl Store {
    /// Matches (live and reversed) of these transactions, in one statement.
    pub async fn matches_by_transactions(
        &self,
        org: OrganizationId,
        ids: &[TransactionId],
    ) -> AppResult<HashMap<TransactionId, Vec<PaymentMatch>>> {
        let rows = find_in::<payment_match::Entity>(org)
            .filter(payment_match::Column::TransactionId.is_in(ids.iter().map(|i| i.0)))
            .order_by_asc(payment_match::Column::Id)
            .all(self.conn())
            .await?;
        let mut out: HashMap<TransactionId, Vec<PaymentMatch>> = HashMap::new();
        for r in rows {
            let m = PaymentMatch::try_from(r)?;
            out.entry(m.transaction_id).or_default().push(m);
        }
        Ok(out)
    }

    /// Matches (live and reversed) of these invoices, in one statement.
    pub async fn matches_by_invoices(
        &self,
        org: OrganizationId,
        ids: &[InvoiceId],
    ) -> AppResult<HashMap<InvoiceId, Vec<PaymentMatch>>> {
        let rows = find_in::<payment_match::Entity>(org)
            .filter(payment_match::Column::InvoiceId.is_in(ids.iter().map(|i| i.0)))
            .order_by_asc(payment_match::Column::Id)
            .all(self.conn())
            .await?;
        let mut out: HashMap<InvoiceId, Vec<PaymentMatch>> = HashMap::new();
        for r in rows {
            let m = PaymentMatch::try_from(r)?;
            out.entry(m.invoice_id).or_default().push(m);
        }
        Ok(out)
    }

    pub async fn payment_match(
        &self,
        org: OrganizationId,
        id: MatchId,
    ) -> AppResult<Option<PaymentMatch>> {
        match_by_id(self.conn(), org, id).await
    }
}

impl WriteTx {
    /// A match as this transaction sees it.
    pub async fn payment_match_in(
        &self,
        org: OrganizationId,
        id: MatchId,
    ) -> AppResult<Option<PaymentMatch>> {
        match_by_id(self.conn(), org, id).await
    }
}

async fn match_by_id(
    conn: &impl sea_orm::ConnectionTrait,
    org: OrganizationId,
    id: MatchId,
) -> AppResult<Option<PaymentMatch>> {
    find_in::<payment_match::Entity>(org)
        .filter(payment_match::Column::Id.eq(id.0))
        .one(conn)
        .await?
        .map(PaymentMatch::try_from)
        .transpose()
}
