//! Owns what a Ponto webhook does once its tenant is known: each event type's effect, read from
//! Ponto's API (the body only says which synchronization, account or organization), through
//! the paths a scheduled read takes (same rows, same events, same dedupe), so that applying an
//! event twice, or after a read, changes nothing.

use super::{Puller, Stop, import::ImportError};
use crate::domain::ids::OrganizationId;
use crate::domain::status::AccountStatus;
use crate::error::{AppResult, ErrorCode};
use crate::ponto::event::WebhookEvent;
use crate::secret::Secret;
use crate::store::accounts::Account;

/// What applying an event amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Its effect is in place (possibly nothing new: it was already).
    Applied,
    /// Acknowledged without effect: a type we do not act on, or one missing the ids it needs.
    Ignored(&'static str),
}

impl From<ImportError> for Stop {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::App(a) => Stop::Failed(a),
            ImportError::Ponto(p) => Stop::Failed(p.into()),
        }
    }
}

impl Puller {
    /// Applies one webhook event for `org`. An error means "try again later".
    #[tracing::instrument(skip_all, fields(organization = %org, event = e.kind()))]
    pub async fn apply_webhook(&self, org: OrganizationId, e: &WebhookEvent) -> AppResult<Effect> {
        let outcome = match e.kind() {
            "account.transactionsCreated" | "account.transactionsUpdated" => {
                self.pull_updated(org, e).await
            }
            "account.pendingTransactionsCreated" | "account.pendingTransactionsUpdated" => {
                self.pull_pending(org, e).await
            }
            "account.detailsUpdated"
            | "account.reauthorized"
            | "integration.accountAdded"
            | "integration.accountRevoked" => self.refresh_account(org, e, false).await,
            "synchronization.failed" => self.sync_failed(org, e).await,
            "synchronization.succeededWithoutChange" => self.sync_without_change(org, e).await,
            // The link's status and problems, decided as a read decides them.
            "integration.created"
            | "integration.revoked"
            | "organization.blocked"
            | "organization.unblocked" => self
                .read(org)
                .await
                .map(|()| Effect::Applied)
                .map_err(Stop::Failed),
            "paymentRequest.closed" => Ok(Effect::Applied),
            _ => Ok(Effect::Ignored("unknown event type")),
        };
        match outcome {
            Ok(effect) => Ok(effect),
            // The link broke (and that is recorded): nothing more can be read for it now.
            Err(Stop::Broken) => Ok(Effect::Applied),
            Err(Stop::Failed(e)) => Err(e),
        }
    }

    /// Our live account for a Ponto account the event names, asking Ponto when we do not know
    /// it as shared: recorded (`bank_account.added`) and imported then. `None` when Ponto no
    /// longer shares it (then it is marked revoked here).
    async fn live_account(
        &self,
        org: OrganizationId,
        token: &Secret,
        ponto_id: &str,
    ) -> Result<Option<Account>, Stop> {
        match self.store.account_by_ponto_id(org, ponto_id).await? {
            Some(a) if a.status == AccountStatus::Active && a.last_synced_at.is_some() => {
                Ok(Some(a))
            }
            _ => self.fetch_and_record(org, token, ponto_id, false).await,
        }
    }

    /// Reads one account from Ponto and records it as a read would, importing it the first
    /// time; marks it revoked when Ponto says it is not shared.
    async fn fetch_and_record(
        &self,
        org: OrganizationId,
        token: &Secret,
        ponto_id: &str,
        refused: bool,
    ) -> Result<Option<Account>, Stop> {
        match self.ponto()?.account(token, ponto_id).await {
            Ok(r) => {
                let a = self.record_account(org, &r, refused).await?;
                // Not imported yet: its whole history, as a read imports it.
                if a.last_synced_at.is_none() {
                    self.read_account(org, token, &a).await?;
                }
                Ok(Some(a))
            }
            Err(e) if e.has_api_code("resourceNotFound") => {
                if let Some(a) = self.store.account_by_ponto_id(org, ponto_id).await? {
                    self.revoke_account(org, &a).await?;
                }
                Ok(None)
            }
            Err(e) => Err(self.api_failure(org, e).await),
        }
    }

