//! Owns bank transactions in the API: the `BankTransaction` type, its filters and the
//! `transactions` listing.

use super::bank::{BankAccount, decode_account_id, load_account};
use super::errors::GqlResult;
use super::loaders::MatchesOf;
use super::matches::PaymentMatchGql;
use super::scalars::{Date, Decimal, Money, connection};
use super::{ContextExt, RequireScope, ids};
use crate::domain::money::MAX_AMOUNT;
use crate::domain::scope::Scope;
use crate::domain::transaction::{Direction, TransactionStatus};
use crate::error::AppError;
use crate::store::page::{Cursor, PageArgs};
use crate::store::transactions::{Transaction, TransactionFilter};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object};
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
#[graphql(name = "Direction", remote = "crate::domain::transaction::Direction")]
pub enum DirectionGql {
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
    pub direction: Option<DirectionGql>,
    pub status: Option<BankTransactionStatus>,
    /// Text contained in the counterparty name or the remittance information (any case).
    pub text: Option<String>,
    /// Only transactions with (true) or without (false) a live payment match.
    pub matched: Option<bool>,
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
            direction: self.direction.map(Direction::from),
            status: self.status.map(TransactionStatus::from),
            text: self.text,
            matched: self.matched,
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
        BankTransaction,
    ))
}

/// A booked or pending bank transaction as reported by Ponto.
pub struct BankTransaction(pub Transaction);

#[Object]
impl BankTransaction {
    pub async fn id(&self) -> ID {
        ID(ids::encode(TRANSACTION_TYPE, self.0.id.0))
    }
    async fn account(&self, ctx: &Context<'_>) -> GqlResult<Option<BankAccount>> {
        Ok(load_account(ctx, self.0.account_id).await?.map(BankAccount))
    }
    async fn status(&self) -> BankTransactionStatus {
        self.0.status.into()
    }
    /// Signed: positive is money in, negative money out.
    async fn amount(&self) -> Money {
        self.0.amount.into()
    }
    async fn counterpart_name(&self) -> Option<&str> {
        self.0.counterpart_name.as_deref()
    }
    /// The counterparty's account number, usually an IBAN.
    async fn counterpart_reference(&self) -> Option<&str> {
        self.0.counterpart_reference.as_deref()
    }
    async fn remittance_information(&self) -> Option<&str> {
        self.0.remittance_information.as_deref()
    }
    /// `structured` or `unstructured`.
    async fn remittance_information_type(&self) -> Option<&str> {
        self.0.remittance_information_type.as_deref()
    }
    /// The structured reference found in the remittance, normalized.
    async fn structured_reference(&self) -> Option<&str> {
        self.0.structured_reference.as_deref()
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn execution_date(&self) -> Option<Date> {
        self.0.execution_date.map(Date)
    }
    async fn value_date(&self) -> Option<Date> {
        self.0.value_date.map(Date)
    }
    async fn bank_transaction_code(&self) -> Option<&str> {
        self.0.bank_transaction_code.as_deref()
    }
    async fn end_to_end_id(&self) -> Option<&str> {
        self.0.end_to_end_id.as_deref()
    }
    /// When the bank stopped reporting it (it is kept, never deleted).
    async fn removed_at(&self) -> Option<DateTime<Utc>> {
        self.0.removed_at
    }
    /// The booked transaction that replaced this pending one.
    async fn superseded_by(&self) -> Option<ID> {
        self.0
            .superseded_by
            .map(|t| ID(ids::encode(TRANSACTION_TYPE, t.0)))
    }
    async fn ignored_at(&self) -> Option<DateTime<Utc>> {
        self.0.ignored_at
    }
    async fn ignored_reason(&self) -> Option<&str> {
        self.0.ignored_reason.as_deref()
    }
    /// Allocations of this transaction to invoices, reversed ones included.
    async fn matches(&self, ctx: &Context<'_>) -> GqlResult<Vec<PaymentMatchGql>> {
        let found = ctx
            .loaders()?
            .loader
            .load_one(MatchesOf::Transaction(self.0.id))
            .await?;
        Ok(found
            .unwrap_or_default()
            .into_iter()
            .map(PaymentMatchGql)
            .collect())
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
