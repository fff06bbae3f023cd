//! Entity `oauth_flow`: One browser pass through an OAuth flow (connect or re-authorize).

use sea_orm::entity::prelude::*;

// Debug is written by hand: encrypted secrets and raw bodies never reach a log.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_flow")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub purpose: String,
    pub account_id: Option<Uuid>,
    pub ticket_hash: String,
    pub state_hash: Option<String>,
    pub browser_binding_hash: Option<String>,
    pub pkce_verifier_enc: Option<Vec<u8>>,
    #[sea_orm(column_type = "Text")]
    pub return_url: String,
    pub reconnect: bool,
    pub created_by: String,
    pub expires_at: DateTimeUtc,
    pub ticket_used_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub outcome: Option<String>,
    pub created_at: DateTimeUtc,
    /// The organization's display name shown on the confirmation page (JWT `org_name`).
    pub organization_name: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("oauth_flow")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("purpose", &self.purpose)
            .field("account_id", &self.account_id)
            .field("ticket_hash", &self.ticket_hash)
            .field("state_hash", &self.state_hash)
            .field("browser_binding_hash", &self.browser_binding_hash)
            .field("pkce_verifier_enc", &"<redacted>")
            .field("return_url", &self.return_url)
            .field("reconnect", &self.reconnect)
            .field("created_by", &self.created_by)
            .field("expires_at", &self.expires_at)
            .field("ticket_used_at", &self.ticket_used_at)
            .field("completed_at", &self.completed_at)
            .field("organization_name", &self.organization_name)
            .field("outcome", &self.outcome)
            .field("created_at", &self.created_at)
            .finish()
    }
}
