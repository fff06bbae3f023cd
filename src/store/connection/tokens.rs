//! Owns the connection's sealed tokens as rows: reading them, storing rotated ones, and the
//! refresh lease that lets exactly one instance refresh at a time.

use crate::domain::ids::{ConnectionId, OrganizationId};
use crate::domain::status::ConnectionStatus;
use crate::error::AppResult;
use crate::store::{Store, WriteTx, find_in, stmt, update_in};
use chrono::{DateTime, Utc};
use entity::ponto_connection;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, IntoActiveModel};

/// The sealed tokens of a connection.
#[derive(Clone)]
pub struct SealedTokens {
    pub connection_id: ConnectionId,
    pub organization_id: OrganizationId,
    pub status: ConnectionStatus,
    pub access_enc: Option<Vec<u8>>,
    pub refresh_enc: Option<Vec<u8>>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub ponto_organization_id: Option<String>,
    pub broken_reason: Option<String>,
}

impl SealedTokens {
    /// Whether the tokens may be used: a connected link, or one broken only because Ponto
    /// blocked the organization (reading it is how we learn it was unblocked).
    pub fn usable(&self) -> bool {
        self.status.usable(self.broken_reason.as_deref())
    }
}

impl Store {
    pub async fn sealed_tokens(&self, org: OrganizationId) -> AppResult<Option<SealedTokens>> {
        find_in::<ponto_connection::Entity>(org)
            .one(self.conn())
            .await?
            .map(|m| {
                Ok(SealedTokens {
                    connection_id: m.id.into(),
                    organization_id: m.organization_id.into(),
                    status: super::status_of(&m)?,
                    access_enc: m.access_token_enc,
                    refresh_enc: m.refresh_token_enc,
                    access_expires_at: m.access_token_expires_at,
                    ponto_organization_id: m.ponto_organization_id,
                    broken_reason: m.broken_reason,
                })
            })
            .transpose()
    }

    /// Takes the refresh lease of a connection until `until`, unless another holder's lease
    /// is still running. Works across instances: the database arbitrates.
    pub async fn take_refresh_lease(
        &self,
        conn: ConnectionId,
        owner: &str,
        until: DateTime<Utc>,
    ) -> AppResult<bool> {
        let now = self.clock().now();
        let n = self
            .conn()
            .execute_raw(stmt(
                self.backend(),
                "UPDATE ponto_connection SET refresh_lease_until = $1, refresh_lease_owner = $2 \
                 WHERE id = $3 AND (refresh_lease_until IS NULL OR refresh_lease_until < $4 OR refresh_lease_owner = $2)",
                [until.into(), owner.into(), conn.0.into(), now.into()],
            ))
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Treats the stored access token as expired (Ponto refused it), so the next use refreshes.
    pub async fn expire_access_token(&self, org: OrganizationId) -> AppResult<()> {
        let now = self.clock().now();
        update_in::<ponto_connection::Entity>(org)
            .col_expr(
                ponto_connection::Column::AccessTokenExpiresAt,
                Some(now).into(),
            )
            .exec(self.conn())
            .await?;
        Ok(())
    }

    pub async fn release_refresh_lease(&self, conn: ConnectionId, owner: &str) -> AppResult<()> {
        self.conn()
            .execute_raw(stmt(
                self.backend(),
                "UPDATE ponto_connection SET refresh_lease_until = NULL, refresh_lease_owner = NULL WHERE id = $1 AND refresh_lease_owner = $2",
                [conn.0.into(), owner.into()],
            ))
            .await?;
        Ok(())
    }
}

impl WriteTx {
    /// Stores rotated tokens and releases the refresh lease.
    pub async fn store_tokens(
        &mut self,
        org: OrganizationId,
        access_enc: Vec<u8>,
        refresh_enc: Vec<u8>,
        access_expires_at: DateTime<Utc>,
    ) -> AppResult<()> {
        let now = self.now();
        let mut am = self.connection_model(org).await?.into_active_model();
        am.access_token_enc = Set(Some(access_enc));
        am.refresh_token_enc = Set(Some(refresh_enc));
        am.access_token_expires_at = Set(Some(access_expires_at));
        am.token_refreshed_at = Set(Some(now));
        am.refresh_lease_until = Set(None);
        am.refresh_lease_owner = Set(None);
        am.updated_at = Set(now);
        am.update(self.conn()).await?;
        Ok(())
    }
}
