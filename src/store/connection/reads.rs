//! Owns the periodic read's bookkeeping on the connection row: which connections are due
//! (claimed once across instances with a lease), finishing a read, asking for one soon.

use crate::domain::ids::OrganizationId;
use crate::error::AppResult;
use crate::store::{Store, stmt, update_in};
use chrono::{DateTime, Utc};
use entity::ponto_connection;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

/// The usable-link rule (`ConnectionStatus::usable`) as a condition on connection rows: built
/// from the rule itself, so the SQL and the Rust answer cannot drift apart.
fn usable_link() -> sea_orm::Condition {
    use crate::domain::status::{BLOCKED_REASON, ConnectionStatus};
    let mut any = sea_orm::Condition::any();
    for status in ConnectionStatus::ALL {
        let is = ponto_connection::Column::Status.eq(status.as_str());
        if status.usable(None) {
            any = any.add(is);
        } else if status.usable(Some(BLOCKED_REASON)) {
            any = any.add(
                sea_orm::Condition::all()
                    .add(is)
                    .add(ponto_connection::Column::BrokenReason.eq(BLOCKED_REASON)),
            );
        }
    }
    any
}

impl Store {
    /// Claims connections whose periodic read is due: each is handed to one caller only, until
    /// `lease_until`. Links broken because Ponto blocked the organization are read too, so
    /// they recover when it is unblocked.
    pub async fn claim_due_reads(
        &self,
        owner: &str,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> AppResult<Vec<OrganizationId>> {
        let now = self.clock().now();
        let due: Vec<(uuid::Uuid, uuid::Uuid)> = ponto_connection::Entity::find()
            .select_only()
            .column(ponto_connection::Column::Id)
            .column(ponto_connection::Column::OrganizationId)
            .filter(usable_link())
            .filter(ponto_connection::Column::NextReadAt.lte(now))
            .filter(
                sea_orm::Condition::any()
                    .add(ponto_connection::Column::ReadLeaseUntil.is_null())
                    .add(ponto_connection::Column::ReadLeaseUntil.lt(now)),
            )
            .limit(limit)
            .into_tuple()
            .all(self.conn())
            .await?;
        let mut claimed = Vec::new();
        for (id, org) in due {
            let n = self
                .conn()
                .execute_raw(stmt(
                    self.backend(),
                    "UPDATE ponto_connection SET read_lease_until = $1, read_lease_owner = $2 \
                     WHERE id = $3 AND next_read_at <= $4 AND (read_lease_until IS NULL OR read_lease_until < $4)",
                    [lease_until.into(), owner.into(), id.into(), now.into()],
                ))
                .await?
                .rows_affected();
            if n == 1 {
                claimed.push(org.into());
            }
        }
        Ok(claimed)
    }

    /// Ends a read: releases the lease, records the outcome and schedules the next read —
    /// unless a read was asked for while this one ran (`read_soon` cleared the lease owner), in
    /// which case that earlier time stands. `owner` is the lease holder (`None`: an unclaimed
    /// read, which always schedules).
    pub async fn finish_read(
        &self,
        org: OrganizationId,
        owner: Option<&str>,
        next: Option<DateTime<Utc>>,
        error: Option<(&str, &str)>,
    ) -> AppResult<()> {
        let now = self.clock().now();
        self.conn()
            .execute_raw(stmt(
                self.backend(),
                "UPDATE ponto_connection SET \
                 next_read_at = CASE WHEN $1 IS NULL OR read_lease_owner = $1 THEN $2 ELSE next_read_at END, \
                 read_lease_until = NULL, read_lease_owner = NULL, last_read_at = $3, last_read_error = $4, \
                 last_read_error_code = $5 WHERE organization_id = $6",
                [
                    owner.map(str::to_owned).into(),
                    next.into(),
                    now.into(),
                    error.map(|(_, words)| words.to_owned()).into(),
                    error.map(|(code, _)| code.to_owned()).into(),
                    org.0.into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Makes a connection's read due now (after linking, after a synchronization).
    pub async fn read_soon(&self, org: OrganizationId) -> AppResult<()> {
        let now = self.clock().now();
        update_in::<ponto_connection::Entity>(org)
            .col_expr(ponto_connection::Column::NextReadAt, Some(now).into())
            // Tells a read in flight that it must not push this one back (see `finish_read`).
            .col_expr(
                ponto_connection::Column::ReadLeaseOwner,
                Option::<String>::None.into(),
            )
            .exec(self.conn())
            .await?;
        Ok(())
    }
}
