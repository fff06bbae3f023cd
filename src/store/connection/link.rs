//! Owns the link's state changes as rows: the state changes of linking, breaking and
//! disconnecting — each written with its `connection.*` event in one transaction. (The sealed
//! tokens and the refresh lease are `tokens`'.)

use super::status_of;
use crate::domain::event::{ConnectionData, ConnectionEvent, Event};
use crate::domain::ids::{AccountId, ConnectionId, OrganizationId};
use crate::domain::problem::Problem;
use crate::domain::status::{AccountStatus, ConnectionStatus};
use crate::error::{AppError, AppResult};
use crate::store::accounts::{Account, AccountUpsert, parse_problems};
use crate::store::{WriteTx, find_in, update_in};
use chrono::{DateTime, Utc};
use entity::{bank_account, ponto_connection};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
};

/// What a successful authorization brings: the Ponto organization, sealed tokens and accounts.
pub struct Link {
    /// The connection row's id (the tokens are sealed for it); created if new.
    pub connection_id: ConnectionId,
    pub ponto_organization_id: String,
    pub access_enc: Vec<u8>,
    pub refresh_enc: Vec<u8>,
    pub access_expires_at: DateTime<Utc>,
    pub scope: String,
    pub accounts: Vec<AccountUpsert>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    Linked {
        accounts: Vec<Account>,
        no_accounts: bool,
    },
    /// The Ponto organization is linked to another tenant: nothing was stored.
    Conflict,
}

impl WriteTx {
    /// Appends a `connection.*` event about connection `id`.
    async fn announce_connection(
        &mut self,
        org: OrganizationId,
        kind: ConnectionEvent,
        id: ConnectionId,
        status: ConnectionStatus,
        problems: &[String],
        reason: Option<&str>,
    ) -> AppResult<()> {
        let data = ConnectionData {
            connection_id: id.to_string(),
            status: status.as_str().to_owned(),
            problems: problems.to_vec(),
            reason: reason.map(str::to_owned),
        };
        self.append_event(org, &Event::connection(kind, data), None)
            .await?;
        Ok(())
    }

    /// After the link is (again) CONNECTED with `problems`: `no_accounts_activated` when that
    /// problem appears (or on every new link that has it), `restored` when a problem cleared.
    async fn announce_health(
        &mut self,
        org: OrganizationId,
        id: ConnectionId,
        problems: &[String],
        before: (ConnectionStatus, &[String]),
        new_link: bool,
    ) -> AppResult<()> {
        let no_accounts = Problem::NoAccountsActivated.code();
        let (was_broken, had) = (
            before.0 == ConnectionStatus::Broken,
            before.1.iter().any(|p| p == no_accounts),
        );
        let has = problems.iter().any(|p| p == no_accounts);
        let kind = if has && (new_link || !had || was_broken) {
            ConnectionEvent::NoAccountsActivated
        } else if !has && (had || was_broken) {
            ConnectionEvent::Restored
        } else {
            return Ok(());
        };
        self.announce_connection(org, kind, id, ConnectionStatus::Connected, problems, None)
            .await
    }

    /// Marks the link BROKEN (refresh refused, integration revoked, organization blocked), once.
    pub async fn mark_broken(&mut self, org: OrganizationId, reason: &str) -> AppResult<()> {
        // The event log before the connection row (ARCHITECTURE invariant 5).
        self.lock_event_log(org).await?;
        let m = self.connection_model(org).await?;
        if matches!(
            status_of(&m)?,
            ConnectionStatus::Broken | ConnectionStatus::Disconnected
        ) {
            return Ok(());
        }
        let now = self.now();
        let id: ConnectionId = m.id.into();
        let problems = vec![Problem::ConnectionBroken.code().to_owned()];
        let mut am = m.into_active_model();
        am.status = Set(ConnectionStatus::Broken.as_str().into());
        am.problems = Set(serde_json::to_string(&problems).expect("strings"));
        am.broken_reason = Set(Some(reason.to_owned()));
        am.broken_at = Set(Some(now));
        am.refresh_lease_until = Set(None);
        am.refresh_lease_owner = Set(None);
        am.updated_at = Set(now);
        am.update(self.conn()).await?;
        self.announce_connection(
            org,
            ConnectionEvent::Broken,
            id,
            ConnectionStatus::Broken,
            &problems,
            Some(reason),
        )
        .await?;
        Ok(())
    }

