//! Owns the bank side of the API: the Ponto connection with its problems, and bank accounts
//! with balances and authorization state.

use super::errors::{GqlError, GqlResult};

use super::scalars::{Money, connection};
use super::transactions::{BankTransaction, TransactionFilterInput};
use super::{ContextExt, RequireScope, ids};
use crate::domain::ids::AccountId;
use crate::domain::problem::Problem;
use crate::domain::scope::Scope;
use crate::error::AppError;
use crate::store::accounts::Account;
use crate::store::connection::Connection as StoreConnection;
use crate::store::page::{Cursor, PageArgs};
use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

pub const ACCOUNT_TYPE: &str = "BankAccount";

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::status::ConnectionStatus")]
pub enum PontoConnectionStatus {
    /// Ponto was never linked.
    NotConnected,
    Connected,
    /// The link exists but does not work (see `problems`).
    Broken,
    /// Unlinked on request (`disconnectPonto`); data is kept.
    Disconnected,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::problem::Problem")]
pub enum ProblemCode {
    ConnectionBroken,
    NoAccountsActivated,
    ReauthorizationRequired,
    ReauthorizationExpiring,
}

/// Something the user must fix, with the message to show and the way out.
#[derive(SimpleObject, Clone)]
pub struct BankProblem {
    pub code: ProblemCode,
    pub message: String,
    pub fix: String,
}

fn problems(codes: &[String]) -> Vec<BankProblem> {
    codes
        .iter()
        .filter_map(|c| Problem::parse(c))
        .map(|p| BankProblem {
            code: p.into(),
            message: p.message().to_owned(),
            fix: p.fix().to_owned(),
        })
        .collect()
}

/// The organization's link to Ponto.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct PontoConnection {
    pub status: PontoConnectionStatus,
    pub problems: Vec<BankProblem>,
    pub connected_at: Option<DateTime<Utc>>,
    pub broken_at: Option<DateTime<Utc>>,
    pub disconnected_at: Option<DateTime<Utc>>,
    /// When our last read of what Ponto holds (accounts, balances, transactions) ended.
    pub last_read_at: Option<DateTime<Utc>>,
    /// When the next scheduled read is due.
    pub next_read_at: Option<DateTime<Utc>>,
    /// Why the last read of what Ponto holds failed; null when it succeeded (pinned).
    pub last_read_error: Option<ReadError>,
}

/// A read of Ponto's data that failed: it is retried at the next read.
#[derive(SimpleObject)]
pub struct ReadError {
    /// Stable code (`UPSTREAM_UNAVAILABLE` when Ponto or the bank could not be reached).
    pub code: String,
    pub message: String,
    /// When the read ended.
    pub at: DateTime<Utc>,
}

impl From<Option<StoreConnection>> for PontoConnection {
    fn from(c: Option<StoreConnection>) -> Self {
        let Some(c) = c else {
            return Self {
                status: PontoConnectionStatus::NotConnected,
                problems: vec![],
                connected_at: None,
                broken_at: None,
                disconnected_at: None,
                last_read_at: None,
                next_read_at: None,
                last_read_error: None,
            };
        };
        Self {
            status: c.status.into(),
            problems: problems(&c.problems),
            connected_at: c.connected_at,
            broken_at: c.broken_at,
            disconnected_at: c.disconnected_at,
            // Both are written by the same statement at the end of a read.
            last_read_error: c
                .last_read_error
                .zip(c.last_read_at)
                .map(|((code, message), at)| ReadError { code, message, at }),
            last_read_at: c.last_read_at,
            next_read_at: c.next_read_at,
        }
    }
}

#[ComplexObject]
impl PontoConnection {
    /// The accounts shared through Ponto (also those revoked since, with their history).
    #[graphql(complexity = "super::page_complexity(first, last, child_complexity)")]
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, BankAccount>> {
        list_accounts(ctx, first, after, last, before).await
    }
}

