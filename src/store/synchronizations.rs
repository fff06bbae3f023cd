//! Owns Ponto synchronizations as rows: the ones `syncNow` started, followed until they end.

use crate::domain::ids::{AccountId, OrganizationId};
use crate::error::AppResult;
use crate::store::{WriteTx, update_in};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

/// A synchronization we asked Ponto for (`syncNow`).
pub struct NewSynchronization<'a> {
    pub ponto_id: &'a str,
    pub subtype: &'a str,
    pub status: &'a str,
    pub customer_ip: &'a str,
    pub actor: &'a str,
}

/// An error Ponto reported for a synchronization, as recorded with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordedError {
    pub code: String,
    pub detail: Option<String>,
    pub meta: Option<serde_json::Value>,
}

impl WriteTx {
    pub async fn record_synchronization(
        &mut self,
        org: OrganizationId,
        account: AccountId,
        sync: NewSynchronization<'_>,
    ) -> AppResult<()> {
        let NewSynchronization {
            ponto_id,
            subtype,
            status,
            customer_ip,
            actor,
        } = sync;
        use sea_orm::ActiveValue::Set;
        let now = self.now();
        entity::ponto_synchronization::Entity::insert(entity::ponto_synchronization::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            organization_id: Set(org.0),
            account_id: Set(account.0),
            ponto_id: Set(Some(ponto_id.to_owned())),
            subtype: Set(subtype.to_owned()),
            status: Set(status.to_owned()),
            errors: Set(None),
            customer_ip_address: Set(Some(customer_ip.to_owned())),
            requested_by: Set(actor.to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(self.conn())
        .await?;
        Ok(())
    }

    pub async fn update_synchronization(
        &mut self,
        org: OrganizationId,
        account: AccountId,
        ponto_id: &str,
        status: &str,
        errors: &[RecordedError],
    ) -> AppResult<()> {
        let now = self.now();
        let errors =
            (!errors.is_empty()).then(|| serde_json::to_string(errors).expect("errors serialize"));
        update_in::<entity::ponto_synchronization::Entity>(org)
            .col_expr(entity::ponto_synchronization::Column::Status, status.into())
            .col_expr(entity::ponto_synchronization::Column::Errors, errors.into())
            .col_expr(entity::ponto_synchronization::Column::UpdatedAt, now.into())
            .filter(entity::ponto_synchronization::Column::AccountId.eq(account.0))
            .filter(entity::ponto_synchronization::Column::PontoId.eq(ponto_id))
            .exec(self.conn())
            .await?;
        Ok(())
    }
}
