//! Owns bank accounts as rows, one aggregate: reading them for the API, upserting what Ponto
//! reports (by Ponto id, so a re-import changes nothing), their status (here), and their read
//! and sync bookkeeping, problems and re-authorization window (`slots`).

mod slots;

use crate::domain::ids::{AccountId, ConnectionId, OrganizationId};
use crate::domain::money::{Currency, Money};
use crate::domain::status::AccountStatus;
use crate::error::{AppError, AppResult};
use crate::store::page::{self, Page, PageArgs};
use crate::store::{Store, WriteTx};
use crate::store::{find_ids_in, find_in, update_in};
use chrono::{DateTime, Utc};
use entity::bank_account;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, IntoActiveModel, QueryFilter};
use std::collections::HashMap;

/// A read that failed: its stable error code, the words shown for it, and when it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFailure {
    pub code: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// A bank account as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub connection_id: Option<ConnectionId>,
    pub ponto_id: String,
    pub reference: Option<String>,
    pub reference_type: Option<String>,
    pub currency: Currency,
    pub description: Option<String>,
    pub holder_name: Option<String>,
    pub product: Option<String>,
    pub subtype: Option<String>,
    pub financial_institution_id: Option<String>,
    pub current_balance: Option<Money>,
    pub current_balance_reference_date: Option<DateTime<Utc>>,
    pub available_balance: Option<Money>,
    pub available_balance_reference_date: Option<DateTime<Utc>>,
    pub authorized_at: Option<DateTime<Utc>>,
    pub authorization_expires_at: Option<DateTime<Utc>>,
    pub availability: Option<String>,
    pub status: AccountStatus,
    pub problems: Vec<String>,
    pub last_synced_at: Option<DateTime<Utc>>,
    /// When Ponto last reached the bank for the account (a synchronization without change
    /// says so too); independent of our own imports.
    pub bank_synchronized_at: Option<DateTime<Utc>>,
    /// Why the last read of the account's transactions failed; `None` after one succeeded.
    pub last_read_error: Option<ReadFailure>,
    pub next_sync_allowed_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub(crate) fn parse_currency(code: &str) -> AppResult<Currency> {
    Currency::parse(code).map_err(|e| AppError::internal(format!("stored currency: {e}")))
}

pub(crate) fn parse_problems(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl TryFrom<bank_account::Model> for Account {
    type Error = AppError;
    fn try_from(m: bank_account::Model) -> AppResult<Self> {
        let currency = parse_currency(&m.currency)?;
        Ok(Self {
            id: m.id.into(),
            connection_id: m.connection_id.map(Into::into),
            ponto_id: m.ponto_id,
            reference: m.reference,
            reference_type: m.reference_type,
            currency,
            description: m.description,
            holder_name: m.holder_name,
            product: m.product,
            subtype: m.subtype,
            financial_institution_id: m.financial_institution_id,
            current_balance: m.current_balance_minor.map(|v| Money::new(v, currency)),
            current_balance_reference_date: m.current_balance_reference_date,
            available_balance: m.available_balance_minor.map(|v| Money::new(v, currency)),
            available_balance_reference_date: m.available_balance_reference_date,
            authorized_at: m.authorized_at,
            authorization_expires_at: m.authorization_expires_at,
            availability: m.availability,
            status: AccountStatus::parse(&m.status).ok_or_else(|| {
                AppError::internal(format!(
                    "unknown account status {:?} in the database",
                    m.status
                ))
            })?,
            problems: parse_problems(&m.problems),
            last_synced_at: m.last_synced_at,
            bank_synchronized_at: m.bank_synchronized_at,
            // The three are written together by `finish_account_read`.
            last_read_error: match (
                m.last_read_error_code,
                m.last_read_error,
                m.last_read_error_at,
            ) {
                (Some(code), Some(message), Some(at)) => Some(ReadFailure { code, message, at }),
                _ => None,
            },
            next_sync_allowed_at: m.next_sync_allowed_at,
            revoked_at: m.revoked_at,
            created_at: m.created_at,
        })
    }
}

/// What Ponto says about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUpsert {
    pub ponto_id: String,
    pub reference: Option<String>,
    pub reference_type: Option<String>,
    pub currency: Currency,
    pub description: Option<String>,
    pub holder_name: Option<String>,
    pub product: Option<String>,
    pub subtype: Option<String>,
    pub financial_institution_id: Option<String>,
    pub current_balance_minor: Option<i64>,
    pub current_balance_reference_date: Option<DateTime<Utc>>,
    pub available_balance_minor: Option<i64>,
    pub available_balance_reference_date: Option<DateTime<Utc>>,
    pub authorized_at: Option<DateTime<Utc>>,
    pub authorization_expires_at: Option<DateTime<Utc>>,
    pub availability: Option<String>,
}

impl Store {
    pub async fn accounts(&self, org: OrganizationId, args: &PageArgs) -> AppResult<Page<Account>> {
        let select = find_in::<bank_account::Entity>(org);
        let page = page::fetch(self.conn(), select, None, bank_account::Column::Id, args).await?;
        page.try_map(Account::try_from)
    }

