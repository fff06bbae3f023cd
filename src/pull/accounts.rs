//! Owns recording the accounts Ponto lists: balances and authorization (with their events),
//! each account's re-authorization problem, accounts no longer shared, and the connection's
//! `NO_ACCOUNTS_ACTIVATED` problem — all in one transaction.

use super::problems::{authorization_problem, expiring_threshold};
use super::{Puller, Stop};
use crate::domain::event::{AccountAuthorizationData, AuthorizationEvent, BalanceData, Event};
use crate::domain::ids::OrganizationId;
use crate::domain::problem::Problem;
use crate::domain::status::AccountStatus;
use crate::error::AppError;
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
        let Some(conn) = tx.linked_connection(org).await? else {
            tx.rollback().await?;
            return Err(Stop::Broken);
        };
        let mut active = Vec::new();
        for r in listed {
            let upsert = crate::connect::account_upsert(r)?;
            let (before, after) = tx.upsert_account(org, Some(conn), upsert).await?;
            tx.set_account_status(org, after.id, AccountStatus::Active, None)
                .await?;
            let problem =
                authorization_problem(after.authorization_expires_at, consent_refused(r), now);
            self.announce(&mut tx, org, before.as_ref(), &after, problem)
                .await?;
            let problems: Vec<String> = problem
                .map(|p| vec![p.code().to_owned()])
                .unwrap_or_default();
            tx.set_account_problems(org, after.id, &problems).await?;
            active.push(after);
        }
        let listed_ids: Vec<_> = active.iter().map(|a| a.id).collect();
        for a in self.store.accounts_of(org).await? {
            if a.status != AccountStatus::Revoked && !listed_ids.contains(&a.id) {
                tx.set_account_status(org, a.id, AccountStatus::Revoked, Some(now))
                    .await?;
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
