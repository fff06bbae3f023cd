//! Owns the mutations a person uses to steer reconciliation of single items: `matchTransaction`,
//! `unmatchTransaction`, `dismissSuggestion`, `ignoreTransaction`, `restoreTransaction` (names
//! pinned), each one `input` in and a payload with `userErrors` out, translated to and from
//! `reconcile::manual`.

use super::errors::GqlResult;
use super::invoices::{INVOICE_TYPE, Invoice};
use super::matches::{MATCH_TYPE, PaymentMatch};
use super::scalars::{Decimal, UserError, UserErrorCode};
use super::transactions::{BankTransaction, TRANSACTION_TYPE};
use super::{ContextExt, RequireScope, ids};
use crate::domain::ids::{InvoiceId, MatchId, TransactionId};
use crate::domain::scope::Scope;
use crate::reconcile::manual::{self, Matched};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

#[derive(InputObject)]
pub struct MatchTransactionInput {
    pub transaction_id: ID,
    pub invoice_id: ID,
    /// What to allocate, in the transaction's currency (positive). Default: what is left of the
    /// transaction, up to the invoice's open amount.
    pub amount: Option<Decimal>,
}

#[derive(InputObject)]
pub struct UnmatchTransactionInput {
    pub match_id: ID,
    /// Why, for the record (the match keeps it as its reversal reason).
    pub reason: Option<String>,
}

#[derive(InputObject)]
pub struct DismissSuggestionInput {
    pub transaction_id: ID,
    pub invoice_id: ID,
}

#[derive(InputObject)]
pub struct IgnoreTransactionInput {
    pub transaction_id: ID,
    /// Why it is not invoice-related ("bank fees", "salary").
    pub reason: Option<String>,
}

#[derive(InputObject)]
pub struct RestoreTransactionInput {
    pub transaction_id: ID,
}

