//! Owns keeping our copy of a tenant's bank data fresh by *reading* what Ponto holds: accounts
//! (balances, authorization), booked and pending transactions, the three problem states, and
//! the events each change announces. Creating synchronizations (which make Ponto call the
//! bank) happens only in `syncNow`, on a user's request.

mod accounts;
mod import;
pub mod ingest;
mod lease;
pub mod problems;
mod scheduler;
mod sync_now;
mod webhook;

pub use scheduler::run_scheduler;
pub use sync_now::{SyncNowResult, SyncStarted};
pub use webhook::Effect;

use crate::connect::Connect;
use crate::domain::ids::OrganizationId;
use crate::domain::status::ConnectionStatus;
use crate::error::{AppError, AppResult};
use crate::metrics::SyncMetrics;
use crate::ponto::PontoError;
use crate::secret::Secret;
use crate::store::Store;
use chrono::Duration;

#[derive(Debug, Clone)]
pub struct PullConfig {
    pub read_interval: Duration,
    pub window_days: i64,
    pub sync_cooldown: Duration,
    pub scheduler_poll: std::time::Duration,
}

impl Default for PullConfig {
    fn default() -> Self {
        Self {
            read_interval: Duration::hours(1),
            window_days: 90,
            sync_cooldown: Duration::minutes(30),
            scheduler_poll: std::time::Duration::from_secs(1),
        }
    }
}

#[derive(Clone)]
pub struct Puller {
    pub(crate) store: Store,
    pub(crate) connect: Connect,
    pub(crate) cfg: PullConfig,
    pub(crate) metrics: SyncMetrics,
    pub(crate) followers: Followers,
}

/// The tasks `syncNow` leaves running to follow Ponto's synchronizations. Shutdown stops them
/// (each records what it saw and leaves the rest to the next read) and waits for them before
/// the database pool closes, so no follow-up is cut off between its write and its commit.
#[derive(Clone, Default)]
pub(crate) struct Followers {
    tracker: tokio_util::task::TaskTracker,
    stop: tokio_util::sync::CancellationToken,
}

impl Followers {
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tracker.spawn(task);
    }

    /// Resolves when shutdown has begun.
    async fn stopping(&self) {
        self.stop.cancelled().await;
    }

    /// Stops the followers and waits up to `grace` for them; false when some are still running.
    pub(crate) async fn shut_down(&self, grace: std::time::Duration) -> bool {
        self.tracker.close();
        self.stop.cancel();
        tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
    }
}

/// How a read ended when it could not complete.
enum Stop {
    /// The link is broken (already recorded); nothing more to read now.
    Broken,
    Failed(AppError),
}

impl From<AppError> for Stop {
    fn from(e: AppError) -> Self {
        Stop::Failed(e)
    }
}

impl Puller {
    pub fn new(store: Store, connect: Connect, cfg: PullConfig, metrics: SyncMetrics) -> Self {
        Self {
            store,
            connect,
            cfg,
            metrics,
            followers: Followers::default(),
        }
    }

    /// How many `syncNow` follow-ups are running.
    pub fn follow_ups_running(&self) -> usize {
        self.followers.tracker.len()
    }

    /// Stops the work `syncNow` left running and waits up to `grace` for it.
    pub async fn shut_down(&self, grace: std::time::Duration) {
        if !self.followers.shut_down(grace).await {
            tracing::warn!("syncNow follow-ups did not stop within the grace period");
        }
    }

    /// Reads everything Ponto holds for the organization and records what changed. Errors are
    /// recorded on the connection; the next read is scheduled either way.
    #[tracing::instrument(skip_all, fields(organization = %org))]
    pub async fn read(&self, org: OrganizationId) -> AppResult<()> {
        self.read_claimed(org, None).await
    }

