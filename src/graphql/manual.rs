//! Owns the mutations a person uses to steer reconciliation of single items: `matchTransaction`,
//! `unmatchTransaction`, `dismissSuggestion`, `ignoreTransaction`, `restoreTransaction` (names
//! pinned), each one `input` in and a payload with `userErrors` out, translated to and from
//! `reconcile::manual`.

use super::errors::GqlResult;
use super::invoices::{INVOICE_TYPE, Invoice};
use super::matches::{MATCH_TYPE, PaymentMatch};
use super::scalars::{Decimal, UserError, answer, id_or_refuse, input_id, payloads};
use super::transactions::{BankTransaction, TRANSACTION_TYPE};
use super::{ContextExt, RequireScope};
use crate::domain::ids::{InvoiceId, MatchId, TransactionId};
use crate::domain::input::Refusal;
use crate::domain::scope::Scope;
use crate::reconcile::manual;
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

payloads!(
    MatchTransactionPayload,
    UnmatchTransactionPayload,
    DismissSuggestionPayload,
    IgnoreTransactionPayload,
    RestoreTransactionPayload,
);

fn transaction_id(id: &ID) -> Result<TransactionId, Refusal> {
    input_id(
        TRANSACTION_TYPE,
        id,
        "transactionId",
        "transaction",
        TransactionId,
    )
}

fn invoice_id(id: &ID) -> Result<InvoiceId, Refusal> {
    input_id(INVOICE_TYPE, id, "invoiceId", "invoice", InvoiceId)
}

/// A reason as given, without surrounding blanks; none when blank.
fn reason(r: &Option<String>) -> Option<&str> {
    r.as_deref().map(str::trim).filter(|r| !r.is_empty())
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
        let t = id_or_refuse!(transaction_id(&input.transaction_id));
        let i = id_or_refuse!(invoice_id(&input.invoice_id));
        let amount = input.amount.map(|d| d.0);
        let done =
            manual::match_transaction(ctx.store()?, p.organization_id, &p.actor(), t, i, amount)
                .await?;
        Ok(answer(done, |m| MatchTransactionPayload {
            payment_match: Some(m.payment_match.into()),
            invoice: Some(m.invoice.into()),
            transaction: Some(m.transaction.into()),
            user_errors: vec![],
        }))
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
        let id = id_or_refuse!(input_id(
            MATCH_TYPE,
            &input.match_id,
            "matchId",
            "match",
            MatchId
        ));
        let reason = reason(&input.reason);
        let done = manual::unmatch(ctx.store()?, p.organization_id, &p.actor(), id, reason).await?;
        Ok(answer(done, |m| UnmatchTransactionPayload {
            payment_match: Some(m.payment_match.into()),
            invoice: Some(m.invoice.into()),
            transaction: Some(m.transaction.into()),
            user_errors: vec![],
        }))
    }

    /// Sets a suggestion aside for good: it is not suggested again.
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn dismiss_suggestion(
        &self,
        ctx: &Context<'_>,
        input: DismissSuggestionInput,
    ) -> GqlResult<DismissSuggestionPayload> {
        let p = ctx.principal()?;
        let t = id_or_refuse!(transaction_id(&input.transaction_id));
        let i = id_or_refuse!(invoice_id(&input.invoice_id));
        let done = manual::dismiss(ctx.store()?, p.organization_id, &p.actor(), t, i).await?;
        Ok(answer(done, |(t, i)| DismissSuggestionPayload {
            invoice: Some(i.into()),
            transaction: Some(t.into()),
            user_errors: vec![],
        }))
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
        let t = id_or_refuse!(transaction_id(&input.transaction_id));
        let reason = reason(&input.reason);
        let done = manual::ignore(ctx.store()?, p.organization_id, &p.actor(), t, reason).await?;
        Ok(answer(done, |t| IgnoreTransactionPayload {
            transaction: Some(t.into()),
            user_errors: vec![],
        }))
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
        let t = id_or_refuse!(transaction_id(&input.transaction_id));
        let done = manual::restore(ctx.store()?, p.organization_id, &p.actor(), t).await?;
        Ok(answer(done, |t| RestoreTransactionPayload {
            transaction: Some(t.into()),
            user_errors: vec![],
        }))
    }
}