    /// Every account of the organization (a handful), oldest first.
    pub async fn accounts_of(&self, org: OrganizationId) -> AppResult<Vec<Account>> {
        use sea_orm::QueryOrder;
        find_in::<bank_account::Entity>(org)
            .order_by_asc(bank_account::Column::Id)
            .all(self.conn())
            .await?
            .into_iter()
            .map(Account::try_from)
            .collect()
    }

    /// The tenant's account with this Ponto id, if it has one.
    pub async fn account_by_ponto_id(
        &self,
        org: OrganizationId,
        ponto_id: &str,
    ) -> AppResult<Option<Account>> {
        find_in::<bank_account::Entity>(org)
            .filter(bank_account::Column::PontoId.eq(ponto_id))
            .one(self.conn())
            .await?
            .map(Account::try_from)
            .transpose()
    }

    pub async fn account(&self, org: OrganizationId, id: AccountId) -> AppResult<Option<Account>> {
        find_in::<bank_account::Entity>(org)
            .filter(bank_account::Column::Id.eq(id.0))
            .one(self.conn())
            .await?
            .map(Account::try_from)
            .transpose()
    }

    /// Accounts by id, in one statement (data loader).
    pub async fn accounts_by_ids(
        &self,
        org: OrganizationId,
        ids: &[AccountId],
    ) -> AppResult<HashMap<AccountId, Account>> {
        find_ids_in::<bank_account::Entity>(self.conn(), org, ids.iter().map(|i| i.0))
            .await?
            .into_iter()
            .map(|m| Account::try_from(m).map(|a| (a.id, a)))
            .collect()
    }
}

impl WriteTx {
    /// Inserts or updates an account by its Ponto id. Returns the account as it was before
    /// (`None` when new) and as it is now, so callers can announce what changed.
    pub async fn upsert_account(
        &mut self,
        org: OrganizationId,
        connection: Option<ConnectionId>,
        a: AccountUpsert,
    ) -> AppResult<(Option<Account>, Account)> {
        let now = self.now();
        let existing = find_in::<bank_account::Entity>(org)
            .filter(bank_account::Column::PontoId.eq(a.ponto_id.as_str()))
            .one(self.conn())
            .await?;
        let before = existing.clone().map(Account::try_from).transpose()?;
        let mut am = match existing {
            Some(m) => m.into_active_model(),
            None => bank_account::ActiveModel {
                id: Set(AccountId::new().0),
                organization_id: Set(org.0),
                status: Set(AccountStatus::Active.as_str().to_owned()),
                problems: Set("[]".to_owned()),
                last_synced_at: Set(None),
                last_read_error: Set(None),
                last_read_error_code: Set(None),
                last_read_error_at: Set(None),
                next_sync_allowed_at: Set(None),
                revoked_at: Set(None),
                created_at: Set(now),
                current_balance_changed_at: Set(None),
                available_balance_changed_at: Set(None),
                ..Default::default()
            },
        };
        if before
            .as_ref()
            .and_then(|b| b.current_balance.map(|m| m.minor))
            != a.current_balance_minor
        {
            am.current_balance_changed_at = Set(Some(now));
        }
        if before
            .as_ref()
            .and_then(|b| b.available_balance.map(|m| m.minor))
            != a.available_balance_minor
        {
            am.available_balance_changed_at = Set(Some(now));
        }
        // `set_ne` leaves equal values untouched, so an unchanged account is not written.
        am.connection_id.set_ne(connection.map(|c| c.0));
        am.ponto_id.set_ne(a.ponto_id);
        am.reference.set_ne(a.reference);
        am.reference_type.set_ne(a.reference_type);
        am.currency.set_ne(a.currency.code().to_owned());
        am.description.set_ne(a.description);
        am.holder_name.set_ne(a.holder_name);
        am.product.set_ne(a.product);
        am.subtype.set_ne(a.subtype);
        am.financial_institution_id
            .set_ne(a.financial_institution_id);
        am.current_balance_minor.set_ne(a.current_balance_minor);
        am.current_balance_reference_date
            .set_ne(a.current_balance_reference_date);
        am.available_balance_minor.set_ne(a.available_balance_minor);
        am.available_balance_reference_date
            .set_ne(a.available_balance_reference_date);
        am.authorized_at.set_ne(a.authorized_at);
        am.authorization_expires_at
            .set_ne(a.authorization_expires_at);
        am.availability.set_ne(a.availability);
        let model = match &before {
            Some(b) if !am.is_changed() => return Ok((Some(b.clone()), b.clone())),
            Some(_) => {
                am.updated_at = Set(now);
                am.update(self.conn()).await?
            }
            None => {
                am.updated_at = Set(now);
                am.insert(self.conn()).await?
            }
        };
        Ok((before, Account::try_from(model)?))
    }
}

impl WriteTx {
    pub async fn set_account_status(
        &mut self,
        org: OrganizationId,
        account: AccountId,
        status: AccountStatus,
        revoked_at: Option<DateTime<Utc>>,
    ) -> AppResult<()> {
        let now = self.now();
        let status = status.as_str();
        update_in::<bank_account::Entity>(org)
            .col_expr(bank_account::Column::Status, status.into())
            .col_expr(bank_account::Column::RevokedAt, revoked_at.into())
            .col_expr(bank_account::Column::UpdatedAt, now.into())
            .filter(bank_account::Column::Id.eq(account.0))
            .filter(bank_account::Column::Status.ne(status))
            .exec(self.conn())
            .await?;
        Ok(())
    }
}
