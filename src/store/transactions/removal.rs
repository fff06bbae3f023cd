//! Owns what happens to transactions Ponto stops reporting: booked ones marked removed (never
//! deleted), pending ones retired — superseded by their booked successor, else removed.

use super::Transaction;
use crate::domain::ids::{AccountId, OrganizationId, TransactionId};
use crate::domain::transaction::TransactionStatus;
use crate::error::AppResult;
use crate::store::{WriteTx, find_in, owned_by, update_in};
use chrono::{Duration, NaiveDate};
use entity::bank_transaction;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashSet;

/// What happened to a pending transaction Ponto stopped listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retired {
    SupersededBy(TransactionId),
    Removed,
}

impl WriteTx {
    /// After a complete read of the window from `since`: a booked transaction of `account` that
    /// Ponto did not report is remembered as missing the first time and marked removed when the
    /// next read misses it too, so one incomplete answer from a bank never takes a payment away
    /// (a reported one is no longer missing). Returns the ones removed now, as they were.
    pub async fn mark_missing_removed(
        &mut self,
        org: OrganizationId,
        account: AccountId,
        since: NaiveDate,
        reported: &HashSet<String>,
    ) -> AppResult<Vec<Transaction>> {
        use bank_transaction::Column as C;
        let rows = find_in::<bank_transaction::Entity>(org)
            .filter(C::AccountId.eq(account.0))
            .filter(C::Status.eq(TransactionStatus::Booked.as_str()))
            .filter(C::RemovedAt.is_null())
            .filter(
                Condition::any()
                    .add(C::SortDate.gte(since))
                    .add(C::MissingSince.is_not_null()),
            )
            .all(self.conn())
            .await?;
        let (mut first_miss, mut back, mut gone) = (Vec::new(), Vec::new(), Vec::new());
        for m in rows {
            match (reported.contains(&m.ponto_id), m.missing_since.is_some()) {
                (true, true) => back.push(m.id),
                (true, false) => {}
                // Outside the window this read did not cover it: nothing is learnt.
                (false, _) if m.sort_date < since => {}
                (false, false) => first_miss.push(m.id),
                (false, true) => gone.push(Transaction::try_from(m)?),
            }
        }
        let now = self.now();
        for (ids, missing) in [(first_miss, Some(now)), (back, None)] {
            for chunk in ids.chunks(500) {
                update_in::<bank_transaction::Entity>(org)
                    .col_expr(C::MissingSince, missing.into())
                    .filter(C::Id.is_in(chunk.iter().copied()))
                    .exec(self.conn())
                    .await?;
            }
        }
        let ids: Vec<uuid::Uuid> = gone.iter().map(|t| t.id.0).collect();
        self.set_removed(org, &ids).await?;
        Ok(gone)
    }

    /// Retires the live pending transactions of `account` that Ponto no longer lists: superseded
    /// by the booked one with the same end-to-end id, else by the unique booked one with the same
    /// amount, currency, counterparty account and an execution date within 3 days, else removed.
    pub async fn retire_pending(
        &mut self,
        org: OrganizationId,
        account: AccountId,
        listed: &HashSet<String>,
    ) -> AppResult<Vec<(Transaction, Retired)>> {
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
                    .filter(bank_transaction::Column::Status.eq(TransactionStatus::Booked.as_str()))
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
                    self.carry_person_flags(org, &p, b.into()).await?;
                    Retired::SupersededBy(b.into())
                }
                None => {
                    self.set_removed(org, &[p.id]).await?;
                    Retired::Removed
                }
            };
            out.push((Transaction::try_from(p)?, outcome));
        }
        Ok(out)
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
}
