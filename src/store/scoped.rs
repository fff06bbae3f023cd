//! Owns tenant scoping of queries: every table owned by an organization names its column once
//! (`Tenant`), and queries on it start from `find_in`, `update_in` or `delete_in` (or use
//! `owned_by` in a condition) instead of writing the organization filter by hand — in the
//! spirit of svix-server's `secure_find`.

use crate::domain::ids::OrganizationId;
use entity::{
    bank_account, bank_transaction, event, invoice, match_suggestion, oauth_flow, payment_match,
    ponto_connection, ponto_synchronization, transaction_key, webhook_delivery, webhook_endpoint,
};
use sea_orm::sea_query::SimpleExpr;
use sea_orm::{ColumnTrait, DeleteMany, EntityTrait, QueryFilter, Select, UpdateMany};

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
    bank_account,
    bank_transaction,
    event,
    invoice,
    match_suggestion,
    oauth_flow,
    payment_match,
    ponto_connection,
    ponto_synchronization,
    transaction_key,
    webhook_delivery,
    webhook_endpoint,
);

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
