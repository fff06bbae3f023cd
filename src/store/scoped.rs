//! Owns tenant scoping of queries: every table owned by an organization names its column once
//! (`Tenant`), and queries on it start from `find_in`, `update_in` or `delete_in` (or use
//! `owned_by` in a condition) instead of writing the organization filter by hand — in the
//! spirit of svix-server's `secure_find`.

use crate::domain::ids::OrganizationId;
use entity::{
    audit_entry, bank_account, bank_transaction, event, ignore_rule, invoice, match_suggestion,
    oauth_flow, payment_match, ponto_connection, ponto_synchronization, transaction_key,
    webhook_attempt, webhook_delivery, webhook_endpoint,
};
use sea_orm::sea_query::SimpleExpr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, DeleteMany, EntityTrait, QueryFilter, Select, UpdateMany,
};

/// A table whose rows belong to one organization.
pub(crate) trait Tenant: EntityTrait {
    /// Its `organization_id` column.
    fn organization_column() -> Self::Column;
}

macro_rules! tenant_tables {
    ($($table:ident),* $(,)?) => {$(
        impl Tenant for $table::Entity {
            fn organization_column() -> $table::Column {
                $table::Column::OrganizationId
            }
        }
    )*};
}

tenant_tables!(
    audit_entry,
    bank_account,
    bank_transaction,
    event,
    ignore_rule,
    invoice,
    match_suggestion,
    oauth_flow,
    payment_match,
    ponto_connection,
    ponto_synchronization,
    transaction_key,
    webhook_attempt,
    webhook_delivery,
    webhook_endpoint,
);

/// A tenant table keyed by a uuid `id`.
pub(crate) trait Keyed: Tenant {
    fn id_column() -> Self::Column;
    /// The organization a row belongs to.
    fn owner(row: &Self::Model) -> uuid::Uuid;
}

macro_rules! keyed_tables {
    ($($table:ident),* $(,)?) => {$(
        impl Keyed for $table::Entity {
            fn id_column() -> $table::Column {
                $table::Column::Id
            }
            fn owner(row: &$table::Model) -> uuid::Uuid {
                row.organization_id
            }
        }
    )*};
}

keyed_tables!(bank_account, bank_transaction, invoice);

/// Rows of `org` with these ids, 500 ids per statement. The statement names only the primary
/// key and rows of another organization are dropped here: with `organization_id = ?` beside
/// `id IN (…)`, SQLite sometimes walks the organization's index over all its rows instead of
/// looking the ids up — 5-6 ms instead of 1.3 for 91 ids in an organization of 20,000
/// transactions, growing with the organization (BENCHMARKS.md, reconciliation).
pub(crate) async fn find_ids_in<E: Keyed>(
    conn: &impl ConnectionTrait,
    org: OrganizationId,
    ids: impl IntoIterator<Item = uuid::Uuid>,
) -> Result<Vec<E::Model>, DbErr> {
    let ids: Vec<uuid::Uuid> = ids.into_iter().collect();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows = E::find()
            .filter(E::id_column().is_in(chunk.iter().copied()))
            .all(conn)
            .await?;
        out.extend(rows.into_iter().filter(|r| E::owner(r) == org.0));
    }
    Ok(out)
}

/// The condition "this row belongs to `org`".
pub(crate) fn owned_by<E: Tenant>(org: OrganizationId) -> SimpleExpr {
    E::organization_column().eq(org.0)
}

/// Rows of `org` only.
pub(crate) fn find_in<E: Tenant>(org: OrganizationId) -> Select<E> {
    E::find().filter(owned_by::<E>(org))
}

/// An update of `org`'s rows only.
pub(crate) fn update_in<E: Tenant>(org: OrganizationId) -> UpdateMany<E> {
    E::update_many().filter(owned_by::<E>(org))
}

/// A delete of `org`'s rows only.
#[allow(dead_code)] // no tenant row is deleted yet; the next rooms will
pub(crate) fn delete_in<E: Tenant>(org: OrganizationId) -> DeleteMany<E> {
    E::delete_many().filter(owned_by::<E>(org))
}
