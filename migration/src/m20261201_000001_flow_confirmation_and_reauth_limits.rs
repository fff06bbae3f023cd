//! Confirmed connect links and bounded re-authorization: the organization's display name shown on
//! the connect confirmation page, a per-account window counting Ponto re-authorization requests,
//! and an index to delete finished flows after their retention.

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
        manager
            .alter_table(add("oauth_flow", string_null("organization_name")))
            .await?;
        manager
            .alter_table(add(
                "bank_account",
                timestamp_with_time_zone_null("reauth_window_started_at"),
            ))
            .await?;
        manager
            .alter_table(add(
                "bank_account",
                integer("reauth_window_count").default(0).to_owned(),
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("oauth_flow_expires_at")
                    .table("oauth_flow")
                    .col("expires_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("oauth_flow_expires_at")
                    .table("oauth_flow")
                    .to_owned(),
            )
            .await?;
        for (table, col) in [
            ("bank_account", "reauth_window_count"),
            ("bank_account", "reauth_window_started_at"),
            ("oauth_flow", "organization_name"),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}