/// A match made or undone, with both sides as they now stand.
#[derive(SimpleObject, Default)]
pub struct MatchTransactionPayload {
    #[graphql(name = "match")]
    pub payment_match: Option<PaymentMatch>,
    pub invoice: Option<Invoice>,
    pub transaction: Option<BankTransaction>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct UnmatchTransactionPayload {
    /// The match, now reversed.
    #[graphql(name = "match")]
    pub payment_match: Option<PaymentMatch>,
    pub invoice: Option<Invoice>,
    pub transaction: Option<BankTransaction>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct DismissSuggestionPayload {
    pub invoice: Option<Invoice>,
    pub transaction: Option<BankTransaction>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct IgnoreTransactionPayload {
    pub transaction: Option<BankTransaction>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct RestoreTransactionPayload {
    pub transaction: Option<BankTransaction>,
    pub user_errors: Vec<UserError>,
}

/// An id of another type, malformed or of another organization: the same NOT_FOUND.
fn not_found(field: &str, what: &str) -> Vec<UserError> {
    vec![UserError {
        field: Some(vec![field.into()]),
        message: format!("{what} not found"),
        code: UserErrorCode::NotFound,
    }]
}

fn transaction_id(id: &ID) -> Result<TransactionId, Vec<UserError>> {
    ids::decode_as(TRANSACTION_TYPE, id)
        .map(TransactionId)
        .ok_or_else(|| not_found("transactionId", "transaction"))
}

fn invoice_id(id: &ID) -> Result<InvoiceId, Vec<UserError>> {
    ids::decode_as(INVOICE_TYPE, id)
        .map(InvoiceId)
        .ok_or_else(|| not_found("invoiceId", "invoice"))
}

/// The payload fields of a match made or undone.
type Sides = (
    Option<PaymentMatch>,
    Option<Invoice>,
    Option<BankTransaction>,
);

fn sides(m: Matched) -> Sides {
    (
        Some(m.payment_match.into()),
        Some(m.invoice.into()),
        Some(m.transaction.into()),
    )
}

/// Unwraps a decoded id or returns the payload carrying its user error.
macro_rules! id_or {
    ($decoded:expr, $payload:ident) => {
        match $decoded {
            Ok(id) => id,
            Err(user_errors) => {
                return Ok($payload {
                    user_errors,
                    ..Default::default()
                });
            }
        }
    };
}

#[derive(Default)]
pub struct ManualMutation;

#[Object]
impl ManualMutation {
    /// Allocates (part of) a booked transaction to an invoice by hand — also how a suggestion
    /// is accepted. Refused with a user error, changing nothing: `ALLOCATION_EXCEEDS_UNALLOCATED`,
    /// `CURRENCY_MISMATCH`, `INVOICE_VOID`, `WRONG_DIRECTION`, `TRANSACTION_PENDING`,
    /// `NOT_FOUND`, `CONFLICT` (already matched to that invoice, ignored or removed).
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn match_transaction(
        &self,
        ctx: &Context<'_>,
        input: MatchTransactionInput,
    ) -> GqlResult<MatchTransactionPayload> {
        let p = ctx.principal()?;
        let t = id_or!(
            transaction_id(&input.transaction_id),
            MatchTransactionPayload
        );
        let i = id_or!(invoice_id(&input.invoice_id), MatchTransactionPayload);
        let amount = input.amount.map(|d| d.0);
        let done =
            manual::match_transaction(ctx.store()?, p.organization_id, &p.actor(), t, i, amount)
                .await?;
        Ok(match done {
            Ok(m) => {
                let (payment_match, invoice, transaction) = sides(m);
                MatchTransactionPayload {
                    payment_match,
                    invoice,
                    transaction,
                    user_errors: vec![],
                }
            }
            Err(r) => MatchTransactionPayload {
                user_errors: vec![r.into()],
                ..Default::default()
            },
        })
    }

    /// Reverses a match (kept, with who, when and why). The invoice's open amount comes back
    /// and `invoice.payment_reversed` is announced; the engine never applies this pair again.
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn unmatch_transaction(
        &self,
        ctx: &Context<'_>,
        input: UnmatchTransactionInput,
    ) -> GqlResult<UnmatchTransactionPayload> {
        let p = ctx.principal()?;
        let id = id_or!(
            ids::decode_as(MATCH_TYPE, &input.match_id)
                .map(MatchId)
                .ok_or_else(|| not_found("matchId", "match")),
            UnmatchTransactionPayload
        );
        let reason = input
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let done = manual::unmatch(ctx.store()?, p.organization_id, &p.actor(), id, reason).await?;
        Ok(match done {
            Ok(m) => {
                let (payment_match, invoice, transaction) = sides(m);
                UnmatchTransactionPayload {
                    payment_match,
                    invoice,
                    transaction,
                    user_errors: vec![],
                }
            }
            Err(r) => UnmatchTransactionPayload {
                user_errors: vec![r.into()],
                ..Default::default()
            },
        })
    }

    /// Sets a suggestion aside for good: it is not suggested again.
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn dismiss_suggestion(
        &self,
        ctx: &Context<'_>,
        input: DismissSuggestionInput,
    ) -> GqlResult<DismissSuggestionPayload> {
        let p = ctx.principal()?;
        let t = id_or!(
            transaction_id(&input.transaction_id),
            DismissSuggestionPayload
        );
        let i = id_or!(invoice_id(&input.invoice_id), DismissSuggestionPayload);
        let done = manual::dismiss(ctx.store()?, p.organization_id, &p.actor(), t, i).await?;
        Ok(match done {
            Ok((t, i)) => DismissSuggestionPayload {
                invoice: Some(i.into()),
                transaction: Some(t.into()),
                user_errors: vec![],
            },
            Err(r) => DismissSuggestionPayload {
                user_errors: vec![r.into()],
                ..Default::default()
            },
        })
    }

    /// Marks a transaction as not invoice-related: its matches are reversed, its suggestions
    /// dropped, and it leaves the unallocated list until restored.
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn ignore_transaction(
        &self,
        ctx: &Context<'_>,
        input: IgnoreTransactionInput,
    ) -> GqlResult<IgnoreTransactionPayload> {
        let p = ctx.principal()?;
        let t = id_or!(
            transaction_id(&input.transaction_id),
            IgnoreTransactionPayload
        );
        let reason = input
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let done = manual::ignore(ctx.store()?, p.organization_id, &p.actor(), t, reason).await?;
        Ok(match done {
            Ok(t) => IgnoreTransactionPayload {
                transaction: Some(t.into()),
                user_errors: vec![],
            },
            Err(r) => IgnoreTransactionPayload {
                transaction: None,
                user_errors: vec![r.into()],
            },
        })
    }

    /// Takes an ignored transaction back into reconciliation; the engine reconsiders it at
    /// once, and no keyword rule ignores it again.
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn restore_transaction(
        &self,
        ctx: &Context<'_>,
        input: RestoreTransactionInput,
    ) -> GqlResult<RestoreTransactionPayload> {
        let p = ctx.principal()?;
        let t = id_or!(
            transaction_id(&input.transaction_id),
            RestoreTransactionPayload
        );
        let done = manual::restore(ctx.store()?, p.organization_id, &p.actor(), t).await?;
        Ok(match done {
            Ok(t) => RestoreTransactionPayload {
                transaction: Some(t.into()),
                user_errors: vec![],
            },
            Err(r) => RestoreTransactionPayload {
                transaction: None,
                user_errors: vec![r.into()],
            },
        })
    }
}
