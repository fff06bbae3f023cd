//! Owns `syncNow`: asking Ponto to synchronize an account with its bank (details, and booked
//! and pending transactions) — at most once per account per cooldown — then reading the result
//! when Ponto is done.

use super::Puller;
use crate::domain::ids::{AccountId, OrganizationId};
use crate::error::{AppError, AppResult};
use crate::ponto::sync::{SyncSubtype, Synchronization};
use crate::store::synchronizations::{NewSynchronization, RecordedError};
use chrono::{DateTime, Utc};

/// A synchronization we asked Ponto for.
#[derive(Debug, Clone)]
pub struct SyncStarted {
    pub ponto_id: String,
    pub subtype: String,
    pub status: String,
}

#[derive(Debug, Clone)]
pub struct SyncNowResult {
    pub synchronizations: Vec<SyncStarted>,
    pub next_sync_allowed_at: DateTime<Utc>,
}

/// How long we wait for Ponto to finish before leaving it to the periodic read.
const WAIT_FOR_PONTO: std::time::Duration = std::time::Duration::from_secs(120);

impl Puller {
    /// Shielded: once Ponto accepted a synchronization the account's slot is spent, so the
    /// request and our record of it finish together whatever happens to the caller.
    pub async fn sync_now(
        &self,
        org: OrganizationId,
        account: AccountId,
        customer_ip: std::net::IpAddr,
        actor: &str,
    ) -> AppResult<SyncNowResult> {
        let (this, actor) = (self.clone(), actor.to_owned());
        self.connect
            .shield
            .run(async move { this.request_sync(org, account, customer_ip, &actor).await })
            .await
    }

    #[tracing::instrument(name = "sync_now", skip_all, fields(organization = %org))]
    async fn request_sync(
        &self,
        org: OrganizationId,
        account: AccountId,
        customer_ip: std::net::IpAddr,
        actor: &str,
    ) -> AppResult<SyncNowResult> {
        let a = self
            .store
            .account(org, account)
            .await?
            .ok_or_else(|| AppError::not_found("bank account"))?;
        if a.status != crate::domain::status::AccountStatus::Active {
            return Err(AppError::Conflict(
                "the account is not shared with Ponto any more".into(),
            ));
        }
        let now = self.store.clock().now();
        let until = now + self.cfg.sync_cooldown;
        if let Err(next) = self.store.claim_sync_slot(org, account, until).await? {
            return Err(AppError::RateLimited {
                message: "this account was synchronized recently".into(),
                retry_after_secs: (next - now).num_seconds().max(1) as u64,
            });
        }
        let (syncs, failure) = self.create_syncs(org, &a.ponto_id, customer_ip).await;
        if let Some(e) = failure {
            if syncs.is_empty() {
                if !matches!(e, AppError::RateLimited { .. }) {
                    // Nothing was asked of Ponto: the user may try again at once.
                    self.store.reset_sync_slot(org, account).await?;
                }
                return Err(e);
            }
            // One synchronization started: record and follow it; the answer lists only it.
            tracing::warn!(organization = %org, account = %account, error = %crate::error::Esc(&e), "Ponto refused one of the synchronizations");
        }
        let mut tx = self.store.begin_write().await?;
        for s in &syncs {
            let ip = customer_ip.to_string();
            let sync = NewSynchronization {
                ponto_id: &s.id,
                subtype: &s.attributes.subtype,
                status: &s.attributes.status,
                customer_ip: &ip,
                actor,
            };
            tx.record_synchronization(org, account, sync).await?;
        }
        tx.commit().await?;
        let result = SyncNowResult {
            synchronizations: syncs
                .iter()
                .map(|s| SyncStarted {
                    ponto_id: s.id.clone(),
                    subtype: s.attributes.subtype.clone(),
                    status: s.attributes.status.clone(),
                })
                .collect(),
            next_sync_allowed_at: until,
        };
        let me = self.clone();
        self.followers
            .spawn(async move { me.follow(org, account, syncs).await });
        Ok(result)
    }

    /// Asks Ponto for both synchronizations; returns those it started and, if it refused one
    /// (or could not be reached), why.
    async fn create_syncs(
        &self,
        org: OrganizationId,
        ponto_account: &str,
        ip: std::net::IpAddr,
    ) -> (Vec<Synchronization>, Option<AppError>) {
        let ponto = match self.connect.ponto() {
            Ok(p) => p,
            Err(e) => return (vec![], Some(e)),
        };
        let token = match self.connect.tokens.access_token(org).await {
            Ok(t) => t,
            Err(e) => return (vec![], Some(e)),
        };
        let mut out = Vec::new();
        for subtype in [
            SyncSubtype::AccountDetails,
            SyncSubtype::AccountTransactionsWithUnsettled,
        ] {
            match ponto
                .create_synchronization(&token, ponto_account, subtype, &ip.to_string())
                .await
            {
                Ok(s) => out.push(s),
                Err(e) => return (out, Some(e.into())),
            }
        }
        (out, None)
    }

    /// Waits for Ponto to finish, records the outcome, then has the account read.
    async fn follow(&self, org: OrganizationId, account: AccountId, syncs: Vec<Synchronization>) {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_PONTO;
        // Ponto takes seconds to a minute: poll soon, then back off to spare its rate limit.
        let mut pause = std::time::Duration::from_millis(250);
        for s in syncs {
            let mut current = s;
            while !current.is_done() && tokio::time::Instant::now() < deadline {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    // Shutting down: record what we saw; the next read picks up the rest.
                    () = self.followers.stopping() => break,
                }
                pause = (pause * 2).min(std::time::Duration::from_secs(5));
                let Ok(token) = self.connect.tokens.access_token(org).await else {
                    break;
                };
                let Some(ponto) = self.connect.ponto.as_ref() else {
                    break;
                };
                match ponto.synchronization(&token, &current.id).await {
                    Ok(next) => current = next,
                    Err(e) => {
                        tracing::warn!(organization = %org, error = %crate::error::Esc(&e), "could not follow a synchronization");
                        break;
                    }
                }
            }
            if let Err(e) = self.record_outcome(org, account, &current).await {
                tracing::warn!(organization = %org, error = %crate::error::Esc(&e), "could not record a synchronization's outcome");
            }
        }
        match self.store.read_soon(org).await {
            Ok(_) => self.store.bus().wake_reads(),
            Err(e) => {
                tracing::warn!(organization = %org, error = %crate::error::Esc(&e), "could not schedule the read after syncNow")
            }
        }
    }

    async fn record_outcome(
        &self,
        org: OrganizationId,
        account: AccountId,
        s: &Synchronization,
    ) -> AppResult<()> {
        let errors: Vec<RecordedError> = s
            .attributes
            .errors
            .iter()
            .map(|e| RecordedError {
                code: e.code.clone(),
                detail: e.detail.clone(),
                meta: e.meta.clone(),
            })
            .collect();
        let mut tx = self.store.begin_write().await?;
        tx.update_synchronization(org, account, &s.id, &s.attributes.status, &errors)
            .await?;
        tx.commit().await
    }
}
