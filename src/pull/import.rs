//! Owns reading one account's transactions from Ponto: booked ones page by page (≤ 100 rows,
//! the next page fetched while this one is stored), the whole history the first time and the
//! read window afterwards; then the pending ones. Storing is `ingest`'s.

use super::{Puller, Stop, ingest};
use crate::domain::ids::OrganizationId;
use crate::error::AppError;
use crate::ponto::PontoError;
use crate::ponto::model::Transaction;
use crate::secret::Secret;
use crate::store::accounts::Account;
use chrono::Duration;
use std::collections::HashSet;

pub(super) enum ImportError {
    Ponto(PontoError),
    App(AppError),
}

impl From<PontoError> for ImportError {
    fn from(e: PontoError) -> Self {
        ImportError::Ponto(e)
    }
}

impl From<AppError> for ImportError {
    fn from(e: AppError) -> Self {
        ImportError::App(e)
    }
}

/// Why an account was not read.
pub(super) struct Unread {
    pub(super) stop: Stop,
    /// Ponto itself failed (unavailable, or rate limiting us): the next accounts would too.
    pub(super) ponto_down: bool,
}

impl From<AppError> for Unread {
    fn from(e: AppError) -> Self {
        Unread {
            stop: Stop::Failed(e),
            ponto_down: false,
        }
    }
}

impl From<Unread> for Stop {
    fn from(u: Unread) -> Self {
        u.stop
    }
}

impl Puller {
    /// Stores one page (see [`ingest::store_page`]), counting what was new. Returns the Ponto
    /// ids it held.
    pub(super) async fn store_page(
        &self,
        org: OrganizationId,
        account: &Account,
        page: Vec<Transaction>,
    ) -> Result<Vec<String>, AppError> {
        let stored = ingest::store_page(&self.store, org, account.id, page).await?;
        self.metrics.transactions_imported.inc_by(stored.inserted);
        Ok(stored.ponto_ids)
    }

    /// Reads an account's booked transactions (the whole history the first time, the window
    /// afterwards) and then its pending ones, under the account's pull lease, and records the
    /// outcome on the account while still holding it (so two reads record in the order they
    /// ran): the time of a complete import, or why it failed (`BankAccount.lastReadError`).
    /// Waiting too long for the lease is no failure of the account (another reader has it) and
    /// is not recorded on it.
    pub(super) async fn read_account(
        &self,
        org: OrganizationId,
        token: &Secret,
        account: &Account,
    ) -> Result<(), Unread> {
        let _lease = self.account_lease(org, account.id).await?;
        let started = self.store.clock().now();
        // Ponto's pending list is taken before the booked one: a pending transaction booked by a
        // synchronization landing between the two calls is then still in the pending snapshot
        // (kept, superseded at the next read) rather than missing from both lists (retired as
        // removed with no successor to find).
        let imported: Result<(), ImportError> = async {
            let pending = self
                .connect
                .ponto()?
                .all_transactions(token, &account.ponto_id, true)
                .await?;
            self.import_booked(org, token, account).await?;
            self.import_pending(org, account, pending).await
        }
        .await;
        let failure = match imported {
            Ok(()) => {
                self.store
                    .finish_account_read(org, account.id, Ok(started))
                    .await?;
                return Ok(());
            }
            Err(e) => e,
        };
        let ponto_down = matches!(
            failure,
            ImportError::Ponto(PontoError::Unavailable(_) | PontoError::RateLimited { .. })
        );
        let stop = match failure {
            ImportError::Ponto(p) => self.api_failure(org, p).await,
            ImportError::App(a) => Stop::Failed(a),
        };
        if let Stop::Failed(e) = &stop {
            self.store
                .finish_account_read(
                    org,
                    account.id,
                    Err((e.code().as_str(), &e.public_message())),
                )
                .await?;
        }
        Err(Unread { stop, ponto_down })
    }

    async fn import_booked(
        &self,
        org: OrganizationId,
        token: &Secret,
        account: &Account,
    ) -> Result<(), ImportError> {
        let ponto = self.connect.ponto()?;
        // Until one import of the account completed, read its whole history.
        let first_import = account.last_synced_at.is_none();
        let window_start =
            self.store.clock().now().date_naive() - Duration::days(self.cfg.window_days);

        // Booked, newest first: everything the first time, the window afterwards. The next page
        // is fetched while the current one is stored, so Ponto's latency and our commit overlap.
        let mut reported = HashSet::new();
        let mut cursor: Option<String> = None;
        let mut page = ponto
            .transactions_page(token, &account.ponto_id, false, None)
            .await?;
        loop {
            let oldest = page
                .items
                .iter()
                .filter_map(|t| t.attributes.value_date.or(t.attributes.execution_date))
                .min();
            let covered = !first_import && oldest.is_some_and(|d| d < window_start);
            let next = page
                .next
                .take()
                .filter(|n| !covered && Some(n) != cursor.as_ref());
            let fetch_next = async {
                match &next {
                    Some(n) => Some(
                        ponto
                            .transactions_page(token, &account.ponto_id, false, Some(n))
                            .await,
                    ),
                    None => None,
                }
            };
            let (stored, fetched) =
                tokio::join!(self.store_page(org, account, page.items), fetch_next);
            reported.extend(stored?);
            match fetched {
                Some(p) => {
                    page = p?;
                    cursor = next;
                }
                None => break,
            }
        }
        ingest::close_booked_read(&self.store, org, account.id, window_start, &reported).await?;
        Ok(())
    }

    /// Pending: Ponto lists them all (`pending`, taken before the booked read); the ones it
    /// stopped listing are retired (a delta cannot show an absence, so a webhook about pending
    /// transactions re-reads the account).
    async fn import_pending(
        &self,
        org: OrganizationId,
        account: &Account,
        pending: Vec<Transaction>,
    ) -> Result<(), ImportError> {
        let mut listed = HashSet::new();
        for chunk in pending.chunks(100) {
            listed.extend(self.store_page(org, account, chunk.to_vec()).await?);
        }
        ingest::close_pending_read(&self.store, org, account.id, &listed).await?;
        Ok(())
    }
}
