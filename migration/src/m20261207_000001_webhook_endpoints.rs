//! Webhook endpoints managed by subscribers: the attempts per second an endpoint accepts
//! (`rate_limit_per_second`, none for no limit).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("webhook_endpoint")
                    .add_column(integer_null("rate_limit_per_second"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("webhook_endpoint")
                    .drop_column("rate_limit_per_second")
                    .to_owned(),
            )
            .await
    }
}
