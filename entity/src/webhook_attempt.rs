//! Entity `webhook_attempt`: One HTTP attempt of a delivery, kept for the attempt log.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempt")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub delivery_id: Uuid,
    pub attempt_number: i32,
    pub trigger: String,
    pub started_at: DateTimeUtc,
    pub duration_ms: i64,
    pub response_status: Option<i32>,
    #[sea_orm(column_type = "Text")]
    pub response_body: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
    /// `AttemptError` when there was no answer.
    pub error_code: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
