//! The stable code of the last failed read of an organization's data at Ponto (`UPSTREAM_UNAVAILABLE`, …),
//! beside its text: `PontoConnection.lastReadError`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("ponto_connection")
                    .add_column(string_null("last_read_error_code"))
                    .to_owned(),
            )
            .await?;
        // Texts stored before held an error's full display, internal causes included: they are
        // never shown; the next failed read records code and public words.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE ponto_connection SET last_read_error = NULL WHERE last_read_error_code IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("ponto_connection")
                    .drop_column("last_read_error_code")
                    .to_owned(),
            )
            .await
    }
}
