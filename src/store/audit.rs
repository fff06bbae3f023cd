//! Owns the audit trail of reconciliation: one row per thing a person did (matched, unmatched,
//! dismissed, ignored, restored, rules, settings), written in the same transaction as the change
//! it records, and read newest first.

use super::page::{self, Page, PageArgs};
use super::{Store, WriteTx, owned_by};
use crate::domain::ids::{AuditEntryId, OrganizationId};
use crate::domain::status::AuditAction;
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::audit_entry;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, QueryFilter};

/// One recorded action.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: AuditEntryId,
    pub action: AuditAction,
    /// Who: the token's subject.
    pub actor: String,
    /// What was acted on: its GraphQL type name and id.
    pub subject_type: String,
    pub subject_id: uuid::Uuid,
    /// Why, when the person said.
    pub reason: Option<String>,
    /// What changed.
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<audit_entry::Model> for AuditEntry {
    type Error = AppError;
    fn try_from(m: audit_entry::Model) -> AppResult<Self> {
        Ok(Self {
            id: m.id.into(),
            action: AuditAction::parse(&m.action).ok_or_else(|| {
                AppError::internal(format!(
                    "unknown audit action {:?} in the database",
                    m.action
                ))
            })?,
            actor: m.actor,
            subject_type: m.subject_type,
            subject_id: m.subject_id,
            reason: m.reason,
            details: serde_json::from_str(&m.details)
                .map_err(|e| AppError::internal(format!("stored audit details: {e}")))?,
            created_at: m.created_at,
        })
    }
}

/// What to record.
#[derive(Debug, Clone)]
pub struct Audit<'a> {
    pub action: AuditAction,
    pub actor: &'a str,
    pub subject_type: &'static str,
    pub subject_id: uuid::Uuid,
    pub reason: Option<&'a str>,
    pub details: serde_json::Value,
}

impl WriteTx {
    pub async fn audit(&mut self, org: OrganizationId, a: Audit<'_>) -> AppResult<()> {
        audit_entry::ActiveModel {
            id: Set(AuditEntryId::new().0),
            organization_id: Set(org.0),
            action: Set(a.action.as_str().to_owned()),
            actor: Set(a.actor.to_owned()),
            subject_type: Set(a.subject_type.to_owned()),
            subject_id: Set(a.subject_id),
            reason: Set(a.reason.map(str::to_owned)),
            details: Set(a.details.to_string()),
            created_at: Set(self.now()),
        }
        .insert(self.conn())
        .await?;
        Ok(())
    }
}

impl Store {
    /// One page of the organization's audit trail, newest first.
    pub async fn audit_entries(
        &self,
        org: OrganizationId,
        args: &PageArgs,
    ) -> AppResult<Page<AuditEntry>> {
        let select = audit_entry::Entity::find().filter(owned_by::<audit_entry::Entity>(org));
        page::fetch(self.conn(), select, None, audit_entry::Column::Id, args)
            .await?
            .try_map(AuditEntry::try_from)
    }
}