    /// A read under the scheduler's lease held by `owner`.
    #[tracing::instrument(skip_all, fields(organization = %org))]
    pub(crate) async fn read_claimed(
        &self,
        org: OrganizationId,
        owner: Option<&str>,
    ) -> AppResult<()> {
        let outcome = self.read_all(org).await;
        // An interval of zero switches scheduled reads off: only reads asked for (after linking,
        // syncNow, a re-authorization, a webhook) happen.
        let next = (!self.cfg.read_interval.is_zero())
            .then(|| self.store.clock().now() + self.cfg.read_interval);
        let error = match &outcome {
            Ok(()) | Err(Stop::Broken) => None,
            Err(Stop::Failed(e)) => Some((e.code().as_str(), e.public_message())),
        };
        self.metrics.read(match &outcome {
            Ok(()) => "ok",
            Err(Stop::Broken) => "broken",
            Err(Stop::Failed(_)) => "failed",
        });
        self.store
            .finish_read(
                org,
                owner,
                next,
                error.as_ref().map(|(c, w)| (*c, w.as_str())),
            )
            .await?;
        match outcome {
            Err(Stop::Failed(e)) => Err(e),
            _ => Ok(()),
        }
    }

    async fn read_all(&self, org: OrganizationId) -> Result<(), Stop> {
        let token = self.token(org).await?;
        let accounts = match self.ponto()?.accounts(&token).await {
            Ok(a) => a,
            Err(e) => return Err(self.api_failure(org, e).await),
        };
        let active = self.record_accounts(org, &accounts).await?;
        // One account that cannot be read does not keep the others stale: each records its own
        // outcome, and the read as a whole reports the first failure. The accounts that failed
        // last time go last, so they cannot keep the others from their turn. Ponto itself
        // failing twice in a row ends the read: every other account would only add requests
        // (and retries) to a service that is down.
        let mut active = active;
        active.sort_by_key(|a| a.last_read_error.is_some());
        let (mut first_failure, mut down_in_a_row) = (None, 0);
        for account in active {
            let token = self.token(org).await?;
            match self.read_account(org, &token, &account).await {
                Ok(()) => down_in_a_row = 0,
                Err(import::Unread {
                    stop: Stop::Failed(e),
                    ponto_down,
                }) => {
                    first_failure.get_or_insert(e);
                    down_in_a_row = if ponto_down { down_in_a_row + 1 } else { 0 };
                    if down_in_a_row == 2 {
                        break;
                    }
                }
                Err(import::Unread {
                    stop: Stop::Broken, ..
                }) => return Err(Stop::Broken),
            }
        }
        first_failure.map_or(Ok(()), |e| Err(Stop::Failed(e)))
    }

    fn ponto(&self) -> Result<&crate::ponto::PontoClient, Stop> {
        self.connect.ponto().map_err(Stop::Failed)
    }

    /// A usable token, or `Broken` when the link is (or just became) broken.
    async fn token(&self, org: OrganizationId) -> Result<Secret, Stop> {
        match self.connect.tokens.access_token(org).await {
            Ok(t) => Ok(t),
            Err(e) => {
                let broken = self
                    .store
                    .connection(org)
                    .await?
                    .is_some_and(|c| c.status != ConnectionStatus::Connected);
                Err(if broken {
                    Stop::Broken
                } else {
                    Stop::Failed(e)
                })
            }
        }
    }

    /// What an API failure means for the link: a blocked organization or a revoked integration
    /// breaks it; anything else is retried at the next read.
    async fn api_failure(&self, org: OrganizationId, e: PontoError) -> Stop {
        let result: AppResult<Stop> = async {
            if e.has_api_code("organizationBlocked") {
                let mut tx = self.store.begin_write().await?;
                tx.mark_broken(org, "organizationBlocked").await?;
                tx.commit().await?;
                return Ok(Stop::Broken);
            }
            if e.has_api_code("invalidAccessToken") {
                // The integration may be revoked: a refresh tells (invalid_grant breaks the link).
                self.connect.tokens.expire(org).await?;
                if self.connect.tokens.access_token(org).await.is_err()
                    && self
                        .store
                        .connection(org)
                        .await?
                        .is_some_and(|c| c.status != ConnectionStatus::Connected)
                {
                    return Ok(Stop::Broken);
                }
            }
            Ok(Stop::Failed(e.into()))
        }
        .await;
        result.unwrap_or_else(Stop::Failed)
    }
}