    /// `transactionsCreated`/`Updated`: that synchronization's booked transactions, page by
    /// page, stored as a read stores them.
    async fn pull_updated(&self, org: OrganizationId, e: &WebhookEvent) -> Result<Effect, Stop> {
        let (Some(account), Some(sync)) = (&e.account, &e.synchronization) else {
            return Ok(Effect::Ignored("no account or synchronization"));
        };
        let token = self.token(org).await?;
        let Some(a) = self.live_account(org, &token, account).await? else {
            return Ok(Effect::Applied);
        };
        let ponto = self.ponto()?;
        let _turn = self.account_lease(org, a.id).await?;
        let mut next: Option<String> = None;
        loop {
            let page = match ponto
                .updated_transactions_page(&token, sync, false, next.as_deref())
                .await
            {
                Ok(p) => p,
                Err(e) => return Err(self.api_failure(org, e).await),
            };
            self.store_page(org, &a, page.items).await?;
            match page.next {
                Some(n) if Some(&n) != next.as_ref() => next = Some(n),
                _ => return Ok(Effect::Applied),
            }
        }
    }

    /// `pendingTransactionsCreated`/`Updated`: the account's whole pending set, retiring what
    /// Ponto stopped listing (an absence no delta shows). The booked window is read and stored
    /// before anything is retired, as a read does, so a pending transaction booked meanwhile
    /// finds its successor whatever order Ponto's webhooks arrive in.
    async fn pull_pending(&self, org: OrganizationId, e: &WebhookEvent) -> Result<Effect, Stop> {
        let Some(account) = &e.account else {
            return Ok(Effect::Ignored("no account"));
        };
        let token = self.token(org).await?;
        let Some(a) = self.live_account(org, &token, account).await? else {
            return Ok(Effect::Applied);
        };
        self.read_account(org, &token, &a).await?;
        Ok(Effect::Applied)
    }

    /// `detailsUpdated`, `reauthorized`, `accountAdded`, `accountRevoked`: the account as Ponto
    /// reports it now (balances, authorization, problem; added or revoked).
    async fn refresh_account(
        &self,
        org: OrganizationId,
        e: &WebhookEvent,
        refused: bool,
    ) -> Result<Effect, Stop> {
        let Some(account) = &e.account else {
            return Ok(Effect::Ignored("no account"));
        };
        let token = self.token(org).await?;
        self.fetch_and_record(org, &token, account, refused).await?;
        Ok(Effect::Applied)
    }

    /// `synchronization.failed`: the error recorded on the account; a refused consent is the
    /// account's `REAUTHORIZATION_REQUIRED` (announced once).
    async fn sync_failed(&self, org: OrganizationId, e: &WebhookEvent) -> Result<Effect, Stop> {
        let (Some(account), Some(sync)) = (&e.account, &e.synchronization) else {
            return Ok(Effect::Ignored("no account or synchronization"));
        };
        let token = self.token(org).await?;
        let s = match self.ponto()?.synchronization(&token, sync).await {
            Ok(s) => s,
            Err(e) => return Err(self.api_failure(org, e).await),
        };
        if s.authorization_invalid() {
            // The account's problem says it, with the way out (re-authorization).
            self.fetch_and_record(org, &token, account, true).await?;
        } else if let Some(a) = self.store.account_by_ponto_id(org, account).await? {
            // Ponto could not get fresh data from the bank: to the user, the account could not
            // be read (until a read succeeds). Fixed words: Ponto's codes are not ours to show.
            self.store
                .finish_account_read(
                    org,
                    a.id,
                    Err((
                        ErrorCode::UpstreamUnavailable.as_str(),
                        "Ponto could not reach the bank at its last synchronization.",
                    )),
                )
                .await?;
        }
        Ok(Effect::Applied)
    }

    /// `synchronization.succeededWithoutChange`: when Ponto reached the bank, as the
    /// synchronization itself says. Our own import bookkeeping (`lastSyncedAt`) is untouched.
    async fn sync_without_change(
        &self,
        org: OrganizationId,
        e: &WebhookEvent,
    ) -> Result<Effect, Stop> {
        let (Some(account), Some(sync)) = (&e.account, &e.synchronization) else {
            return Ok(Effect::Ignored("no account or synchronization"));
        };
        let Some(a) = self.store.account_by_ponto_id(org, account).await? else {
            return Ok(Effect::Applied);
        };
        let token = self.token(org).await?;
        let s = match self.ponto()?.synchronization(&token, sync).await {
            Ok(s) => s,
            Err(e) => return Err(self.api_failure(org, e).await),
        };
        if let Some(at) = s.attributes.updated_at.or(s.attributes.created_at) {
            self.store.bank_synchronized(org, a.id, at).await?;
        }
        Ok(Effect::Applied)
    }
}
