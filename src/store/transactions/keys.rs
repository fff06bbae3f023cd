//! Owns the `transaction_key` rows: what each transaction can be found by (its references,
//! number-like tokens and counterparty name), written with the transaction and read by
//! reconciliation to find the payments of an invoice through an index.

use crate::domain::ids::{OrganizationId, TransactionId};
use crate::error::AppResult;
use crate::store::{WriteTx, find_in};
use entity::transaction_key;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use std::collections::BTreeSet;

impl WriteTx {
    /// Replaces the keys of the `rekeyed` transactions and adds `keys`.
    pub(super) async fn write_lookup_keys(
        &mut self,
        org: OrganizationId,
        rekeyed: &[uuid::Uuid],
        keys: Vec<(TransactionId, String)>,
    ) -> AppResult<()> {
        for chunk in rekeyed.chunks(500) {
            transaction_key::Entity::delete_many()
                .filter(transaction_key::Column::OrganizationId.eq(org.0))
                .filter(transaction_key::Column::TransactionId.is_in(chunk.iter().copied()))
                .exec(self.conn())
                .await?;
        }
        let rows: Vec<transaction_key::ActiveModel> = keys
            .into_iter()
            .map(|(id, key)| transaction_key::ActiveModel {
                transaction_id: Set(id.0),
                key: Set(key),
                organization_id: Set(org.0),
            })
            .collect();
        for chunk in rows.chunks(500) {
            transaction_key::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(self.conn())
                .await?;
        }
        Ok(())
    }

    /// The transactions of `org` holding any of `keys`.
    pub async fn transactions_with_keys(
        &self,
        org: OrganizationId,
        keys: &[String],
    ) -> AppResult<BTreeSet<TransactionId>> {
        let mut out = BTreeSet::new();
        for chunk in keys.chunks(500) {
            let ids: Vec<uuid::Uuid> = find_in::<transaction_key::Entity>(org)
                .select_only()
                .column(transaction_key::Column::TransactionId)
                .filter(transaction_key::Column::Key.is_in(chunk.iter().cloned()))
                .distinct()
                .into_tuple()
                .all(self.conn())
                .await?;
            out.extend(ids.into_iter().map(TransactionId::from));
        }
        Ok(out)
    }
}
