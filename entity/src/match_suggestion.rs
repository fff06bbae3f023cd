//! Entity `match_suggestion`: a likely payment the engine does not apply on its own, or a pending transaction that would pay an invoice once booked.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "match_suggestion")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub transaction_id: Uuid,
    pub invoice_id: Uuid,
    pub basis: String,
    #[sea_orm(column_type = "Text")]
    pub evidence: String,
    pub confidence: i32,
    pub pending: bool,
    pub created_at: DateTimeUtc,
    pub dismissed_at: Option<DateTimeUtc>,
    pub dismissed_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
