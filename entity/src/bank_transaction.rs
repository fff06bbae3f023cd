//! Entity `bank_transaction`: A booked or pending bank transaction as Ponto reported it, never deleted.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bank_transaction")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub account_id: Uuid,
    pub ponto_id: String,
    pub status: String,
    pub amount_minor: i64,
    pub currency: String,
    pub counterpart_name: Option<String>,
    pub counterpart_reference: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub remittance_information: Option<String>,
    pub remittance_information_type: Option<String>,
    pub structured_reference: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    pub execution_date: Option<Date>,
    pub value_date: Option<Date>,
    pub sort_date: Date,
    pub bank_transaction_code: Option<String>,
    pub proprietary_bank_transaction_code: Option<String>,
    pub end_to_end_id: Option<String>,
    pub purpose_code: Option<String>,
    pub mandate_id: Option<String>,
    pub creditor_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub additional_information: Option<String>,
    pub card_reference: Option<String>,
    /// `counterpart_reference` when it is a valid IBAN, normalized.
    pub counterpart_iban: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub raw_json: String,
    pub removed_at: Option<DateTimeUtc>,
    /// When a complete read first missed this booked transaction; cleared when Ponto lists it.
    pub missing_since: Option<DateTimeUtc>,
    pub superseded_by_id: Option<Uuid>,
    pub ignored_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub ignored_reason: Option<String>,
    pub ignored_by: Option<String>,
    /// The keyword rule that ignored it; NULL when a person did (or it is not ignored).
    pub ignore_rule_id: Option<Uuid>,
    /// A person restored it: no rule ignores it again.
    pub restored_at: Option<DateTimeUtc>,
    pub restored_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
