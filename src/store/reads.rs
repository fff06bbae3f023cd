//! Owns the bookkeeping of reading Ponto: which connections are due (claimed once across
//! instances with a lease), marking transactions Ponto no longer reports (never deleting),
//! retiring pending transactions, and the per-account problems and sync results.

use super::{Store, WriteTx, stmt};
use super::{find_in, owned_by, update_in};
use crate::domain::ids::{AccountId, OrganizationId, TransactionId};
use crate::error::AppResult;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{bank_account, bank_transaction, ponto_connection};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashSet;

/// What happened to a pending transaction Ponto stopped listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retired {
    SupersededBy(TransactionId),
    Removed,
}

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
        next: DateTime<Utc>,
        error: Option<&str>,
    ) -> AppResult<()> {
        let now = self.clock().now();
        self.conn()
            .execute_raw(stmt(
                self.backend(),
                "UPDATE ponto_connection SET \
                 next_read_at = CASE WHEN $1 IS NULL OR read_lease_owner = $1 THEN $2 ELSE next_read_at END, \
                 read_lease_until = NULL, read_lease_owner = NULL, last_read_at = $3, last_read_error = $4 \
                 WHERE organization_id = $5",
                [
                    owner.map(str::to_owned).into(),
                    next.into(),
                    now.into(),
                    error.map(str::to_owned).into(),
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

    /// Claims the per-account `syncNow` slot until `until`; `Err(next)` when it is taken.
    pub async fn claim_sync_slot(
        &self,
        org: OrganizationId,
        account: AccountId,
        until: DateTime<Utc>,
    ) -> AppResult<Result<(), DateTime<Utc>>> {
        use bank_account::Column as C;
        let now = self.clock().now();
        let n = update_in::<bank_account::Entity>(org)
            .col_expr(C::NextSyncAllowedAt, Some(until).into())
            .filter(C::Id.eq(account.0))
            .filter(
                sea_orm::Condition::any()
                    .add(C::NextSyncAllowedAt.is_null())
                    .add(C::NextSyncAllowedAt.lte(now)),
            )
            .exec(self.conn())
            .await?
            .rows_affected;
        if n == 1 {
            return Ok(Ok(()));
        }
        let next: Option<Option<DateTime<Utc>>> = find_in::<bank_account::Entity>(org)
            .filter(bank_account::Column::Id.eq(account.0))
            .select_only()
            .column(bank_account::Column::NextSyncAllowedAt)
            .into_tuple()
            .one(self.conn())
            .await?;
        Ok(Err(next.flatten().unwrap_or(now)))
    }
}

impl Store {
    /// Gives a `syncNow` slot back (nothing was asked of Ponto).
    pub async fn reset_sync_slot(&self, org: OrganizationId, account: AccountId) -> AppResult<()> {
        update_in::<bank_account::Entity>(org)
            .col_expr(
                bank_account::Column::NextSyncAllowedAt,
                Option::<DateTime<Utc>>::None.into(),
            )
            .filter(bank_account::Column::Id.eq(account.0))
            .exec(self.conn())
            .await?;
        Ok(())
    }

    /// Records how reading an account's transactions ended: `Ok(at)` sets `last_synced_at`
    /// (which also marks its first import complete) and clears the error; `Err` keeps the time
    /// and records why.
    pub async fn finish_account_read(
        &self,
        org: OrganizationId,
        account: AccountId,
        outcome: Result<DateTime<Utc>, &str>,
    ) -> AppResult<()> {
        let q =
            update_in::<bank_account::Entity>(org).filter(bank_account::Column::Id.eq(account.0));
        let q = match outcome {
            Ok(at) => q
                .col_expr(bank_account::Column::LastSyncedAt, Some(at).into())
                .col_expr(
                    bank_account::Column::LastSyncError,
                    Option::<String>::None.into(),
                ),
            Err(e) => q.col_expr(
                bank_account::Column::LastSyncError,
                Some(e.to_owned()).into(),
            ),
        };
        q.exec(self.conn()).await?;
        Ok(())
    }
}

/// A synchronization we asked Ponto for (`syncNow`).
pub struct NewSynchronization<'a> {
    pub ponto_id: &'a str,
    pub subtype: &'a str,
    pub status: &'a str,
    pub customer_ip: &'a str,
    pub actor: &'a str,
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
        errors: &[crate::ponto::error::ApiErrorEntry],
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

    /// Marks removed the booked transactions of `account` dated from `since` that Ponto did not
    /// report in a complete read of that window. Returns them.
    pub async fn mark_missing_removed(
        &mut self,
        org: OrganizationId,
        account: AccountId,
        since: NaiveDate,
        reported: &HashSet<String>,
    ) -> AppResult<Vec<TransactionId>> {
        let candidates: Vec<(uuid::Uuid, String)> = find_in::<bank_transaction::Entity>(org)
            .select_only()
            .column(bank_transaction::Column::Id)
            .column(bank_transaction::Column::PontoId)
            .filter(bank_transaction::Column::AccountId.eq(account.0))
            .filter(bank_transaction::Column::Status.eq("BOOKED"))
            .filter(bank_transaction::Column::RemovedAt.is_null())
            .filter(bank_transaction::Column::SortDate.gte(since))
            .into_tuple()
            .all(self.conn())
            .await?;
        let gone: Vec<uuid::Uuid> = candidates
            .into_iter()
            .filter(|(_, p)| !reported.contains(p))
            .map(|(id, _)| id)
            .collect();
        self.set_removed(org, &gone).await?;
        Ok(gone.into_iter().map(Into::into).collect())
    }

    async fn set_removed(&mut self, org: OrganizationId, ids: &[uuid::Uuid]) -> AppResult<()> {
        let now = self.now();
        for chunk in ids.chunks(500) {
            update_in::<bank_transaction::Entity>(org)
                .col_expr(bank_transaction::Column::RemovedAt, Some(now).into())
                .col_expr(bank_transaction::Column::UpdatedAt, now.into())
                .filter(bank_transaction::Column::Id.is_in(chunk.iter().copied()))
                .exec(self.conn())
                .await?;
        }
        Ok(())
    }

    /// Retires the live pending transactions of `account` that Ponto no longer lists: superseded
    /// by the booked one with the same end-to-end id, else by the unique booked one with the same
    /// amount, currency, counterparty account and an execution date within 3 days, else removed.
    pub async fn retire_pending(
        &mut self,
        org: OrganizationId,
        account: AccountId,
        listed: &HashSet<String>,
    ) -> AppResult<Vec<(TransactionId, Retired)>> {
        let stale: Vec<bank_transaction::Model> = find_in::<bank_transaction::Entity>(org)
            .filter(bank_transaction::Column::AccountId.eq(account.0))
            .filter(
                bank_transaction::Column::Status
                    .eq(crate::domain::transaction::TransactionStatus::Pending.as_str()),
            )
            .filter(bank_transaction::Column::RemovedAt.is_null())
            .filter(bank_transaction::Column::SupersededById.is_null())
            .all(self.conn())
            .await?
            .into_iter()
            .filter(|p| !listed.contains(&p.ponto_id))
            .collect();
        let mut claimed: HashSet<uuid::Uuid> = find_in::<bank_transaction::Entity>(org)
            .select_only()
            .column(bank_transaction::Column::SupersededById)
            .filter(bank_transaction::Column::AccountId.eq(account.0))
            .filter(bank_transaction::Column::SupersededById.is_not_null())
            .into_tuple::<Option<uuid::Uuid>>()
            .all(self.conn())
            .await?
            .into_iter()
            .flatten()
            .collect();
        let mut out = Vec::new();
        for p in stale {
            let booked = |q: sea_orm::Select<bank_transaction::Entity>| {
                q.filter(owned_by::<bank_transaction::Entity>(org))
                    .filter(bank_transaction::Column::AccountId.eq(account.0))
                    .filter(bank_transaction::Column::Status.eq("BOOKED"))
                    .filter(bank_transaction::Column::RemovedAt.is_null())
            };
            let mut by = None;
            if let Some(e2e) = p.end_to_end_id.as_deref().filter(|e| !e.is_empty()) {
                by = booked(bank_transaction::Entity::find())
                    .filter(bank_transaction::Column::EndToEndId.eq(e2e))
                    .one(self.conn())
                    .await?
                    .map(|b| b.id);
            }
            if by.is_none()
                && let Some(day) = p.execution_date.or(p.value_date)
            {
                let mut q = booked(bank_transaction::Entity::find())
                    .filter(bank_transaction::Column::AmountMinor.eq(p.amount_minor))
                    .filter(bank_transaction::Column::Currency.eq(p.currency.as_str()))
                    .filter(
                        bank_transaction::Column::ExecutionDate
                            .between(day - Duration::days(3), day + Duration::days(3)),
                    );
                q = match p.counterpart_reference.as_deref() {
                    Some(r) => q.filter(bank_transaction::Column::CounterpartReference.eq(r)),
                    None => q.filter(bank_transaction::Column::CounterpartReference.is_null()),
                };
                // A booked transaction settles one pending one: those already claimed are out.
                let found: Vec<uuid::Uuid> = q
                    .all(self.conn())
                    .await?
                    .into_iter()
                    .map(|b| b.id)
                    .filter(|b| !claimed.contains(b))
                    .collect();
                if let [only] = found[..] {
                    by = Some(only);
                }
            }
            let now = self.now();
            let outcome = match by {
                Some(b) => {
                    claimed.insert(b);
                    update_in::<bank_transaction::Entity>(org)
                        .col_expr(bank_transaction::Column::SupersededById, Some(b).into())
                        .col_expr(bank_transaction::Column::UpdatedAt, now.into())
                        .filter(bank_transaction::Column::Id.eq(p.id))
                        .exec(self.conn())
                        .await?;
                    Retired::SupersededBy(b.into())
                }
                None => {
                    self.set_removed(org, &[p.id]).await?;
                    Retired::Removed
                }
            };
            out.push((p.id.into(), outcome));
        }
        Ok(out)
    }

    /// Sets an account's problem codes.
    pub async fn set_account_problems(
        &mut self,
        org: OrganizationId,
        account: AccountId,
        problems: &[String],
    ) -> AppResult<()> {
        update_in::<bank_account::Entity>(org)
            .col_expr(
                bank_account::Column::Problems,
                serde_json::to_string(problems).expect("strings").into(),
            )
            .filter(bank_account::Column::Id.eq(account.0))
            .exec(self.conn())
            .await?;
        Ok(())
    }
}
