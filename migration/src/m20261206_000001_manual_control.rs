//! Manual control of reconciliation: per-organization keyword rules that mark transactions as
//! not invoice-related (`ignore_rule`), the rule that ignored a transaction and whether a person
//! restored it (so no rule ignores it again), and the audit trail of what people did to
//! reconciliation (`audit_entry`: who, when, what, why).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: &[&str] = &["ignore_rule_id", "restored_at", "restored_by"];

fn ignore_rule() -> TableCreateStatement {
    Table::create()
        .table("ignore_rule")
        .col(pk_uuid("id"))
        .col(uuid("organization_id"))
        // As typed, and case-folded with whitespace collapsed (what is compared).
        .col(string("keyword"))
        .col(string("keyword_key"))
        // `ANY`, `INCOMING` or `OUTGOING`: never NULL, so the unique index holds.
        .col(string("direction"))
        .col(text_null("reason"))
        .col(string("created_by"))
        .col(timestamp_with_time_zone("created_at"))
        .foreign_key(
            ForeignKey::create()
                .name("fk_ignore_rule_organization")
                .from("ignore_rule", "organization_id")
                .to("organization", "id")
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

fn audit_entry() -> TableCreateStatement {
    Table::create()
        .table("audit_entry")
        // UUIDv7: time-ordered, the listing's keyset.
        .col(pk_uuid("id"))
        .col(uuid("organization_id"))
        .col(string("action"))
        .col(string("actor"))
        // What was acted on: its GraphQL type name and id.
        .col(string("subject_type"))
        .col(uuid("subject_id"))
        .col(text_null("reason"))
        // JSON: what changed (amounts, settings before and after).
        .col(text("details"))
        .col(timestamp_with_time_zone("created_at"))
        .foreign_key(
            ForeignKey::create()
                .name("fk_audit_entry_organization")
                .from("audit_entry", "organization_id")
                .to("organization", "id")
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            uuid_null("ignore_rule_id"),
            timestamp_with_time_zone_null("restored_at"),
            string_null("restored_by"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("bank_transaction")
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager.create_table(ignore_rule()).await?;
        manager.create_table(audit_entry()).await?;
        for idx in [
            Index::create()
                .name("ignore_rule_org_keyword")
                .table("ignore_rule")
                .col("organization_id")
                .col("keyword_key")
                .col("direction")
                .unique()
                .to_owned(),
            Index::create()
                .name("audit_entry_org_id")
                .table("audit_entry")
                .col("organization_id")
                .col("id")
                .to_owned(),
            Index::create()
                .name("bank_transaction_org_ignore_rule")
                .table("bank_transaction")
                .col("organization_id")
                .col("ignore_rule_id")
                .to_owned(),
        ] {
            manager.create_index(idx).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("bank_transaction_org_ignore_rule")
                    .table("bank_transaction")
                    .to_owned(),
            )
            .await?;
        for table in ["audit_entry", "ignore_rule"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for col in COLUMNS.iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table("bank_transaction")
                        .drop_column(*col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
