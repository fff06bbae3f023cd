//! The delivery log: what starts a delivery's next attempt (`next_trigger`: SCHEDULED, MANUAL
//! after `redeliverWebhook`, RECOVERY after `recoverWebhookEndpoint`, TEST for a test event),
//! and indexes for an endpoint's deliveries newest first and for retention by age.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("webhook_delivery")
                    .add_column(string("next_trigger").default("SCHEDULED"))
                    .to_owned(),
            )
            .await?;
        for (table, name, cols) in [
            (
                "webhook_delivery",
                "idx_webhook_delivery_org_endpoint_id",
                &["organization_id", "endpoint_id", "id"][..],
            ),
            (
                "webhook_attempt",
                "idx_webhook_attempt_started",
                &["started_at"][..],
            ),
            ("event", "idx_event_created", &["created_at"][..]),
        ] {
            let mut i = Index::create();
            i.name(name).table(table);
            for c in cols {
                i.col(*c);
            }
            manager.create_index(i.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name) in [
            ("webhook_delivery", "idx_webhook_delivery_org_endpoint_id"),
            ("webhook_attempt", "idx_webhook_attempt_started"),
            ("event", "idx_event_created"),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("webhook_delivery")
                    .drop_column("next_trigger")
                    .to_owned(),
            )
            .await
    }
}
