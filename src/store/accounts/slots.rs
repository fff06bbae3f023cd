//! Owns an account's bookkeeping as rows: the `syncNow` slot, the result of reading its
//! transactions, its problems, and the window counting Ponto re-authorization requests.

use crate::domain::ids::{AccountId, OrganizationId};
use crate::error::AppResult;
use crate::store::{Store, WriteTx, find_in, stmt, update_in};
use chrono::{DateTime, Utc};
use entity::bank_account;
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QuerySelect};

impl Store {
    /// Claims the per-account `syncNow` slot until `until`; `Err(next)` when it is taken.
    pub async fn claim_sync_slot(
        &self,
        org: OrganizationId,
        account: AccountId,
        until: DateTime<Utc>,
    ) -> AppResult<Result<(), DateTime<Utc>>> {
        use bank_account::Column as C;
        let now = self.clock().now();
        let n = update_in::<bank_account::Entity>(org)
            .col_expr(C::NextSyncAllowedAt, Some(until).into())
            .filter(C::Id.eq(account.0))
            .filter(
                sea_orm::Condition::any()
                    .add(C::NextSyncAllowedAt.is_null())
                    .add(C::NextSyncAllowedAt.lte(now)),
            )
            .exec(self.conn())
            .await?
            .rows_affected;
        if n == 1 {
            return Ok(Ok(()));
        }
        let next: Option<Option<DateTime<Utc>>> = find_in::<bank_account::Entity>(org)
            .filter(bank_account::Column::Id.eq(account.0))
            .select_only()
            .column(bank_account::Column::NextSyncAllowedAt)
            .into_tuple()
            .one(self.conn())
            .await?;
        Ok(Err(next.flatten().unwrap_or(now)))
    }

    /// Gives a `syncNow` slot back (nothing was asked of Ponto).
    pub async fn reset_sync_slot(&self, org: OrganizationId, account: AccountId) -> AppResult<()> {
        update_in::<bank_account::Entity>(org)
            .col_expr(
                bank_account::Column::NextSyncAllowedAt,
                Option::<DateTime<Utc>>::None.into(),
            )
            .filter(bank_account::Column::Id.eq(account.0))
            .exec(self.conn())
            .await?;
        Ok(())
    }

    /// Records how reading an account's transactions ended: `Ok(at)` sets `last_synced_at`
    /// (which also marks its first import complete) and clears the error; `Err((code, words))`
    /// keeps the time and records why, and when (now).
    pub async fn finish_account_read(
        &self,
        org: OrganizationId,
        account: AccountId,
        outcome: Result<DateTime<Utc>, (&str, &str)>,
    ) -> AppResult<()> {
        let q =
            update_in::<bank_account::Entity>(org).filter(bank_account::Column::Id.eq(account.0));
        let (q, error) = match outcome {
            Ok(at) => (
                q.col_expr(bank_account::Column::LastSyncedAt, Some(at).into()),
                (None, None, None),
            ),
            Err((code, words)) => (
                q,
                (
                    Some(code.to_owned()),
                    Some(words.to_owned()),
                    Some(self.clock().now()),
                ),
            ),
        };
        q.col_expr(bank_account::Column::LastReadErrorCode, error.0.into())
            .col_expr(bank_account::Column::LastReadError, error.1.into())
            .col_expr(bank_account::Column::LastReadErrorAt, error.2.into())
            .exec(self.conn())
            .await?;
        Ok(())
    }

