//! Entity `bank_account`: A bank account shared through Ponto, with balances and authorization state.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bank_account")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub connection_id: Option<Uuid>,
    pub ponto_id: String,
    pub reference: Option<String>,
    pub reference_type: Option<String>,
    pub currency: String,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    pub holder_name: Option<String>,
    pub product: Option<String>,
    pub subtype: Option<String>,
    pub financial_institution_id: Option<String>,
    pub current_balance_minor: Option<i64>,
    pub current_balance_reference_date: Option<DateTimeUtc>,
    pub current_balance_changed_at: Option<DateTimeUtc>,
    pub available_balance_minor: Option<i64>,
    pub available_balance_reference_date: Option<DateTimeUtc>,
    pub available_balance_changed_at: Option<DateTimeUtc>,
    pub authorized_at: Option<DateTimeUtc>,
    pub authorization_expires_at: Option<DateTimeUtc>,
    pub availability: Option<String>,
    pub status: String,
    #[sea_orm(column_type = "Text")]
    pub problems: String,
    pub last_synced_at: Option<DateTimeUtc>,
    /// Why the last read of the account's transactions failed (public words), with its stable
    /// code and time; all three null after a read that succeeded.
    #[sea_orm(column_type = "Text")]
    pub last_read_error: Option<String>,
    pub last_read_error_code: Option<String>,
    pub last_read_error_at: Option<DateTimeUtc>,
    pub next_sync_allowed_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Start of the current window counting Ponto re-authorization requests for this account.
    pub reauth_window_started_at: Option<DateTimeUtc>,
    pub reauth_window_count: i32,
    /// When Ponto last reached the bank for this account (its latest synchronization).
    pub bank_synchronized_at: Option<DateTimeUtc>,
    /// Who holds the account's pull lease (a read or a webhook's pull), and until when.
    pub pull_lease_owner: Option<String>,
    pub pull_lease_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
