//! Owns tenants: created on first authenticated use from the token's organization claim.

use super::{Store, WriteTx, stmt};
use crate::domain::ids::OrganizationId;
use crate::domain::remittance::ReferenceStyle;
use crate::error::{AppError, AppResult};
use entity::organization;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    pub external_id: String,
    pub name: Option<String>,
    /// What reconciliation may write off (or leave over) on an invoice, in minor units.
    pub match_tolerance_minor: i64,
    /// The style of the references generated for sales invoices that have none.
    pub reference_style: ReferenceStyle,
}

impl From<organization::Model> for Organization {
    fn from(m: organization::Model) -> Self {
        Self {
            id: m.id.into(),
            external_id: m.external_id,
            name: m.name,
            match_tolerance_minor: m.match_tolerance_minor,
            reference_style: ReferenceStyle::parse(&m.reference_style).unwrap_or_default(),
        }
    }
}

impl Store {
    /// The tenant named `external_id`, created (with its event sequence) if new. Safe under
    /// concurrency: the insert is `ON CONFLICT DO NOTHING`, then the row is read back.
    pub async fn ensure_organization(&self, external_id: &str) -> AppResult<OrganizationId> {
        if let Some(id) = self.find_organization_id(external_id).await? {
            return Ok(id);
        }
        let tx = self.begin_write().await?;
        let now = tx.now();
        let id = OrganizationId::new();
        let backend = self.backend();
        let inserted = tx
            .conn()
            .execute_raw(stmt(
                backend,
                "INSERT INTO organization (id, external_id, match_tolerance_minor, created_at, updated_at) \
                 VALUES ($1, $2, 0, $3, $3) ON CONFLICT (external_id) DO NOTHING",
                [id.0.into(), external_id.into(), now.into()],
            ))
            .await?
            .rows_affected();
        if inserted == 1 {
            tx.conn()
                .execute_raw(stmt(
                    backend,
                    "INSERT INTO organization_event_seq (organization_id, last_seq) VALUES ($1, 0)",
                    [id.0.into()],
                ))
                .await?;
        }
        tx.commit().await?;
        if inserted == 1 {
            tracing::info!(organization = %id, "organization created on first use");
            return Ok(id);
        }
        self.find_organization_id(external_id)
            .await?
            .ok_or_else(|| crate::error::AppError::internal("organization vanished after insert"))
    }

    /// Sets the organization's reconciliation settings. They apply to the runs that follow;
    /// matches already made stay as they are.
    pub async fn set_reconciliation_settings(
        &self,
        org: OrganizationId,
        tolerance_minor: i64,
        style: ReferenceStyle,
    ) -> AppResult<()> {
        let mut tx = self.begin_write().await?;
        tx.set_reconciliation_settings(org, tolerance_minor, style)
            .await?;
        tx.commit().await
    }

    async fn find_organization_id(&self, external_id: &str) -> AppResult<Option<OrganizationId>> {
        let id: Option<uuid::Uuid> = organization::Entity::find()
            .select_only()
            .column(organization::Column::Id)
            .filter(organization::Column::ExternalId.eq(external_id))
            .into_tuple()
            .one(self.conn())
            .await?;
        Ok(id.map(OrganizationId))
    }

    pub async fn organization(&self, org: OrganizationId) -> AppResult<Organization> {
        organization_by_id(self.conn(), org).await
    }
}

async fn organization_by_id(
    conn: &impl ConnectionTrait,
    org: OrganizationId,
) -> AppResult<Organization> {
    organization::Entity::find_by_id(org.0)
        .one(conn)
        .await?
        .map(Organization::from)
        .ok_or_else(|| AppError::not_found("organization"))
}

impl WriteTx {
    pub async fn organization_in(&self, org: OrganizationId) -> AppResult<Organization> {
        organization_by_id(self.conn(), org).await
    }

    /// Sets the organization's reconciliation settings. They apply to the runs that follow;
    /// matches already made stay as they are.
    pub async fn set_reconciliation_settings(
        &mut self,
        org: OrganizationId,
        tolerance_minor: i64,
        style: ReferenceStyle,
    ) -> AppResult<()> {
        if tolerance_minor < 0 {
            return Err(AppError::internal("a negative tolerance reached the store"));
        }
        let now = self.now();
        organization::Entity::update_many()
            .col_expr(
                organization::Column::MatchToleranceMinor,
                Expr::value(tolerance_minor),
            )
            .col_expr(
                organization::Column::ReferenceStyle,
                Expr::value(style.as_str()),
            )
            .col_expr(organization::Column::UpdatedAt, Expr::value(now))
            .filter(organization::Column::Id.eq(org.0))
            .exec(self.conn())
            .await?;
        Ok(())
    }
}
