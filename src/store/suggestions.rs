//! Owns reading match suggestions: the likely payments reconciliation does not apply on its own
//! (and pending transactions that would pay an invoice once booked), per transaction or per
//! invoice, for data loaders. Reconciliation writes them (`reconcile`).

use super::{Store, find_in};
use crate::domain::ids::{InvoiceId, OrganizationId, TransactionId};
use crate::domain::status::SuggestionBasis;
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::match_suggestion::{self, Column};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub transaction_id: TransactionId,
    pub invoice_id: InvoiceId,
    pub basis: SuggestionBasis,
    /// What makes it likely, in a bookkeeper's words.
    pub evidence: String,
    pub confidence: i32,
    /// The transaction is pending: it would pay the invoice once booked.
    pub pending: bool,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<match_suggestion::Model> for Suggestion {
    type Error = AppError;
    fn try_from(m: match_suggestion::Model) -> AppResult<Self> {
        Ok(Self {
            transaction_id: m.transaction_id.into(),
            invoice_id: m.invoice_id.into(),
            basis: SuggestionBasis::parse(&m.basis).ok_or_else(|| {
                AppError::internal(format!(
                    "unknown suggestion basis {:?} in the database",
                    m.basis
                ))
            })?,
            evidence: m.evidence,
            confidence: m.confidence,
            pending: m.pending,
            created_at: m.created_at,
        })
    }
}

impl Store {
    /// Undismissed suggestions for these transactions, most confident first.
    pub async fn suggestions_by_transactions(
        &self,
        org: OrganizationId,
        ids: &[TransactionId],
    ) -> AppResult<HashMap<TransactionId, Vec<Suggestion>>> {
        let rows = self
            .suggestions_where(org, Column::TransactionId.is_in(ids.iter().map(|i| i.0)))
            .await?;
        let mut out: HashMap<TransactionId, Vec<Suggestion>> = HashMap::new();
        for s in rows {
            out.entry(s.transaction_id).or_default().push(s);
        }
        Ok(out)
    }

    /// Undismissed suggestions for these invoices, most confident first.
    pub async fn suggestions_by_invoices(
        &self,
        org: OrganizationId,
        ids: &[InvoiceId],
    ) -> AppResult<HashMap<InvoiceId, Vec<Suggestion>>> {
        let rows = self
            .suggestions_where(org, Column::InvoiceId.is_in(ids.iter().map(|i| i.0)))
            .await?;
        let mut out: HashMap<InvoiceId, Vec<Suggestion>> = HashMap::new();
        for s in rows {
            out.entry(s.invoice_id).or_default().push(s);
        }
        Ok(out)
    }

    async fn suggestions_where(
        &self,
        org: OrganizationId,
        condition: sea_orm::sea_query::SimpleExpr,
    ) -> AppResult<Vec<Suggestion>> {
        find_in::<match_suggestion::Entity>(org)
            .filter(condition)
            .filter(Column::DismissedAt.is_null())
            .order_by_desc(Column::Confidence)
            .order_by_asc(Column::Id)
            .all(self.conn())
            .await?
            .into_iter()
            .map(Suggestion::try_from)
            .collect()
    }
}

impl super::WriteTx {
    /// The undismissed suggestion of this pair, if any.
    pub async fn suggestion_of(
        &self,
        org: OrganizationId,
        transaction: TransactionId,
        invoice: InvoiceId,
    ) -> AppResult<Option<Suggestion>> {
        find_in::<match_suggestion::Entity>(org)
            .filter(Column::TransactionId.eq(transaction.0))
            .filter(Column::InvoiceId.eq(invoice.0))
            .filter(Column::DismissedAt.is_null())
            .one(self.conn())
            .await?
            .map(Suggestion::try_from)
            .transpose()
    }

    /// Dismisses the pair's suggestion: it stays, marked, so reconciliation never suggests the
    /// pair again. False when there is no undismissed suggestion for it.
    pub async fn dismiss_suggestion(
        &mut self,
        org: OrganizationId,
        transaction: TransactionId,
        invoice: InvoiceId,
        by: &str,
    ) -> AppResult<bool> {
        let now = self.now();
        let done = super::update_in::<match_suggestion::Entity>(org)
            .col_expr(
                Column::DismissedAt,
                sea_orm::sea_query::Expr::value(Some(now)),
            )
            .col_expr(
                Column::DismissedBy,
                sea_orm::sea_query::Expr::value(Some(by.to_owned())),
            )
            .filter(Column::TransactionId.eq(transaction.0))
            .filter(Column::InvoiceId.eq(invoice.0))
            .filter(Column::DismissedAt.is_null())
            .exec(self.conn())
            .await?;
        Ok(done.rows_affected > 0)
    }
}
