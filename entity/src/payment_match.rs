//! Entity `payment_match`: An allocation of (part of) a bank transaction to an invoice; reversible, never deleted.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_match")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub invoice_id: Uuid,
    pub transaction_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    pub method: String,
    pub rule: String,
    pub written_off_minor: i64,
    pub excess_minor: i64,
    pub evidence: String,
    pub confidence: i32,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub reversed_at: Option<DateTimeUtc>,
    pub reversed_by: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub reversal_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
