//! Owns the database schema: one migration set applied unchanged to SQLite and PostgreSQL.
//!
//! Money columns are integer minor units (`*_minor`, i64) next to an ISO-4217 currency: no
//! DECIMAL, REAL or floating column exists anywhere (a test inspects the migrated schema).

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_initial;
mod m20261201_000001_flow_confirmation_and_reauth_limits;
mod m20261204_000001_inbound_processing;
mod m20261205_000001_reconciliation;
mod m20261206_000001_manual_control;
mod m20261207_000001_webhook_endpoints;
mod m20261208_000001_delivery_log;
mod m20261209_000001_attempt_error_code;
mod m20261210_000001_read_error_code;
mod m20261211_000001_account_read_error;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial::Migration),
            Box::new(m20261201_000001_flow_confirmation_and_reauth_limits::Migration),
            Box::new(m20261204_000001_inbound_processing::Migration),
            Box::new(m20261205_000001_reconciliation::Migration),
            Box::new(m20261206_000001_manual_control::Migration),
            Box::new(m20261207_000001_webhook_endpoints::Migration),
            Box::new(m20261208_000001_delivery_log::Migration),
            Box::new(m20261209_000001_attempt_error_code::Migration),
            Box::new(m20261210_000001_read_error_code::Migration),
            Box::new(m20261211_000001_account_read_error::Migration),
        ]
    }
}