    /// Records a completed authorization: tokens, the Ponto organization and its accounts —
    /// re-attached by Ponto id, else by IBAN and currency, so a reconnect keeps account ids,
    /// history and matches. Accounts no longer shared are marked REVOKED, never deleted.
    pub async fn link_connection(
        &mut self,
        org: OrganizationId,
        link: Link,
    ) -> AppResult<LinkOutcome> {
        // The event log before any connection or account row (ARCHITECTURE invariant 5).
        self.lock_event_log(org).await?;
        // A link the other tenant disconnected does not hold the Ponto organization: it only
        // remembers it (so Ponto's late events about it are recognised and ignored).
        let taken = ponto_connection::Entity::find()
            .filter(
                ponto_connection::Column::PontoOrganizationId
                    .eq(link.ponto_organization_id.as_str()),
            )
            .filter(ponto_connection::Column::OrganizationId.ne(org.0))
            .filter(ponto_connection::Column::Status.ne(ConnectionStatus::Disconnected.as_str()))
            .one(self.conn())
            .await?;
        if taken.is_some() {
            return Ok(LinkOutcome::Conflict);
        }
        ponto_connection::Entity::update_many()
            .col_expr(
                ponto_connection::Column::PontoOrganizationId,
                Option::<String>::None.into(),
            )
            .filter(
                ponto_connection::Column::PontoOrganizationId
                    .eq(link.ponto_organization_id.as_str()),
            )
            .filter(ponto_connection::Column::OrganizationId.ne(org.0))
            .exec(self.conn())
            .await?;
        let m = match self.connection_model(org).await {
            Ok(m) => m,
            Err(AppError::NotFound(_)) => self.insert_connection(org, link.connection_id).await?,
            Err(e) => return Err(e),
        };
        let id: ConnectionId = m.id.into();
        if id != link.connection_id {
            return Err(AppError::internal(
                "tokens sealed for another connection row",
            ));
        }
        let (previous_status, previous_problems) = (status_of(&m)?, parse_problems(&m.problems));
        let now = self.now();

        let mut kept: Vec<AccountId> = Vec::new();
        let mut accounts = Vec::new();
        for a in link.accounts {
            self.reattach_by_iban(org, &a, &kept).await?;
            let (_, account) = self.upsert_account(org, Some(id), a).await?;
            self.set_account_status(org, account.id, AccountStatus::Active, None)
                .await?;
            kept.push(account.id);
            accounts.push(account);
        }
        let others: Vec<uuid::Uuid> = find_in::<bank_account::Entity>(org)
            .filter(bank_account::Column::Status.ne(AccountStatus::Revoked.as_str()))
            .all(self.conn())
            .await?
            .into_iter()
            .map(|a| a.id)
            .filter(|a| !kept.iter().any(|k| k.0 == *a))
            .collect();
        for a in others {
            self.set_account_status(org, a.into(), AccountStatus::Revoked, Some(now))
                .await?;
        }

        let no_accounts = accounts.is_empty();
        let problems: Vec<String> = if no_accounts {
            vec![Problem::NoAccountsActivated.code().to_owned()]
        } else {
            vec![]
        };
        let mut am = m.into_active_model();
        am.status = Set(ConnectionStatus::Connected.as_str().into());
        am.problems = Set(serde_json::to_string(&problems).expect("strings"));
        am.ponto_organization_id = Set(Some(link.ponto_organization_id));
        am.access_token_enc = Set(Some(link.access_enc));
        am.refresh_token_enc = Set(Some(link.refresh_enc));
        am.access_token_expires_at = Set(Some(link.access_expires_at));
        am.token_scope = Set(Some(link.scope));
        am.token_refreshed_at = Set(Some(now));
        am.broken_reason = Set(None);
        am.connected_at = Set(Some(now));
        am.disconnected_at = Set(None);
        am.refresh_lease_until = Set(None);
        am.refresh_lease_owner = Set(None);
        am.next_read_at = Set(Some(now));
        // A read in flight must not push the first read of the new link back (`finish_read`).
        am.read_lease_owner = Set(None);
        am.updated_at = Set(now);
        am.update(self.conn()).await?;

        self.announce_connection(
            org,
            ConnectionEvent::Connected,
            id,
            ConnectionStatus::Connected,
            &problems,
            None,
        )
        .await?;
        self.announce_health(
            org,
            id,
            &problems,
            (previous_status, &previous_problems),
            true,
        )
        .await?;
        Ok(LinkOutcome::Linked {
            accounts,
            no_accounts,
        })
    }

