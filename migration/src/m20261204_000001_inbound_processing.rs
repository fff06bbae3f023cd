//! Acting on Ponto's webhooks: stored events get the processing statuses (`RECEIVED` becomes
//! `PENDING`; the initial migration already indexes them by status and due time, and by Ponto
//! organization); accounts get `bank_synchronized_at` (when Ponto last reached the bank) and a
//! pull lease, so a webhook's pull and a scheduled read of one account never interleave.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// SQLite alters one column per statement.
fn add(table: &'static str, col: ColumnDef) -> TableAlterStatement {
    Table::alter().table(table).add_column(col).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            timestamp_with_time_zone_null("bank_synchronized_at"),
            string_null("pull_lease_owner"),
            timestamp_with_time_zone_null("pull_lease_until"),
        ] {
            manager.alter_table(add("bank_account", col)).await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE inbound_ponto_event SET status = 'PENDING' WHERE status = 'RECEIVED'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE inbound_ponto_event SET status = 'RECEIVED' WHERE status = 'PENDING'",
            )
            .await?;
        for col in [
            "pull_lease_until",
            "pull_lease_owner",
            "bank_synchronized_at",
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("bank_account")
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
