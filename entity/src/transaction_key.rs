//! Entity `transaction_key`: one thing a bank transaction can be found by (a structured reference, a number-like token, its counterparty's name), so reconciliation looks transactions up by index.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "transaction_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub transaction_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub organization_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
