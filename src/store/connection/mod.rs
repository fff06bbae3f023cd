//! Owns the tenant's Ponto connection as rows, one aggregate: its status and problems (here),
//! the state changes of linking, breaking and disconnecting (`link`), the sealed tokens and the
//! refresh lease (`tokens`), and the periodic read's lease and bookkeeping (`reads`).

mod link;
mod reads;
mod tokens;

pub use link::{Link, LinkOutcome};
pub use tokens::SealedTokens;

use super::accounts::parse_problems;
use crate::domain::ids::{ConnectionId, OrganizationId};
use crate::domain::status::ConnectionStatus;
use crate::error::{AppError, AppResult};
use crate::store::{Store, WriteTx, find_in};
use chrono::{DateTime, Utc};
use entity::ponto_connection;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, IntoActiveModel, QuerySelect,
};

/// The tenant's Ponto connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnectionId,
    pub status: ConnectionStatus,
    pub problems: Vec<String>,
    pub ponto_organization_id: Option<String>,
    pub broken_reason: Option<String>,
    pub connected_at: Option<DateTime<Utc>>,
    pub broken_at: Option<DateTime<Utc>>,
    pub disconnected_at: Option<DateTime<Utc>>,
    pub last_read_at: Option<DateTime<Utc>>,
    pub next_read_at: Option<DateTime<Utc>>,
    /// Why the last read failed (null when it succeeded): its code and words.
    pub last_read_error: Option<(String, String)>,
}

impl TryFrom<ponto_connection::Model> for Connection {
    type Error = AppError;
    fn try_from(m: ponto_connection::Model) -> AppResult<Self> {
        Ok(Self {
            id: m.id.into(),
            status: status_of(&m)?,
            problems: parse_problems(&m.problems),
            ponto_organization_id: m.ponto_organization_id,
            broken_reason: m.broken_reason,
            connected_at: m.connected_at,
            broken_at: m.broken_at,
            disconnected_at: m.disconnected_at,
            last_read_at: m.last_read_at,
            next_read_at: m.next_read_at,
            // Written together by `finish_read`; a text without its code is never shown.
            last_read_error: m.last_read_error_code.zip(m.last_read_error),
        })
    }
}

/// A connection row's status; an unknown word is an error, never a default.
pub(super) fn status_of(m: &ponto_connection::Model) -> AppResult<ConnectionStatus> {
    ConnectionStatus::parse(&m.status).ok_or_else(|| {
        AppError::internal(format!(
            "unknown connection status {:?} in the database",
            m.status
        ))
    })
}

impl Store {
    pub async fn connection(&self, org: OrganizationId) -> AppResult<Option<Connection>> {
        find_in::<ponto_connection::Entity>(org)
            .one(self.conn())
            .await?
            .map(Connection::try_from)
            .transpose()
    }
}

impl WriteTx {
    /// The connection row for a read-modify-write: locked until commit on PostgreSQL (SQLite
    /// write transactions are exclusive already), so concurrent writers never lose an update.
    pub(super) async fn connection_model(
        &self,
        org: OrganizationId,
    ) -> AppResult<ponto_connection::Model> {
        let mut q = find_in::<ponto_connection::Entity>(org);
        if self.conn().get_database_backend() == sea_orm::DbBackend::Postgres {
            q = q.lock_exclusive();
        }
        q.one(self.conn())
            .await?
            .ok_or_else(|| AppError::not_found("Ponto connection"))
    }

    /// The connection, under the row lock, unless the tenant unlinked Ponto (`disconnectPonto`):
    /// a read that raced a disconnect must not bring its accounts back.
    pub async fn linked_connection(&self, org: OrganizationId) -> AppResult<Option<ConnectionId>> {
        let m = self.connection_model(org).await?;
        Ok((status_of(&m)? != ConnectionStatus::Disconnected).then(|| m.id.into()))
    }

    /// Creates the tenant's connection row if missing, else sets its status and problems.
    pub async fn set_connection_state(
        &mut self,
        org: OrganizationId,
        status: ConnectionStatus,
        problems: &[String],
        ponto_organization_id: Option<&str>,
    ) -> AppResult<ConnectionId> {
        let connected = status == ConnectionStatus::Connected;
        let status = status.as_str();
        let now = self.now();
        let problems_json = serde_json::to_string(problems).expect("strings serialize");
        let existing = find_in::<ponto_connection::Entity>(org)
            .one(self.conn())
            .await?;
        match existing {
            Some(m) => {
                let id = m.id;
                let mut am = m.into_active_model();
                am.status = Set(status.to_owned());
                am.problems = Set(problems_json);
                if let Some(p) = ponto_organization_id {
                    am.ponto_organization_id = Set(Some(p.to_owned()));
                }
                am.updated_at = Set(now);
                am.update(self.conn()).await?;
                Ok(id.into())
            }
            None => {
                let id = ConnectionId::new();
                ponto_connection::Entity::insert(ponto_connection::ActiveModel {
                    id: Set(id.0),
                    organization_id: Set(org.0),
                    status: Set(status.to_owned()),
                    ponto_organization_id: Set(ponto_organization_id.map(str::to_owned)),
                    access_token_enc: Set(None),
                    refresh_token_enc: Set(None),
                    access_token_expires_at: Set(None),
                    token_scope: Set(None),
                    problems: Set(problems_json),
                    broken_reason: Set(None),
                    connected_at: Set(connected.then_some(now)),
                    broken_at: Set(None),
                    disconnected_at: Set(None),
                    token_refreshed_at: Set(None),
                    refresh_lease_until: Set(None),
                    refresh_lease_owner: Set(None),
                    next_read_at: Set(None),
                    read_lease_until: Set(None),
                    read_lease_owner: Set(None),
                    last_read_at: Set(None),
                    last_read_error: Set(None),
                    last_read_error_code: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                })
                .exec_without_returning(self.conn())
                .await?;
                Ok(id)
            }
        }
    }
}
