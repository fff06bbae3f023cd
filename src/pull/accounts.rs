//! Owns recording the accounts Ponto lists: balances and authorization (with their events),
//! each account's re-authorization problem, accounts no longer shared, and the connection's
//! `NO_ACCOUNTS_ACTIVATED` problem — all in one transaction.

use super::problems::{authorization_problem, expiring_threshold};
use super::{Puller, Stop};
use crate::domain::event::{
    AccountAuthorizationData, AccountData, AuthorizationEvent, BalanceData, Event,
};
use crate::domain::ids::OrganizationId;
use crate::domain::problem::Problem;
use crate::domain::status::AccountStatus;
use crate::error::{AppError, AppResult};
use crate::ponto::model::{AccountAttributes, Resource};
use crate::store::WriteTx;
use crate::store::accounts::Account;

/// Whether Ponto's latest synchronization of the account failed because the bank refused the
/// consent (`meta.latestSynchronization`).
fn consent_refused(r: &Resource<AccountAttributes>) -> bool {
    let sync = r
        .meta
        .as_ref()
        .map(|m| &m["latestSynchronization"]["attributes"]);
    sync.is_some_and(|s| {
        s["status"] == "error"
            && s["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["code"] == "authorizationInvalid"))
    })
}

impl Puller {
    fn authorization_event(
        &self,
        org: OrganizationId,
        kind: AuthorizationEvent,
        a: &Account,
    ) -> Result<Event, AppError> {
        Ok(Event::account_authorization(
            kind,
            AccountAuthorizationData {
                account_id: a.id.to_string(),
                iban: a.reference.clone(),
                authorization_expires_at: a.authorization_expires_at,
                reauthorization_url: Some(self.connect.reauthorization_link(org, a.id)?),
            },
        ))
    }

    /// Records the accounts Ponto lists; returns them (the ones to import transactions for).
    pub(super) async fn record_accounts(
        &self,
        org: OrganizationId,
        listed: &[Resource<AccountAttributes>],
    ) -> Result<Vec<Account>, Stop> {
        let now = self.store.clock().now();
        let mut tx = self.store.begin_write().await?;
        // The event log before any account row (ARCHITECTURE invariant 5): a webhook's
        // `record_account` for one of these accounts must not wait on us the other way round.
        tx.lock_event_log(org).await?;
        let Some(conn) = tx.linked_connection(org).await? else {
            tx.rollback().await?;
            return Err(Stop::Broken);
        };
        let mut active = Vec::new();
        for r in listed {
            active.push(self.record_one(&mut tx, org, conn, r, false).await?);
        }
        let listed_ids: Vec<_> = active.iter().map(|a| a.id).collect();
        for a in self.store.accounts_of(org).await? {
            if a.status != AccountStatus::Revoked && !listed_ids.contains(&a.id) {
                self.revoke_one(&mut tx, org, &a, now).await?;
            }
        }
        let problems = if active.is_empty() {
            vec![Problem::NoAccountsActivated.code().to_owned()]
        } else {
            vec![]
        };
        tx.set_connection_health(org, problems).await?;
        tx.commit().await?;
        Ok(active)
    }

    /// Records one account Ponto reports (it is shared, so `ACTIVE`), with its problem and the
    /// events for what changed; `refused` when Ponto said the bank refused the consent.
    async fn record_one(
        &self,
        tx: &mut WriteTx,
        org: OrganizationId,
        conn: crate::domain::ids::ConnectionId,
        r: &Resource<AccountAttributes>,
        refused: bool,
    ) -> Result<Account, AppError> {
        let now = self.store.clock().now();
        let upsert = crate::connect::account_upsert(r)?;
        let (before, after) = tx.upsert_account(org, Some(conn), upsert).await?;
        if before
            .as_ref()
            .is_none_or(|b| b.status == AccountStatus::Revoked)
        {
            let added = Event::account_added(account_data(&after));
            let key = format!("bank_account.added:{}:{}", after.id, now.timestamp());
            tx.append_event(org, &added, Some(&key)).await?;
        }
        tx.set_account_status(org, after.id, AccountStatus::Active, None)
            .await?;
        // A deprecated account (or bank) can only come back through a new authorization.
        let refused = refused || consent_refused(r) || r.attributes.deprecated == Some(true);
        let problem = authorization_problem(after.authorization_expires_at, refused, now);
        self.announce(tx, org, before.as_ref(), &after, problem)
            .await?;
        let problems: Vec<String> = problem
            .map(|p| vec![p.code().to_owned()])
            .unwrap_or_default();
        tx.set_account_problems(org, after.id, &problems).await?;
        Ok(after)
    }

    /// Marks an account Ponto no longer shares as revoked (its history stays), announced once.
    async fn revoke_one(
        &self,
        tx: &mut WriteTx,
        org: OrganizationId,
        a: &Account,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), AppError> {
        tx.set_account_status(org, a.id, AccountStatus::Revoked, Some(now))
            .await?;
        let key = format!("bank_account.revoked:{}:{}", a.id, now.timestamp());
        tx.append_event(org, &Event::account_revoked(account_data(a)), Some(&key))
            .await?;
        Ok(())
    }

    /// Records the one account a webhook is about, as a read would (`refused` forces the
    /// re-authorization problem a failed synchronization reported).
    pub(super) async fn record_account(
        &self,
        org: OrganizationId,
        r: &Resource<AccountAttributes>,
        refused: bool,
    ) -> Result<Account, Stop> {
        let mut tx = self.store.begin_write().await?;
        tx.lock_event_log(org).await?;
        let Some(conn) = tx.linked_connection(org).await? else {
            tx.rollback().await?;
            return Err(Stop::Broken);
        };
        let after = self.record_one(&mut tx, org, conn, r, refused).await?;
        // The link has an account again: `NO_ACCOUNTS_ACTIVATED` no longer holds.
        tx.set_connection_health(org, vec![]).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Marks the account a webhook says was switched off as revoked, if it still is live here.
    pub(super) async fn revoke_account(&self, org: OrganizationId, a: &Account) -> AppResult<()> {
        if a.status == AccountStatus::Revoked {
            return Ok(());
        }
        let now = self.store.clock().now();
        let mut tx = self.store.begin_write().await?;
        tx.lock_event_log(org).await?;
        self.revoke_one(&mut tx, org, a, now).await?;
        let live = self
            .store
            .accounts_of(org)
            .await?
            .iter()
            .any(|o| o.id != a.id && o.status == AccountStatus::Active);
        let problems = if live {
            vec![]
        } else {
            vec![Problem::NoAccountsActivated.code().to_owned()]
        };
        tx.set_connection_health(org, problems).await?;
        tx.commit().await
    }

    /// Events for what changed on one account: balances, and its authorization problem.
    async fn announce(
        &self,
        tx: &mut WriteTx,
        org: OrganizationId,
        before: Option<&Account>,
        after: &Account,
        problem: Option<Problem>,
    ) -> Result<(), AppError> {
        if let Some(b) = before
            && (b.current_balance != after.current_balance
                || b.available_balance != after.available_balance)
        {
            let data = BalanceData {
                account_id: after.id.to_string(),
                iban: after.reference.clone(),
                currency: after.currency.code().to_owned(),
                current_balance: after.current_balance.map(|m| m.to_string()),
                available_balance: after.available_balance.map(|m| m.to_string()),
                reference_date: after.current_balance_reference_date,
            };
            tx.append_event(org, &Event::balance_updated(data), None)
                .await?;
        }
        let expiry = after
            .authorization_expires_at
            .map(|e| e.timestamp().to_string())
            .unwrap_or_else(|| "none".into());
        let now = self.store.clock().now();
        match problem {
            Some(Problem::ReauthorizationRequired) => {
                let e = self.authorization_event(org, AuthorizationEvent::Required, after)?;
                tx.append_event(
                    org,
                    &e,
                    Some(&format!("reauthorization_required:{}:{expiry}", after.id)),
                )
                .await?;
            }
            Some(Problem::ReauthorizationExpiring) => {
                if let Some(days) = after
                    .authorization_expires_at
                    .and_then(|e| expiring_threshold(e, now))
                {
                    let e = self.authorization_event(org, AuthorizationEvent::Expiring, after)?;
                    tx.append_event(
                        org,
                        &e,
                        Some(&format!(
                            "reauthorization_expiring:{}:{expiry}:{days}",
                            after.id
                        )),
                    )
                    .await?;
                }
            }
            _ => {
                let had = before.is_some_and(|b| {
                    b.problems.iter().any(|p| {
                        p == Problem::ReauthorizationRequired.code()
                            || p == Problem::ReauthorizationExpiring.code()
                    })
                });
                if had {
                    let at = after
                        .authorized_at
                        .map(|t| t.timestamp().to_string())
                        .unwrap_or_default();
                    let e =
                        self.authorization_event(org, AuthorizationEvent::Reauthorized, after)?;
                    tx.append_event(org, &e, Some(&format!("reauthorized:{}:{at}", after.id)))
                        .await?;
                }
            }
        }
        Ok(())
    }
}

fn account_data(a: &Account) -> AccountData {
    AccountData {
        account_id: a.id.to_string(),
        iban: a.reference.clone(),
        currency: a.currency.code().to_owned(),
        description: a.description.clone(),
    }
}
