//! Owns suggestions in the API: the `MatchSuggestion` type (a likely payment the engine does
//! not apply on its own, or a pending transaction that would pay an invoice once booked) and the
//! `matchSuggestions` query, for one transaction or one invoice.

use super::errors::GqlResult;
use super::invoices::{INVOICE_TYPE, Invoice};
use super::loaders::SuggestionsOf;
use super::related::Related;
use super::transactions::{BankTransaction, TRANSACTION_TYPE};
use super::{ContextExt, RequireScope, ids};
use crate::domain::ids::{InvoiceId, TransactionId};
use crate::domain::scope::Scope;
use crate::error::AppError;
use crate::store::suggestions::Suggestion as Record;
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::status::SuggestionBasis")]
pub enum SuggestionBasis {
    /// The invoice's structured reference, but something stops automation (already paid,
    /// another currency, another invoice carries it too, or a person undid the match).
    StructuredReference,
    /// A reference that fails its check, one typing slip from the invoice's.
    NearReference,
    /// The invoice number is mentioned but the amount is not what is open.
    InvoiceNumber,
    /// Amount and IBAN fit, but so do other invoices.
    AmountAndIban,
    /// Only the counterparty's name is the invoice's.
    CounterpartyName,
}

/// A likely payment. Accept it with `matchTransaction`, or set it aside for good with
/// `dismissSuggestion`.
#[derive(SimpleObject)]
pub struct MatchSuggestion {
    transaction: Related<TransactionId, Option<BankTransaction>>,
    invoice: Related<InvoiceId, Option<Invoice>>,
    basis: SuggestionBasis,
    /// Why, in a bookkeeper's words: "structured communication +++090/9337/55493+++ equals
    /// invoice 2026-0042's; but the invoice is already paid".
    evidence: String,
    /// 0–100.
    confidence: i32,
    /// The transaction is pending: it would pay the invoice once booked.
    pending: bool,
    created_at: DateTime<Utc>,
}

impl From<Record> for MatchSuggestion {
    fn from(s: Record) -> Self {
        Self {
            transaction: Related::new(s.transaction_id),
            invoice: Related::new(s.invoice_id),
            basis: s.basis.into(),
            evidence: s.evidence,
            confidence: s.confidence,
            pending: s.pending,
            created_at: s.created_at,
        }
    }
}

#[derive(Default)]
pub struct SuggestionsQuery;

#[Object]
impl SuggestionsQuery {
    /// The open suggestions of one transaction or one invoice (exactly one of the two), most
    /// confident first. Another organization's id, or an unknown one, is NOT_FOUND.
    #[graphql(guard = "RequireScope(Scope::Read)")]
    async fn match_suggestions(
        &self,
        ctx: &Context<'_>,
        transaction_id: Option<ID>,
        invoice_id: Option<ID>,
    ) -> GqlResult<Vec<MatchSuggestion>> {
        let org = ctx.principal()?.organization_id;
        let store = ctx.store()?;
        let key = match (transaction_id, invoice_id) {
            (Some(t), None) => {
                let id = ids::decode_as(TRANSACTION_TYPE, &t).map(TransactionId);
                match id {
                    Some(id) if store.transaction(org, id).await?.is_some() => {
                        SuggestionsOf::Transaction(id)
                    }
                    _ => return Err(AppError::not_found("transaction").into()),
                }
            }
            (None, Some(i)) => {
                let id = ids::decode_as(INVOICE_TYPE, &i).map(InvoiceId);
                match id {
                    Some(id) if store.invoice(org, id).await?.is_some() => {
                        SuggestionsOf::Invoice(id)
                    }
                    _ => return Err(AppError::not_found("invoice").into()),
                }
            }
            _ => {
                return Err(AppError::bad_input(
                    "pass exactly one of `transactionId` and `invoiceId`",
                )
                .into());
            }
        };
        let found = ctx.loaders()?.loader.load_one(key).await?;
        Ok(found
            .unwrap_or_default()
            .into_iter()
            .map(MatchSuggestion::from)
            .collect())
    }
}
