//! Entity `inbound_ponto_event`: A verified Ponto webhook stored raw before it was acknowledged.

use sea_orm::entity::prelude::*;

// Debug is written by hand: encrypted secrets and raw bodies never reach a log.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbound_ponto_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub ponto_event_id: String,
    pub ponto_organization_id: Option<String>,
    pub event_type: String,
    pub raw_body: Vec<u8>,
    pub received_at: DateTimeUtc,
    pub organization_id: Option<Uuid>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub processed_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub lease_owner: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("inbound_ponto_event")
            .field("id", &self.id)
            .field("ponto_event_id", &self.ponto_event_id)
            .field("ponto_organization_id", &self.ponto_organization_id)
            .field("event_type", &self.event_type)
            .field("raw_body", &format_args!("<{} bytes>", self.raw_body.len()))
            .field("received_at", &self.received_at)
            .field("organization_id", &self.organization_id)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("processed_at", &self.processed_at)
            .field("last_error", &self.last_error)
            .field("lease_until", &self.lease_until)
            .field("lease_owner", &self.lease_owner)
            .finish()
    }
}