    async fn insert_connection(
        &mut self,
        org: OrganizationId,
        id: ConnectionId,
    ) -> AppResult<ponto_connection::Model> {
        let now = self.now();
        let am = ponto_connection::ActiveModel {
            id: Set(id.0),
            organization_id: Set(org.0),
            status: Set(ConnectionStatus::NotConnected.as_str().into()),
            ponto_organization_id: Set(None),
            access_token_enc: Set(None),
            refresh_token_enc: Set(None),
            access_token_expires_at: Set(None),
            token_scope: Set(None),
            problems: Set("[]".into()),
            broken_reason: Set(None),
            connected_at: Set(None),
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
        };
        Ok(am.insert(self.conn()).await?)
    }

    /// An account Ponto reports under an id we do not know, but with the IBAN and currency of
    /// one of ours that is not already matched in this link: it is that account.
    async fn reattach_by_iban(
        &mut self,
        org: OrganizationId,
        a: &AccountUpsert,
        kept: &[AccountId],
    ) -> AppResult<()> {
        let known = find_in::<bank_account::Entity>(org)
            .filter(bank_account::Column::PontoId.eq(a.ponto_id.as_str()))
            .one(self.conn())
            .await?;
        let Some(reference) = a.reference.as_deref().filter(|_| known.is_none()) else {
            return Ok(());
        };
        let candidate = find_in::<bank_account::Entity>(org)
            .filter(bank_account::Column::Reference.eq(reference))
            .filter(bank_account::Column::Currency.eq(a.currency.code()))
            .all(self.conn())
            .await?
            .into_iter()
            .find(|m| !kept.iter().any(|k| k.0 == m.id));
        if let Some(m) = candidate {
            let mut am = m.into_active_model();
            am.ponto_id = Set(a.ponto_id.clone());
            am.update(self.conn()).await?;
        }
        Ok(())
    }

    /// After a successful read: the link is up again (a block was lifted) and its problems are
    /// `problems`; `connection.no_accounts_activated` / `connection.restored` on transitions.
    pub async fn set_connection_health(
        &mut self,
        org: OrganizationId,
        problems: Vec<String>,
    ) -> AppResult<()> {
        let m = self.connection_model(org).await?;
        let id: ConnectionId = m.id.into();
        let previous_status = status_of(&m)?;
        if !previous_status.usable(m.broken_reason.as_deref()) {
            return Ok(());
        }
        let was_broken = previous_status == ConnectionStatus::Broken;
        let before = parse_problems(&m.problems);
        if !was_broken && before == problems {
            return Ok(());
        }
        let now = self.now();
        let mut am = m.into_active_model();
        am.status = Set(ConnectionStatus::Connected.as_str().into());
        am.problems = Set(serde_json::to_string(&problems).expect("strings"));
        am.broken_reason = Set(None);
        am.updated_at = Set(now);
        am.update(self.conn()).await?;
        self.announce_health(org, id, &problems, (previous_status, &before), false)
            .await
    }

    /// Unlinks on request: tokens dropped, accounts revoked, data kept.
    pub async fn disconnect(&mut self, org: OrganizationId) -> AppResult<bool> {
        // The event log before the connection and account rows (ARCHITECTURE invariant 5).
        self.lock_event_log(org).await?;
        let m = self.connection_model(org).await?;
        if matches!(
            status_of(&m)?,
            ConnectionStatus::Disconnected | ConnectionStatus::NotConnected
        ) {
            return Ok(false);
        }
        let now = self.now();
        let id: ConnectionId = m.id.into();
        let mut am = m.into_active_model();
        am.status = Set(ConnectionStatus::Disconnected.as_str().into());
        am.problems = Set("[]".into());
        am.access_token_enc = Set(None);
        am.refresh_token_enc = Set(None);
        am.access_token_expires_at = Set(None);
        am.disconnected_at = Set(Some(now));
        am.next_read_at = Set(None);
        am.updated_at = Set(now);
        am.update(self.conn()).await?;
        update_in::<bank_account::Entity>(org)
            .col_expr(
                bank_account::Column::Status,
                AccountStatus::Revoked.as_str().into(),
            )
            .col_expr(bank_account::Column::RevokedAt, Some(now).into())
            .col_expr(bank_account::Column::UpdatedAt, now.into())
            .filter(bank_account::Column::Status.ne(AccountStatus::Revoked.as_str()))
            .exec(self.conn())
            .await?;
        self.announce_connection(
            org,
            ConnectionEvent::Disconnected,
            id,
            ConnectionStatus::Disconnected,
            &[],
            Some("disconnectPonto"),
        )
        .await?;
        Ok(true)
    }
}
