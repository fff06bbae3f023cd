//! Owns the per-account pull lease: a scheduled read of an account and a webhook's pull of it
//! take turns, so a removal decided from a read's listing can never hit a row a concurrent pull
//! just inserted (the lease is a row condition, so instances agree too).

use super::Puller;
use crate::domain::ids::{AccountId, OrganizationId};
use crate::error::{AppError, AppResult};
use crate::store::Store;
use std::time::Duration;

/// How long a claim lasts without renewal: a holder that died blocks the account this long.
const LEASE: chrono::Duration = chrono::Duration::seconds(30);
/// How often a live holder renews its claim.
const RENEW: Duration = Duration::from_secs(10);
/// How long a pull or read waits for its turn before giving up (and being retried).
const WAIT: Duration = Duration::from_secs(120);

/// The account's lease while held (renewed in the background); given back when dropped.
pub(crate) struct AccountLease {
    store: Store,
    org: OrganizationId,
    account: AccountId,
    owner: String,
    renewal: tokio::task::JoinHandle<()>,
}

impl Drop for AccountLease {
    fn drop(&mut self) {
        self.renewal.abort();
        let (store, org, account, owner) = (
            self.store.clone(),
            self.org,
            self.account,
            std::mem::take(&mut self.owner),
        );
        // Giving it back is a write; a lost one only delays the next holder until it expires.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = store.release_pull_lease(org, account, &owner).await {
                    tracing::warn!(organization = %org, error = %crate::error::Esc(&e), "could not release an account's pull lease");
                }
            });
        }
    }
}

impl Puller {
    /// Waits for the account's turn, then holds it until the returned lease is dropped.
    pub(crate) async fn account_lease(
        &self,
        org: OrganizationId,
        account: AccountId,
    ) -> AppResult<AccountLease> {
        let owner = uuid::Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut pause = Duration::from_millis(10);
        loop {
            let until = self.store.clock().now() + LEASE;
            if self
                .store
                .claim_pull_lease(org, account, &owner, until)
                .await?
            {
                let (store, holder) = (self.store.clone(), owner.clone());
                let renewal = tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(RENEW).await;
                        let until = store.clock().now() + LEASE;
                        if let Err(e) = store.renew_pull_lease(org, account, &holder, until).await {
                            tracing::warn!(organization = %org, error = %crate::error::Esc(&e), "could not renew an account's pull lease");
                        }
                    }
                });
                return Ok(AccountLease {
                    store: self.store.clone(),
                    org,
                    account,
                    owner,
                    renewal,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(AppError::UpstreamUnavailable(
                    "the account is being read; try again later".into(),
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
}
