//! Owns OAuth flows as rows: a one-time ticket handed to the front-end, then a `state` bound to
//! one browser's cookie, each step claimed with a conditional update so it works exactly once.

use super::{Store, WriteTx, stmt};
use crate::domain::ids::OrganizationId;
use crate::domain::status::FlowOutcome;
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use entity::oauth_flow;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthFlow {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub purpose: String,
    pub account_id: Option<Uuid>,
    pub return_url: String,
    pub reconnect: bool,
    pub created_by: String,
    pub expires_at: DateTime<Utc>,
    pub browser_binding_hash: Option<String>,
    pub pkce_verifier_enc: Option<Vec<u8>>,
    pub ticket_used_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub organization_name: Option<String>,
}

impl From<oauth_flow::Model> for OAuthFlow {
    fn from(m: oauth_flow::Model) -> Self {
        Self {
            id: m.id,
            organization_id: m.organization_id.into(),
            purpose: m.purpose,
            account_id: m.account_id,
            return_url: m.return_url,
            reconnect: m.reconnect,
            created_by: m.created_by,
            expires_at: m.expires_at,
            browser_binding_hash: m.browser_binding_hash,
            pkce_verifier_enc: m.pkce_verifier_enc,
            ticket_used_at: m.ticket_used_at,
            completed_at: m.completed_at,
            organization_name: m.organization_name,
        }
    }
}

/// What a flow is for; every step that claims a flow checks it, so one kind cannot stand in
/// for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Connect,
    Reauthorize,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Connect => "CONNECT",
            Purpose::Reauthorize => "REAUTHORIZE",
        }
    }
}

pub struct NewFlow {
    pub purpose: Purpose,
    /// Shown on the connect confirmation page.
    pub organization_name: Option<String>,
    pub account_id: Option<Uuid>,
    pub ticket_hash: String,
    pub return_url: String,
    pub reconnect: bool,
    pub created_by: String,
    pub expires_at: DateTime<Utc>,
}

/// What presenting a ticket found.
#[derive(Debug)]
pub enum Ticket {
    /// First use, in time.
    Fresh(OAuthFlow),
    Expired(OAuthFlow),
    AlreadyUsed,
    Unknown,
}

impl WriteTx {
    pub async fn create_oauth_flow(&mut self, org: OrganizationId, f: NewFlow) -> AppResult<Uuid> {
        let id = Uuid::now_v7();
        let now = self.now();
        oauth_flow::Entity::insert(oauth_flow::ActiveModel {
            id: Set(id),
            organization_id: Set(org.0),
            purpose: Set(f.purpose.as_str().to_owned()),
            account_id: Set(f.account_id),
            ticket_hash: Set(f.ticket_hash),
            state_hash: Set(None),
            browser_binding_hash: Set(None),
            pkce_verifier_enc: Set(None),
            return_url: Set(f.return_url),
            reconnect: Set(f.reconnect),
            created_by: Set(f.created_by),
            expires_at: Set(f.expires_at),
            ticket_used_at: Set(None),
            completed_at: Set(None),
            outcome: Set(None),
            created_at: Set(now),
            organization_name: Set(f.organization_name),
        })
        .exec_without_returning(self.conn())
        .await?;
        Ok(id)
    }
}

impl Store {
    async fn flow_by_ticket(
        &self,
        ticket_hash: &str,
        purpose: Purpose,
    ) -> AppResult<Option<OAuthFlow>> {
        Ok(oauth_flow::Entity::find()
            .filter(oauth_flow::Column::TicketHash.eq(ticket_hash))
            .filter(oauth_flow::Column::Purpose.eq(purpose.as_str()))
            .one(self.conn())
            .await?
            .map(OAuthFlow::from))
    }

    /// What presenting a ticket of `purpose` would find, without using it (a page a link
    /// scanner may fetch).
    pub async fn peek_ticket(&self, ticket_hash: &str, purpose: Purpose) -> AppResult<Ticket> {
        let now = self.clock().now();
        Ok(match self.flow_by_ticket(ticket_hash, purpose).await? {
            None => Ticket::Unknown,
            Some(f) if f.completed_at.is_some() || f.ticket_used_at.is_some() => {
                Ticket::AlreadyUsed
            }
            Some(f) if f.expires_at < now => Ticket::Expired(f),
            Some(f) => Ticket::Fresh(f),
        })
    }

