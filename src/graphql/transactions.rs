//! Owns bank transactions in the API: the `BankTransaction` type, its filters and the
//! `transactions` listing.

use super::bank::{BankAccount, decode_account_id};
use super::errors::GqlResult;
use super::loaders::{MatchesOf, SuggestionsOf};
use super::matches::PaymentMatch;
use super::related::Related;
use super::scalars::{Date, Decimal, Money, connection};
use super::suggestions::MatchSuggestion;
use super::{ContextExt, RequireScope, ids};
use crate::domain::ids::{AccountId, TransactionId};
use crate::domain::money::MAX_AMOUNT;
use crate::domain::money::Money as DomainMoney;
use crate::domain::scope::Scope;
use crate::domain::transaction::TransactionStatus;
use crate::error::AppError;
use crate::store::page::{Cursor, PageArgs};
use crate::store::transactions::{Transaction, TransactionFilter};
use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

pub const TRANSACTION_TYPE: &str = "BankTransaction";

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::transaction::TransactionStatus")]
pub enum BankTransactionStatus {
    /// Settled by the bank.
    Booked,
    /// Announced, not settled; never pays an invoice.
    Pending,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::transaction::Direction")]
pub enum Direction {
    /// Money in (positive amount).
    Incoming,
    /// Money out (negative amount).
    Outgoing,
}

/// Filters of `transactions`; all optional, combined with AND.
#[derive(InputObject, Default)]
pub struct TransactionFilterInput {
    /// Only this account's transactions.
    pub account_id: Option<ID>,
    /// Booking date (value date, else execution date) on or after.
    pub date_from: Option<Date>,
    /// Booking date on or before.
    pub date_to: Option<Date>,
    /// Absolute amount at least this much (combine with `direction` for a sign).
    pub amount_min: Option<Decimal>,
    /// Absolute amount at most this much.
    pub amount_max: Option<Decimal>,
    pub direction: Option<Direction>,
    pub status: Option<BankTransactionStatus>,
    /// Text contained in the counterparty name or the remittance information (any case).
    pub text: Option<String>,
    /// Only transactions with (true) or without (false) a live payment match.
    pub matched: Option<bool>,
    /// Only booked, not ignored transactions with an amount left to allocate (true), or only
    /// the others (false): the list a bookkeeper works through.
    pub unallocated: Option<bool>,
    /// Only ignored (true) or not ignored (false) transactions.
    pub ignored: Option<bool>,
    /// Also list transactions the bank removed or that were superseded. Default false.
    pub include_removed: Option<bool>,
}

impl TransactionFilterInput {
    pub fn into_store(self) -> GqlResult<TransactionFilter> {
        if let Some(text) = &self.text
            && text.len() > 200
        {
            return Err(AppError::bad_input("`text` is at most 200 characters").into());
        }
        Ok(TransactionFilter {
            account_id: self
                .account_id
                .as_ref()
                .map(decode_account_id)
                .transpose()?,
            date_from: self.date_from.map(|d| d.0),
            date_to: self.date_to.map(|d| d.0),
            amount_min: amount_bound(self.amount_min, "amountMin")?,
            amount_max: amount_bound(self.amount_max, "amountMax")?,
            direction: self
                .direction
                .map(crate::domain::transaction::Direction::from),
            status: self.status.map(TransactionStatus::from),
            text: self.text,
            matched: self.matched,
            unallocated: self.unallocated,
            ignored: self.ignored,
            include_removed: self.include_removed.unwrap_or(false),
        })
    }
}

/// An absolute amount bound: not negative, at most [`MAX_AMOUNT`].
fn amount_bound(bound: Option<Decimal>, field: &str) -> GqlResult<Option<rust_decimal::Decimal>> {
    let Some(Decimal(d)) = bound else {
        return Ok(None);
    };
    if (d.is_sign_negative() && !d.is_zero()) || d > MAX_AMOUNT {
        return Err(AppError::BadUserInput {
            message: format!("`{field}` is an absolute amount between 0 and {MAX_AMOUNT}"),
            field: Some(vec!["filter".into(), field.into()]),
        }
        .into());
    }
    Ok(Some(d))
}

pub async fn list(
    ctx: &Context<'_>,
    filter: TransactionFilter,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> GqlResult<Connection<String, BankTransaction>> {
    let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?;
    let p = ctx.principal()?;
    let page = ctx
        .store()?
        .transactions(p.organization_id, &filter, &args)
        .await?;
    ctx.loaders()?
        .prefetch_transactions(&ctx.look_ahead(), &page.items)
        .await?;
    Ok(connection(
        page,
        |t| Cursor {
            date: Some(t.sort_date),
            id: t.id.0,
        },
        BankTransaction::from,
    ))
}

// A booked or pending bank transaction as reported by Ponto.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct BankTransaction {
    pub id: ID,
    account: Related<AccountId, Option<BankAccount>>,
    status: BankTransactionStatus,
    /// Signed: positive is money in, negative money out.
    amount: Money,
    counterpart_name: Option<String>,
    /// The counterparty's account number, usually an IBAN.
    counterpart_reference: Option<String>,
    remittance_information: Option<String>,
    /// `structured` or `unstructured`.
    remittance_information_type: Option<String>,
    /// The structured reference found in the remittance, normalized.
    structured_reference: Option<String>,
    description: Option<String>,
    execution_date: Option<Date>,
    value_date: Option<Date>,
    bank_transaction_code: Option<String>,
    end_to_end_id: Option<String>,
    /// When the bank stopped reporting it (it is kept, never deleted).
    removed_at: Option<DateTime<Utc>>,
    /// The booked transaction that replaced this pending one.
    superseded_by: Option<ID>,
    /// Set aside as not invoice-related (by a person or a keyword rule): reconciliation leaves
    /// it alone until it is restored.
    ignored: bool,
    ignored_at: Option<DateTime<Utc>>,
    ignored_reason: Option<String>,
    /// Who set it aside: the person, or the author of the keyword rule.
    ignored_by: Option<String>,
    /// Allocations of this transaction to invoices, reversed ones included.
    matches: Related<MatchesOf, Vec<PaymentMatch>>,
    /// Invoices it likely pays that the engine did not match on its own, most confident first.
    suggestions: Related<SuggestionsOf, Vec<MatchSuggestion>>,
    #[graphql(skip)]
    record: (TransactionId, DomainMoney),
}

#[ComplexObject]
impl BankTransaction {
    /// What is left to allocate: the amount (absolute) less its live matches.
    async fn unallocated_amount(&self, ctx: &Context<'_>) -> GqlResult<Money> {
        let (id, amount) = self.record;
        let matches = ctx
            .loaders()?
            .loader
            .load_one(MatchesOf::Transaction(id))
            .await?
            .unwrap_or_default();
        let overflow = || AppError::internal("a transaction's matches overflowed 64 bits");
        let allocated = matches
            .iter()
            .filter(|m| m.reversed_at.is_none())
            .try_fold(0i64, |s, m| s.checked_add(m.amount.minor))
            .ok_or_else(overflow)?;
        let left = amount
            .minor
            .checked_abs()
            .and_then(|a| a.checked_sub(allocated))
            .ok_or_else(overflow)?
            .max(0);
        Ok(DomainMoney::new(left, amount.currency).into())
    }
}

impl From<Transaction> for BankTransaction {
    fn from(t: Transaction) -> Self {
        Self {
            id: ID(ids::encode(TRANSACTION_TYPE, t.id.0)),
            account: Related::new(t.account_id),
            status: t.status.into(),
            amount: t.amount.into(),
            execution_date: t.execution_date.map(Date),
            value_date: t.value_date.map(Date),
            superseded_by: t
                .superseded_by
                .map(|s| ID(ids::encode(TRANSACTION_TYPE, s.0))),
            matches: Related::new(MatchesOf::Transaction(t.id)),
            suggestions: Related::new(SuggestionsOf::Transaction(t.id)),
            record: (t.id, t.amount),
            ignored: t.ignored_at.is_some(),
            ignored_by: t.ignored_by,
            counterpart_name: t.counterpart_name,
            counterpart_reference: t.counterpart_reference,
            remittance_information: t.remittance_information,
            remittance_information_type: t.remittance_information_type,
            structured_reference: t.structured_reference,
            description: t.description,
            bank_transaction_code: t.bank_transaction_code,
            end_to_end_id: t.end_to_end_id,
            removed_at: t.removed_at,
            ignored_at: t.ignored_at,
            ignored_reason: t.ignored_reason,
        }
    }
}

#[derive(Default)]
pub struct TransactionsQuery;

#[Object]
impl TransactionsQuery {
    /// The organization's bank transactions, newest booking date first.
    #[graphql(
        guard = "RequireScope(Scope::Read)",
        complexity = "super::page_complexity(first, last, child_complexity)"
    )]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        filter: Option<TransactionFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, BankTransaction>> {
        list(
            ctx,
            filter.unwrap_or_default().into_store()?,
            first,
            after,
            last,
            before,
        )
        .await
    }
}
