//! A stable code for an attempt that got no answer (`TARGET_NOT_ALLOWED` when the SSRF guard
//! refused the address, `TIMEOUT`, `CONNECTION_FAILED`, …), beside its free-text `error`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("webhook_attempt")
                    .add_column(string_null("error_code"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("webhook_attempt")
                    .drop_column("error_code")
                    .to_owned(),
            )
            .await
    }
}
