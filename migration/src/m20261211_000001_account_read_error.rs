//! Why the last read of one bank account's data failed, as code, words and time beside each
//! other: `BankAccount.lastReadError`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        let alters = [
            Table::alter()
                .table("bank_account")
                .rename_column("last_sync_error", "last_read_error")
                .to_owned(),
            Table::alter()
                .table("bank_account")
                .add_column(string_null("last_read_error_code"))
                .to_owned(),
            Table::alter()
                .table("bank_account")
                .add_column(timestamp_with_time_zone_null("last_read_error_at"))
                .to_owned(),
        ];
        for alter in alters {
            manager.alter_table(alter).await?;
        }
        // Texts stored before held an error's full display, internal causes included, and no
        // time: they are never shown; the next failed read records code, public words and time.
        manager
            .get_connection()
            .execute_unprepared("UPDATE bank_account SET last_read_error = NULL")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let alters = [
            Table::alter()
                .table("bank_account")
                .drop_column("last_read_error_at")
                .to_owned(),
            Table::alter()
                .table("bank_account")
                .drop_column("last_read_error_code")
                .to_owned(),
            Table::alter()
                .table("bank_account")
                .rename_column("last_read_error", "last_sync_error")
                .to_owned(),
        ];
        for alter in alters {
            manager.alter_table(alter).await?;
        }
        Ok(())
    }
}