    /// Claims one Ponto re-authorization request for an account: at most `limit` per `window`,
    /// counted on the account row by one conditional update, so instances and concurrent opens
    /// agree. `Err(when)` tells when the window ends.
    pub async fn claim_reauthorization(
        &self,
        org: OrganizationId,
        account: AccountId,
        window: chrono::Duration,
        limit: i32,
    ) -> AppResult<Result<(), DateTime<Utc>>> {
        let now = self.clock().now();
        let cutoff = now - window;
        let n = self
            .conn()
            .execute_raw(stmt(
                self.backend(),
                "UPDATE bank_account SET \
                   reauth_window_count = CASE WHEN reauth_window_started_at IS NULL OR reauth_window_started_at <= $1 THEN 1 ELSE reauth_window_count + 1 END, \
                   reauth_window_started_at = CASE WHEN reauth_window_started_at IS NULL OR reauth_window_started_at <= $1 THEN $2 ELSE reauth_window_started_at END \
                 WHERE id = $3 AND organization_id = $4 \
                   AND (reauth_window_started_at IS NULL OR reauth_window_started_at <= $1 OR reauth_window_count < $5)",
                [cutoff.into(), now.into(), account.0.into(), org.0.into(), limit.into()],
            ))
            .await?
            .rows_affected();
        if n == 1 {
            return Ok(Ok(()));
        }
        let started: Option<Option<DateTime<Utc>>> = find_in::<bank_account::Entity>(org)
            .filter(bank_account::Column::Id.eq(account.0))
            .select_only()
            .column(bank_account::Column::ReauthWindowStartedAt)
            .into_tuple()
            .one(self.conn())
            .await?;
        Ok(Err(started.flatten().map_or(now, |s| s + window)))
    }
}

impl WriteTx {
    /// Sets an account's problem codes.
    pub async fn set_account_problems(
        &mut self,
        org: OrganizationId,
        account: AccountId,
        problems: &[String],
    ) -> AppResult<()> {
        update_in::<bank_account::Entity>(org)
            .col_expr(
                bank_account::Column::Problems,
                serde_json::to_string(problems).expect("strings").into(),
            )
            .filter(bank_account::Column::Id.eq(account.0))
            .exec(self.conn())
            .await?;
        Ok(())
    }
}

impl Store {
    /// Claims the account's pull lease for `owner` until `until`; `false` while another holder's
    /// lease lasts. A read and a webhook's pull of one account take it in turn.
    pub async fn claim_pull_lease(
        &self,
        org: OrganizationId,
        account: AccountId,
        owner: &str,
        until: DateTime<Utc>,
    ) -> AppResult<bool> {
        use bank_account::Column as C;
        let now = self.clock().now();
        let n = update_in::<bank_account::Entity>(org)
            .col_expr(C::PullLeaseOwner, Some(owner.to_owned()).into())
            .col_expr(C::PullLeaseUntil, Some(until).into())
            .filter(C::Id.eq(account.0))
            .filter(
                sea_orm::Condition::any()
                    .add(C::PullLeaseUntil.is_null())
                    .add(C::PullLeaseUntil.lt(now)),
            )
            .exec(self.conn())
            .await?
            .rows_affected;
        Ok(n == 1)
    }

    /// Extends `owner`'s lease to `until`, if it still holds it.
    pub async fn renew_pull_lease(
        &self,
        org: OrganizationId,
        account: AccountId,
        owner: &str,
        until: DateTime<Utc>,
    ) -> AppResult<()> {
        use bank_account::Column as C;
        update_in::<bank_account::Entity>(org)
            .col_expr(C::PullLeaseUntil, Some(until).into())
            .filter(C::Id.eq(account.0))
            .filter(C::PullLeaseOwner.eq(owner))
            .exec(self.conn())
            .await?;
        Ok(())
    }

    /// Gives the lease back, if `owner` still holds it.
    pub async fn release_pull_lease(
        &self,
        org: OrganizationId,
        account: AccountId,
        owner: &str,
    ) -> AppResult<()> {
        use bank_account::Column as C;
        update_in::<bank_account::Entity>(org)
            .col_expr(C::PullLeaseOwner, Option::<String>::None.into())
            .col_expr(C::PullLeaseUntil, Option::<DateTime<Utc>>::None.into())
            .filter(C::Id.eq(account.0))
            .filter(C::PullLeaseOwner.eq(owner))
            .exec(self.conn())
            .await?;
        Ok(())
    }

    /// Records that Ponto reached the bank at `at`, unless a later time is already known.
    pub async fn bank_synchronized(
        &self,
        org: OrganizationId,
        account: AccountId,
        at: DateTime<Utc>,
    ) -> AppResult<()> {
        use bank_account::Column as C;
        update_in::<bank_account::Entity>(org)
            .col_expr(C::BankSynchronizedAt, Some(at).into())
            .filter(C::Id.eq(account.0))
            .filter(
                sea_orm::Condition::any()
                    .add(C::BankSynchronizedAt.is_null())
                    .add(C::BankSynchronizedAt.lt(at)),
            )
            .exec(self.conn())
            .await?;
        Ok(())
    }
}