    /// Claims a ticket of `purpose`: only the first presentation gets `Fresh` (or `Expired`).
    pub async fn use_ticket(&self, ticket_hash: &str, purpose: Purpose) -> AppResult<Ticket> {
        let now = self.clock().now();
        let claimed = self
            .conn()
            .execute_raw(stmt(
                self.backend(),
                "UPDATE oauth_flow SET ticket_used_at = $1 WHERE ticket_hash = $2 AND purpose = $3 AND ticket_used_at IS NULL",
                [now.into(), ticket_hash.into(), purpose.as_str().into()],
            ))
            .await?
            .rows_affected();
        Ok(
            match (self.flow_by_ticket(ticket_hash, purpose).await?, claimed) {
                (None, _) => Ticket::Unknown,
                (Some(_), 0) => Ticket::AlreadyUsed,
                (Some(f), _) if f.expires_at < now => Ticket::Expired(f),
                (Some(f), _) => Ticket::Fresh(f),
            },
        )
    }

    /// Binds a started flow to its OAuth `state`, the browser's cookie and the PKCE verifier.
    pub async fn bind_flow(
        &self,
        flow: Uuid,
        state_hash: &str,
        browser_binding_hash: Option<&str>,
        verifier_enc: Option<Vec<u8>>,
        expires_at: DateTime<Utc>,
    ) -> AppResult<()> {
        oauth_flow::Entity::update_many()
            .col_expr(oauth_flow::Column::StateHash, state_hash.into())
            .col_expr(
                oauth_flow::Column::BrowserBindingHash,
                browser_binding_hash.map(str::to_owned).into(),
            )
            .col_expr(oauth_flow::Column::PkceVerifierEnc, verifier_enc.into())
            .col_expr(oauth_flow::Column::ExpiresAt, expires_at.into())
            .filter(oauth_flow::Column::Id.eq(flow))
            .exec(self.conn())
            .await?;
        Ok(())
    }

    pub async fn flow_by_state(
        &self,
        state_hash: &str,
        purpose: Purpose,
    ) -> AppResult<Option<OAuthFlow>> {
        Ok(oauth_flow::Entity::find()
            .filter(oauth_flow::Column::StateHash.eq(state_hash))
            .filter(oauth_flow::Column::Purpose.eq(purpose.as_str()))
            .one(self.conn())
            .await?
            .map(OAuthFlow::from))
    }

    /// Claims the completion of a flow; `false` when another request already completed it.
    pub async fn complete_flow(&self, flow: Uuid, outcome: FlowOutcome) -> AppResult<bool> {
        let now = self.clock().now();
        let n = self
            .conn()
            .execute_raw(stmt(
                self.backend(),
                "UPDATE oauth_flow SET completed_at = $1, outcome = $2, pkce_verifier_enc = NULL WHERE id = $3 AND completed_at IS NULL",
                [now.into(), outcome.as_str().into(), flow.into()],
            ))
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Records how a claimed flow ended.
    pub async fn set_flow_outcome(&self, flow: Uuid, outcome: FlowOutcome) -> AppResult<()> {
        oauth_flow::Entity::update_many()
            .col_expr(oauth_flow::Column::Outcome, outcome.as_str().into())
            .filter(oauth_flow::Column::Id.eq(flow))
            .exec(self.conn())
            .await?;
        Ok(())
    }

    /// Deletes flows that ended or expired before `before` (their retention is over); returns how
    /// many. Not tenant-scoped: housekeeping over every organization, like the read scheduler.
    pub async fn delete_flows_expired_before(&self, before: DateTime<Utc>) -> AppResult<u64> {
        Ok(oauth_flow::Entity::delete_many()
            .filter(oauth_flow::Column::ExpiresAt.lt(before))
            .exec(self.conn())
            .await?
            .rows_affected)
    }
}
