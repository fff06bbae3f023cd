//! Entity `ponto_synchronization`: A Ponto synchronization we requested for an account.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ponto_synchronization")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub account_id: Uuid,
    pub ponto_id: Option<String>,
    pub subtype: String,
    pub status: String,
    #[sea_orm(column_type = "Text")]
    pub errors: Option<String>,
    pub customer_ip_address: Option<String>,
    pub requested_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
