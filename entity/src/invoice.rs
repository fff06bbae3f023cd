//! Entity `invoice`: A sales or purchase invoice (or credit note) pushed by the accounting product.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoice")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub external_id: String,
    pub kind: String,
    pub number: String,
    pub number_key: Option<String>,
    /// The counterparty name, trimmed and case-folded, for finding invoices by name.
    pub name_key: Option<String>,
    pub counterparty_name: Option<String>,
    pub counterparty_iban: Option<String>,
    pub currency: String,
    pub total_minor: i64,
    pub issue_date: Date,
    pub due_date: Option<Date>,
    pub structured_reference: Option<String>,
    pub status: String,
    pub paid_minor: i64,
    pub written_off_minor: i64,
    pub paid_at: Option<Date>,
    pub payment_pending: bool,
    pub voided_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
