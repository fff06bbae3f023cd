//! Reconciliation: matches record the rule that made them and what they wrote off or left over;
//! invoices get case-folded number and counterparty-name keys, transactions their counterparty
//! IBAN normalized and a `transaction_key` row per key read from their text and counterparty
//! (structured references, number-like tokens, the name), so candidates are found by index in
//! both directions — never by scanning an organization's rows (transactions stored before this
//! migration get their keys when next changed); a booked transaction missing from a read is remembered (`missing_since`) and removed
//! only when the next read misses it too; suggestions the engine does not apply get their own
//! table; organizations choose the reference style generated for their invoices.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// SQLite alters one column per statement.
fn add(table: &'static str, col: ColumnDef) -> TableAlterStatement {
    Table::alter().table(table).add_column(col).to_owned()
}

fn drop_column(table: &'static str, col: &'static str) -> TableAlterStatement {
    Table::alter().table(table).drop_column(col).to_owned()
}

fn index(table: &'static str, name: &str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(format!("{table}_{name}")).table(table);
    for c in cols {
        idx.col(*c);
    }
    idx.to_owned()
}

const COLUMNS: &[(&str, &str)] = &[
    ("organization", "reference_style"),
    ("invoice", "number_key"),
    ("invoice", "name_key"),
    ("payment_match", "rule"),
    ("payment_match", "written_off_minor"),
    ("payment_match", "excess_minor"),
    ("bank_transaction", "counterpart_iban"),
    ("bank_transaction", "missing_since"),
];

fn match_suggestion() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("match_suggestion")
        .col(pk_uuid("id"))
        .col(uuid("organization_id"))
        .col(uuid("transaction_id"))
        .col(uuid("invoice_id"))
        // What the suggestion rests on (SuggestionBasis) and the words a bookkeeper reads.
        .col(string("basis"))
        .col(text("evidence"))
        .col(integer("confidence"))
        // The transaction is pending and would pay the invoice once booked.
        .col(boolean("pending"))
        .col(timestamp_with_time_zone("created_at"))
        .col(timestamp_with_time_zone_null("dismissed_at"))
        .col(string_null("dismissed_by"));
    for (column, target) in [
        ("organization_id", "organization"),
        ("transaction_id", "bank_transaction"),
        ("invoice_id", "invoice"),
    ] {
        t.foreign_key(
            ForeignKey::create()
                .name(format!("fk_match_suggestion_{column}"))
                .from("match_suggestion", column)
                .to(target, "id")
                .on_delete(ForeignKeyAction::Cascade),
        );
    }
    t.to_owned()
}

/// What a transaction can be found by: `r:` a structured reference, `n:` a number-like token,
/// `c:` the counterparty's name (domain::remittance::transaction_keys).
fn transaction_key() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("transaction_key")
        .col(uuid("transaction_id"))
        .col(string("key"))
        .col(uuid("organization_id"))
        .primary_key(Index::create().col("transaction_id").col("key"))
        .foreign_key(
            ForeignKey::create()
                .name("fk_transaction_key_transaction")
                .from("transaction_key", "transaction_id")
                .to("bank_transaction", "id")
                .on_delete(ForeignKeyAction::Cascade),
        );
    t.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, col) in [
            (
                "organization",
                string("reference_style").default("OGM").take(),
            ),
            ("invoice", string_null("number_key")),
            ("invoice", string_null("name_key")),
            ("payment_match", string("rule").default("MANUAL").take()),
            (
                "payment_match",
                big_integer("written_off_minor").default(0).take(),
            ),
            (
                "payment_match",
                big_integer("excess_minor").default(0).take(),
            ),
            ("bank_transaction", string_null("counterpart_iban")),
            (
                "bank_transaction",
                timestamp_with_time_zone_null("missing_since"),
            ),
        ] {
            manager.alter_table(add(table, col)).await?;
        }
        let db = manager.get_connection();
        // Invoice numbers are compared without regard to ASCII case.
        db.execute_unprepared(
            "UPDATE invoice SET number_key = lower(number), name_key = lower(trim(counterparty_name))",
        )
        .await?;
        // Before this migration an automatic match named its rule in `evidence`.
        db.execute_unprepared(
            "UPDATE payment_match SET rule = evidence WHERE method = 'AUTOMATIC' \
             AND evidence IN ('STRUCTURED_REFERENCE', 'INVOICE_NUMBER', 'AMOUNT_AND_IBAN')",
        )
        .await?;
        manager.create_table(match_suggestion()).await?;
        manager.create_table(transaction_key()).await?;
        for idx in [
            index(
                "invoice",
                "org_number_key",
                &["organization_id", "number_key"],
            ),
            index("invoice", "org_name_key", &["organization_id", "name_key"]),
            index("transaction_key", "org_key", &["organization_id", "key"]),
            index(
                "invoice",
                "org_counterparty_iban",
                &["organization_id", "counterparty_iban"],
            ),
            index(
                "bank_transaction",
                "org_counterpart_iban",
                &["organization_id", "counterpart_iban"],
            ),
            index(
                "match_suggestion",
                "org_transaction",
                &["organization_id", "transaction_id"],
            ),
            index(
                "match_suggestion",
                "org_invoice",
                &["organization_id", "invoice_id"],
            ),
        ] {
            manager.create_index(idx).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name) in [
            ("invoice", "org_number_key"),
            ("invoice", "org_name_key"),
            ("invoice", "org_counterparty_iban"),
            ("bank_transaction", "org_counterpart_iban"),
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("{table}_{name}"))
                        .table(table)
                        .to_owned(),
                )
                .await?;
        }
        for table in ["transaction_key", "match_suggestion"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for (table, col) in COLUMNS.iter().rev() {
            manager.alter_table(drop_column(table, col)).await?;
        }
        Ok(())
    }
}
