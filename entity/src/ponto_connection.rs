//! Entity `ponto_connection`: A tenant's link to one Ponto organization: status, encrypted tokens, leases.

use sea_orm::entity::prelude::*;

// Debug is written by hand: encrypted secrets and raw bodies never reach a log.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ponto_connection")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub status: String,
    pub ponto_organization_id: Option<String>,
    pub access_token_enc: Option<Vec<u8>>,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub access_token_expires_at: Option<DateTimeUtc>,
    pub token_scope: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub problems: String,
    pub broken_reason: Option<String>,
    pub connected_at: Option<DateTimeUtc>,
    pub broken_at: Option<DateTimeUtc>,
    pub disconnected_at: Option<DateTimeUtc>,
    pub token_refreshed_at: Option<DateTimeUtc>,
    pub refresh_lease_until: Option<DateTimeUtc>,
    pub refresh_lease_owner: Option<String>,
    pub next_read_at: Option<DateTimeUtc>,
    pub read_lease_until: Option<DateTimeUtc>,
    pub read_lease_owner: Option<String>,
    pub last_read_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub last_read_error: Option<String>,
    pub last_read_error_code: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ponto_connection")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("status", &self.status)
            .field("ponto_organization_id", &self.ponto_organization_id)
            .field("access_token_enc", &"<redacted>")
            .field("refresh_token_enc", &"<redacted>")
            .field("access_token_expires_at", &self.access_token_expires_at)
            .field("token_scope", &self.token_scope)
            .field("problems", &self.problems)
            .field("broken_reason", &self.broken_reason)
            .field("connected_at", &self.connected_at)
            .field("broken_at", &self.broken_at)
            .field("disconnected_at", &self.disconnected_at)
            .field("token_refreshed_at", &self.token_refreshed_at)
            .field("refresh_lease_until", &self.refresh_lease_until)
            .field("refresh_lease_owner", &self.refresh_lease_owner)
            .field("next_read_at", &self.next_read_at)
            .field("read_lease_until", &self.read_lease_until)
            .field("read_lease_owner", &self.read_lease_owner)
            .field("last_read_at", &self.last_read_at)
            .field("last_read_error", &self.last_read_error)
            .field("last_read_error_code", &self.last_read_error_code)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}