async fn list_accounts(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> GqlResult<Connection<String, BankAccount>> {
    let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?;
    let p = ctx.principal()?;
    let page = ctx.store()?.accounts(p.organization_id, &args).await?;
    Ok(connection(
        page,
        |a| Cursor {
            date: None,
            id: a.id.0,
        },
        BankAccount::from,
    ))
}

// A bank account shared through Ponto.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct BankAccount {
    pub id: ID,
    /// The account number, usually an IBAN.
    reference: Option<String>,
    /// `IBAN`, or another scheme Ponto reports.
    reference_type: Option<String>,
    currency: String,
    description: Option<String>,
    holder_name: Option<String>,
    product: Option<String>,
    /// `checking`, `savings`, `card`…
    subtype: Option<String>,
    current_balance: Option<Money>,
    current_balance_reference_date: Option<DateTime<Utc>>,
    available_balance: Option<Money>,
    available_balance_reference_date: Option<DateTime<Utc>>,
    /// When the customer last authorized access at the bank.
    authorized_at: Option<DateTime<Utc>>,
    /// When that authorization is expected to expire (PSD2 consent, 90–180 days).
    authorization_expires_at: Option<DateTime<Utc>>,
    /// Ponto's availability of the account's data (`available`, `unavailable`…).
    availability: Option<String>,
    /// `ACTIVE` or `REVOKED`.
    status: String,
    problems: Vec<BankProblem>,
    /// When this account's transactions were last read from Ponto completely (null until its
    /// first import completed).
    last_synced_at: Option<DateTime<Utc>>,
    /// When Ponto last reached the bank for this account, as its webhooks report it (also when
    /// nothing changed); null until Ponto told us.
    bank_synchronized_at: Option<DateTime<Utc>>,
    /// From when `syncNow` may ask Ponto to refresh this account again.
    next_sync_allowed_at: Option<DateTime<Utc>>,
    /// Why the last read of this account's data failed (at Ponto, or Ponto's last
    /// synchronization with the bank); null once a read succeeds (pinned). An account that
    /// fails does not keep the organization's other accounts from being read.
    last_read_error: Option<ReadError>,
    #[graphql(skip)]
    account_id: AccountId,
}

impl From<Account> for BankAccount {
    fn from(a: Account) -> Self {
        Self {
            id: ID(ids::encode(ACCOUNT_TYPE, a.id.0)),
            currency: a.currency.code().to_owned(),
            current_balance: a.current_balance.map(Money::from),
            available_balance: a.available_balance.map(Money::from),
            status: a.status.as_str().to_owned(),
            problems: problems(&a.problems),
            account_id: a.id,
            reference: a.reference,
            reference_type: a.reference_type,
            description: a.description,
            holder_name: a.holder_name,
            product: a.product,
            subtype: a.subtype,
            current_balance_reference_date: a.current_balance_reference_date,
            available_balance_reference_date: a.available_balance_reference_date,
            authorized_at: a.authorized_at,
            authorization_expires_at: a.authorization_expires_at,
            availability: a.availability,
            last_synced_at: a.last_synced_at,
            bank_synchronized_at: a.bank_synchronized_at,
            next_sync_allowed_at: a.next_sync_allowed_at,
            last_read_error: a.last_read_error.map(|f| ReadError {
                code: f.code,
                message: f.message,
                at: f.at,
            }),
        }
    }
}

#[ComplexObject]
impl BankAccount {
    /// This account's transactions, newest first.
    #[graphql(complexity = "super::page_complexity(first, last, child_complexity)")]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        filter: Option<TransactionFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, BankTransaction>> {
        let mut filter = filter.unwrap_or_default().into_store()?;
        filter.account_id = Some(self.account_id);
        super::transactions::list(ctx, filter, first, after, last, before).await
    }
}

pub fn decode_account_id(id: &ID) -> GqlResult<AccountId> {
    ids::decode_as(ACCOUNT_TYPE, id)
        .map(AccountId)
        .ok_or_else(|| GqlError::from(AppError::not_found("bank account")))
}

/// Loads an account of the caller's organization through the request's loader.
pub async fn load_account(ctx: &Context<'_>, id: AccountId) -> GqlResult<Option<Account>> {
    ctx.loaders()?.loader.load_one(id).await
}

#[derive(Default)]
pub struct BankQuery;

#[Object]
impl BankQuery {
    /// The organization's link to Ponto: status, problems and accounts.
    #[graphql(guard = "RequireScope(Scope::Read)")]
    async fn ponto_connection(&self, ctx: &Context<'_>) -> GqlResult<PontoConnection> {
        let p = ctx.principal()?;
        Ok(ctx.store()?.connection(p.organization_id).await?.into())
    }

    /// Every bank account of the organization.
    #[graphql(
        guard = "RequireScope(Scope::Read)",
        complexity = "super::page_complexity(first, last, child_complexity)"
    )]
    async fn bank_accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, BankAccount>> {
        list_accounts(ctx, first, after, last, before).await
    }

    /// One bank account (NOT_FOUND when it is not the organization's).
    #[graphql(guard = "RequireScope(Scope::Read)")]
    async fn bank_account(&self, ctx: &Context<'_>, id: ID) -> GqlResult<BankAccount> {
        let id = decode_account_id(&id)?;
        load_account(ctx, id)
            .await?
            .map(BankAccount::from)
            .ok_or_else(|| AppError::not_found("bank account").into())
    }
}
