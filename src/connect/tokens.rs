//! Owns usable access tokens: read and opened from the database while valid, otherwise
//! refreshed by exactly one caller per connection — one task per process (a local lock) and one
//! instance across processes (a lease row in the database). The rotated refresh token is
//! committed before the new access token is handed out; a failing token endpoint keeps the old
//! tokens; only `invalid_grant` breaks the link.

use super::Connect;
use crate::crypto::KeyRing;
use crate::domain::ids::{ConnectionId, OrganizationId};
use crate::error::{AppError, AppResult};
use crate::ponto::PontoClient;
use crate::secret::Secret;
use crate::store::Store;
use chrono::Duration;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Access tokens this close to expiry are refreshed first.
const REFRESH_MARGIN_SECS: i64 = 60;
/// How long a refresh lease lasts if its holder dies.
const LEASE_SECS: i64 = 30;
/// How long to wait for another instance's refresh before giving up.
const WAIT_FOR_OTHERS: std::time::Duration = std::time::Duration::from_secs(20);

#[derive(Clone)]
pub struct TokenManager {
    store: Store,
    ponto: Option<PontoClient>,
    keys: Arc<KeyRing>,
    /// This instance's name in lease rows.
    owner: String,
    local: Arc<Mutex<HashMap<ConnectionId, Arc<tokio::sync::Mutex<()>>>>>,
}

impl TokenManager {
    pub fn new(store: Store, ponto: Option<PontoClient>, keys: Arc<KeyRing>) -> Self {
        Self {
            store,
            ponto,
            keys,
            owner: uuid::Uuid::new_v4().to_string(),
            local: Arc::default(),
        }
    }

    fn local_lock(&self, conn: ConnectionId) -> Arc<tokio::sync::Mutex<()>> {
        self.local
            .lock()
            .expect("token locks")
            .entry(conn)
            .or_default()
            .clone()
    }

    /// A usable access token for the organization's link.
    pub async fn access_token(&self, org: OrganizationId) -> AppResult<Secret> {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_OTHERS;
        loop {
            if let Some(token) = self.valid_token(org).await? {
                return Ok(token);
            }
            let conn = self.connection_id(org).await?;
            let lock = self.local_lock(conn);
            let _guard = lock.lock().await;
            // Another task may have refreshed while we waited for the lock.
            if let Some(token) = self.valid_token(org).await? {
                return Ok(token);
            }
            let until = self.store.clock().now() + Duration::seconds(LEASE_SECS);
            if self
                .store
                .take_refresh_lease(conn, &self.owner, until)
                .await?
            {
                // The instance that held the lease before us may have stored fresh tokens
                // between our check above and taking the lease: use them, refresh nothing.
                if let Some(token) = self.valid_token(org).await? {
                    self.store.release_refresh_lease(conn, &self.owner).await?;
                    return Ok(token);
                }
                return self.refresh(org, conn).await;
            }
            // Another instance holds the lease: wait for its result.
            drop(_guard);
            if tokio::time::Instant::now() > deadline {
                return Err(AppError::UpstreamUnavailable(
                    "timed out waiting for a Ponto token refresh".into(),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Forgets the access token (Ponto refused it); the next caller refreshes.
    pub async fn expire(&self, org: OrganizationId) -> AppResult<()> {
        self.store.expire_access_token(org).await
    }

    async fn connection_id(&self, org: OrganizationId) -> AppResult<ConnectionId> {
        let t = self
            .store
            .sealed_tokens(org)
            .await?
            .ok_or_else(|| AppError::not_found("Ponto connection"))?;
        Ok(t.connection_id)
    }

    /// The stored access token when the link is up and the token not about to expire.
    async fn valid_token(&self, org: OrganizationId) -> AppResult<Option<Secret>> {
        let t = self
            .store
            .sealed_tokens(org)
            .await?
            .ok_or_else(|| AppError::not_found("Ponto connection"))?;
        if !t.usable() {
            return Err(AppError::UpstreamUnavailable(format!(
                "the Ponto connection is {}; reconnect",
                t.status
            )));
        }
        let now = self.store.clock().now();
        match (&t.access_enc, t.access_expires_at) {
            (Some(sealed), Some(exp)) if exp > now + Duration::seconds(REFRESH_MARGIN_SECS) => {
                Ok(Some(self.keys.open_secret(
                    sealed,
                    Connect::token_binding("access_token_enc", t.connection_id, org),
                )?))
            }
            _ => Ok(None),
        }
    }

    async fn refresh(&self, org: OrganizationId, conn: ConnectionId) -> AppResult<Secret> {
        let ponto = self
            .ponto
            .as_ref()
            .ok_or_else(|| AppError::UpstreamUnavailable("Ponto is not configured".into()))?;
        let t = self
            .store
            .sealed_tokens(org)
            .await?
            .ok_or_else(|| AppError::not_found("Ponto connection"))?;
        let sealed = t
            .refresh_enc
            .as_ref()
            .ok_or_else(|| AppError::UpstreamUnavailable("no refresh token; reconnect".into()))?;
        let refresh = self.keys.open_secret(
            sealed,
            Connect::token_binding("refresh_token_enc", conn, org),
        )?;
        match ponto.refresh(&refresh).await {
            Ok(new) => {
                let rotated = new.refresh_token.clone().unwrap_or(refresh);
                let access_enc = self.keys.seal_secret(
                    &new.access_token,
                    Connect::token_binding("access_token_enc", conn, org),
                )?;
                let refresh_enc = self.keys.seal_secret(
                    &rotated,
                    Connect::token_binding("refresh_token_enc", conn, org),
                )?;
                let expires = self.store.clock().now() + Duration::seconds(new.expires_in);
                let mut tx = self.store.begin_write().await?;
                tx.store_tokens(org, access_enc, refresh_enc, expires)
                    .await?;
                tx.commit().await?;
                Ok(new.access_token)
            }
            Err(e) if e.is_invalid_grant() => {
                tracing::warn!(organization = %org, "Ponto refused the refresh token; the link is broken");
                let mut tx = self.store.begin_write().await?;
                tx.mark_broken(org, "invalid_grant").await?;
                tx.commit().await?;
                Err(AppError::UpstreamUnavailable(
                    "Ponto refused the refresh token; reconnect".into(),
                ))
            }
            Err(e) => {
                self.store.release_refresh_lease(conn, &self.owner).await?;
                Err(e.into())
            }
        }
    }
}
