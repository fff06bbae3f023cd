//! The whole data model of the product: tenants, the Ponto link, bank data, invoices and their
//! matches, the event log with its per-organization sequence, outbound deliveries and inbound
//! Ponto events.
//!
//! Every tenant-owned table carries `organization_id`; unique constraints make each re-import
//! idempotent (Ponto ids per account, external invoice ids per organization, event dedupe keys,
//! inbound event ids).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Timestamps are instants in UTC; dates (value, execution, issue, due) are calendar dates.
fn ts(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone(name)
}
fn ts_null(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone_null(name)
}

/// `organization_id` column with its foreign key; deleting a tenant removes its rows.
fn tenant(table: &mut TableCreateStatement, name: &'static str) {
    table.col(uuid("organization_id")).foreign_key(
        ForeignKey::create()
            .name(format!("fk_{name}_organization"))
            .from(name, "organization_id")
            .to("organization", "id")
            .on_delete(ForeignKeyAction::Cascade),
    );
}

fn fk(
    table: &mut TableCreateStatement,
    name: &'static str,
    column: &'static str,
    target: &'static str,
    on_delete: ForeignKeyAction,
) {
    table.foreign_key(
        ForeignKey::create()
            .name(format!("fk_{name}_{column}"))
            .from(name, column)
            .to(target, "id")
            .on_delete(on_delete),
    );
}

fn index(
    table: &'static str,
    name: &str,
    cols: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(format!("{table}_{name}")).table(table);
    for c in cols {
        idx.col(*c);
    }
    if unique {
        idx.unique();
    }
    idx.to_owned()
}

fn organization() -> TableCreateStatement {
    Table::create()
        .table("organization")
        .col(pk_uuid("id"))
        // The organization claim of the caller's JWT; the tenant is created on first use.
        .col(string_uniq("external_id"))
        .col(string_null("name"))
        // Bank-fee tolerance used by reconciliation, in minor units of the invoice currency.
        .col(big_integer("match_tolerance_minor").default(0))
        .col(ts("created_at"))
        .col(ts("updated_at"))
        .to_owned()
}

/// The last event sequence number handed out per organization. Taking the next number is an
/// `UPDATE … RETURNING` whose row lock lasts until commit, so sequence order is commit order.
fn organization_event_seq() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("organization_event_seq")
        .col(uuid("organization_id").primary_key())
        .col(big_integer("last_seq").default(0));
    fk(
        &mut t,
        "organization_event_seq",
        "organization_id",
        "organization",
        ForeignKeyAction::Cascade,
    );
    t.to_owned()
}

fn ponto_connection() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("ponto_connection").col(pk_uuid("id"));
    tenant(&mut t, "ponto_connection");
    t.col(string("status"))
        // One Ponto organization per tenant: a second tenant cannot link the same one.
        .col(string_null("ponto_organization_id").unique_key())
        .col(blob_null("access_token_enc"))
        .col(blob_null("refresh_token_enc"))
        .col(ts_null("access_token_expires_at"))
        .col(string_null("token_scope"))
        // JSON array of problem codes (CONNECTION_BROKEN, NO_ACCOUNTS_ACTIVATED).
        .col(text("problems").default("[]"))
        .col(string_null("broken_reason"))
        .col(ts_null("connected_at"))
        .col(ts_null("broken_at"))
        .col(ts_null("disconnected_at"))
        .col(ts_null("token_refreshed_at"))
        // Single refresh across instances: the holder of an unexpired lease refreshes.
        .col(ts_null("refresh_lease_until"))
        .col(string_null("refresh_lease_owner"))
        // Periodic read scheduler: due time and a lease so each run is claimed once.
        .col(ts_null("next_read_at"))
        .col(ts_null("read_lease_until"))
        .col(string_null("read_lease_owner"))
        .col(ts_null("last_read_at"))
        .col(text_null("last_read_error"))
        .col(ts("created_at"))
        .col(ts("updated_at"));
    t.to_owned()
}

/// A browser's pass through the OAuth flow: a one-time ticket, then a `state` bound to a cookie.
fn oauth_flow() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("oauth_flow").col(pk_uuid("id"));
    tenant(&mut t, "oauth_flow");
    t.col(string("purpose")) // CONNECT or REAUTHORIZE
        .col(uuid_null("account_id"))
        .col(string_uniq("ticket_hash"))
        .col(string_null("state_hash").unique_key())
        .col(string_null("browser_binding_hash"))
        .col(blob_null("pkce_verifier_enc"))
        .col(text("return_url"))
        .col(boolean("reconnect").default(false))
        .col(string("created_by"))
        .col(ts("expires_at"))
        .col(ts_null("ticket_used_at"))
        .col(ts_null("completed_at"))
        .col(string_null("outcome"))
        .col(ts("created_at"));
    t.to_owned()
}

fn bank_account() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("bank_account").col(pk_uuid("id"));
    tenant(&mut t, "bank_account");
    t.col(uuid_null("connection_id"))
        .col(string("ponto_id"))
        .col(string_null("reference"))
        .col(string_null("reference_type"))
        .col(string("currency"))
        .col(string_null("description"))
        .col(string_null("holder_name"))
        .col(string_null("product"))
        .col(string_null("subtype"))
        .col(string_null("financial_institution_id"))
        .col(big_integer_null("current_balance_minor"))
        .col(ts_null("current_balance_reference_date"))
        .col(ts_null("current_balance_changed_at"))
        .col(big_integer_null("available_balance_minor"))
        .col(ts_null("available_balance_reference_date"))
        .col(ts_null("available_balance_changed_at"))
        .col(ts_null("authorized_at"))
        .col(ts_null("authorization_expires_at"))
        .col(string_null("availability"))
        .col(string("status"))
        .col(text("problems").default("[]"))
        .col(ts_null("last_synced_at"))
        .col(text_null("last_sync_error"))
        .col(ts_null("next_sync_allowed_at"))
        .col(ts_null("revoked_at"))
        .col(ts("created_at"))
        .col(ts("updated_at"));
    fk(
        &mut t,
        "bank_account",
        "connection_id",
        "ponto_connection",
        ForeignKeyAction::SetNull,
    );
    t.to_owned()
}

fn bank_transaction() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("bank_transaction").col(pk_uuid("id"));
    tenant(&mut t, "bank_transaction");
    t.col(uuid("account_id"))
        .col(string("ponto_id"))
        .col(string("status")) // BOOKED or PENDING
        .col(big_integer("amount_minor"))
        .col(string("currency"))
        .col(string_null("counterpart_name"))
        .col(string_null("counterpart_reference"))
        .col(text_null("remittance_information"))
        .col(string_null("remittance_information_type"))
        .col(string_null("structured_reference"))
        .col(text_null("description"))
        .col(date_null("execution_date"))
        .col(date_null("value_date"))
        // Ordering key for pagination: value date, else execution date, else first-seen date.
        .col(date("sort_date"))
        .col(string_null("bank_transaction_code"))
        .col(string_null("proprietary_bank_transaction_code"))
        .col(string_null("end_to_end_id"))
        .col(string_null("purpose_code"))
        .col(string_null("mandate_id"))
        .col(string_null("creditor_id"))
        .col(text_null("additional_information"))
        .col(string_null("card_reference"))
        // The Ponto JSON exactly as received.
        .col(text("raw_json"))
        .col(ts_null("removed_at"))
        .col(uuid_null("superseded_by_id"))
        .col(ts_null("ignored_at"))
        .col(text_null("ignored_reason"))
        .col(string_null("ignored_by"))
        .col(ts("created_at"))
        .col(ts("updated_at"));
    fk(
        &mut t,
        "bank_transaction",
        "account_id",
        "bank_account",
        ForeignKeyAction::Cascade,
    );
    fk(
        &mut t,
        "bank_transaction",
        "superseded_by_id",
        "bank_transaction",
        ForeignKeyAction::SetNull,
    );
    t.to_owned()
}

fn invoice() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("invoice").col(pk_uuid("id"));
    tenant(&mut t, "invoice");
    t.col(string("external_id"))
        .col(string("kind"))
        .col(string("number"))
        .col(string_null("counterparty_name"))
        .col(string_null("counterparty_iban"))
        .col(string("currency"))
        .col(big_integer("total_minor"))
        .col(date("issue_date"))
        .col(date_null("due_date"))
        .col(string_null("structured_reference"))
        .col(string("status"))
        .col(big_integer("paid_minor").default(0))
        .col(big_integer("written_off_minor").default(0))
        .col(date_null("paid_at"))
        .col(boolean("payment_pending").default(false))
        .col(ts_null("voided_at"))
        .col(ts("created_at"))
        .col(ts("updated_at"));
    t.to_owned()
}

fn payment_match() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("payment_match").col(pk_uuid("id"));
    tenant(&mut t, "payment_match");
    t.col(uuid("invoice_id"))
        .col(uuid("transaction_id"))
        .col(big_integer("amount_minor"))
        .col(string("currency"))
        .col(string("method")) // AUTOMATIC or MANUAL
        .col(string("evidence"))
        .col(integer("confidence")) // percent, 0..=100
        .col(string("created_by"))
        .col(ts("created_at"))
        .col(ts_null("reversed_at"))
        .col(string_null("reversed_by"))
        .col(text_null("reversal_reason"));
    fk(
        &mut t,
        "payment_match",
        "invoice_id",
        "invoice",
        ForeignKeyAction::Cascade,
    );
    fk(
        &mut t,
        "payment_match",
        "transaction_id",
        "bank_transaction",
        ForeignKeyAction::Cascade,
    );
    t.to_owned()
}

fn webhook_endpoint() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("webhook_endpoint").col(pk_uuid("id"));
    tenant(&mut t, "webhook_endpoint");
    t.col(text("url"))
        .col(text_null("description"))
        // JSON array of subscribed event types; empty means every type.
        .col(text("event_types").default("[]"))
        .col(string("status")) // ENABLED or DISABLED
        .col(string_null("disabled_reason"))
        .col(ts_null("disabled_at"))
        .col(blob("secret_enc"))
        .col(blob_null("previous_secret_enc"))
        .col(ts_null("previous_secret_expires_at"))
        .col(ts_null("failing_since"))
        .col(ts("created_at"))
        .col(ts("updated_at"))
        .col(ts_null("deleted_at"));
    t.to_owned()
}

fn event() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("event").col(pk_uuid("id"));
    tenant(&mut t, "event");
    t.col(big_integer("seq"))
        .col(string("event_type"))
        // The whole envelope `{type, timestamp, data}` as delivered to subscribers.
        .col(text("payload"))
        // Makes "once per Ponto transaction" or "once per account and expiry" a constraint.
        .col(string_null("dedupe_key"))
        .col(ts("created_at"));
    t.to_owned()
}

fn webhook_delivery() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("webhook_delivery").col(pk_uuid("id"));
    tenant(&mut t, "webhook_delivery");
    t.col(uuid("event_id"))
        .col(uuid("endpoint_id"))
        .col(string("status")) // PENDING, SUCCEEDED, FAILED, DISCARDED
        .col(integer("attempt_count").default(0))
        .col(ts_null("next_attempt_at"))
        .col(ts_null("last_attempt_at"))
        .col(ts_null("completed_at"))
        .col(ts_null("lease_until"))
        .col(string_null("lease_owner"))
        .col(ts("created_at"))
        .col(ts("updated_at"));
    fk(
        &mut t,
        "webhook_delivery",
        "event_id",
        "event",
        ForeignKeyAction::Cascade,
    );
    fk(
        &mut t,
        "webhook_delivery",
        "endpoint_id",
        "webhook_endpoint",
        ForeignKeyAction::Cascade,
    );
    t.to_owned()
}

fn webhook_attempt() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("webhook_attempt").col(pk_uuid("id"));
    tenant(&mut t, "webhook_attempt");
    t.col(uuid("delivery_id"))
        .col(integer("attempt_number"))
        .col(string("trigger")) // SCHEDULED, MANUAL, RECOVERY, TEST
        .col(ts("started_at"))
        .col(big_integer("duration_ms"))
        .col(integer_null("response_status"))
        .col(text_null("response_body"))
        .col(text_null("error"));
    fk(
        &mut t,
        "webhook_attempt",
        "delivery_id",
        "webhook_delivery",
        ForeignKeyAction::Cascade,
    );
    t.to_owned()
}

/// Verified Ponto webhooks, stored raw before we acknowledge. Keyed by Ponto's organization id
/// until mapped to a tenant, so `organization_id` is nullable here (and only here).
fn inbound_ponto_event() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("inbound_ponto_event")
        .col(pk_uuid("id"))
        .col(string_uniq("ponto_event_id"))
        .col(string_null("ponto_organization_id"))
        .col(string("event_type"))
        .col(blob("raw_body"))
        .col(ts("received_at"))
        .col(uuid_null("organization_id"))
        .col(string("status")) // RECEIVED, PROCESSED, FAILED, IGNORED
        .col(integer("attempts").default(0))
        .col(ts_null("next_attempt_at"))
        .col(ts_null("processed_at"))
        .col(text_null("last_error"))
        .col(ts_null("lease_until"))
        .col(string_null("lease_owner"));
    fk(
        &mut t,
        "inbound_ponto_event",
        "organization_id",
        "organization",
        ForeignKeyAction::Cascade,
    );
    t.to_owned()
}

/// Ponto synchronizations we created (`syncNow`), for rate limiting and status.
fn ponto_synchronization() -> TableCreateStatement {
    let mut t = Table::create();
    t.table("ponto_synchronization").col(pk_uuid("id"));
    tenant(&mut t, "ponto_synchronization");
    t.col(uuid("account_id"))
        .col(string_null("ponto_id"))
        .col(string("subtype"))
        .col(string("status"))
        .col(text_null("errors"))
        .col(string_null("customer_ip_address"))
        .col(string("requested_by"))
        .col(ts("created_at"))
        .col(ts("updated_at"));
    fk(
        &mut t,
        "ponto_synchronization",
        "account_id",
        "bank_account",
        ForeignKeyAction::Cascade,
    );
    t.to_owned()
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index("ponto_connection", "org_unique", &["organization_id"], true),
        index("oauth_flow", "org", &["organization_id"], false),
        index(
            "bank_account",
            "org_ponto_unique",
            &["organization_id", "ponto_id"],
            true,
        ),
        index(
            "bank_account",
            "org_reference",
            &["organization_id", "reference", "currency"],
            false,
        ),
        index(
            "bank_transaction",
            // Leading with the organization, as every lookup does, so the planner picks it
            // even on stale statistics after a bulk import.
            "org_account_ponto_unique",
            &["organization_id", "account_id", "ponto_id"],
            true,
        ),
        index(
            "bank_transaction",
            "org_sort",
            &["organization_id", "sort_date", "id"],
            false,
        ),
        index(
            "bank_transaction",
            "org_reference",
            &["organization_id", "structured_reference"],
            false,
        ),
        index(
            "bank_transaction",
            "org_end_to_end",
            &["organization_id", "end_to_end_id"],
            false,
        ),
        index(
            "invoice",
            "org_external_unique",
            &["organization_id", "external_id"],
            true,
        ),
        index(
            "invoice",
            "org_status",
            &["organization_id", "status"],
            false,
        ),
        index(
            "invoice",
            "org_reference",
            &["organization_id", "structured_reference"],
            false,
        ),
        index(
            "invoice",
            "org_number",
            &["organization_id", "number"],
            false,
        ),
        index(
            "payment_match",
            "org_invoice",
            &["organization_id", "invoice_id"],
            false,
        ),
        index(
            "payment_match",
            "org_transaction",
            &["organization_id", "transaction_id"],
            false,
        ),
        index("webhook_endpoint", "org", &["organization_id"], false),
        index("event", "org_seq_unique", &["organization_id", "seq"], true),
        index(
            "event",
            "org_dedupe_unique",
            &["organization_id", "dedupe_key"],
            true,
        ),
        index(
            "webhook_delivery",
            "event_endpoint_unique",
            &["event_id", "endpoint_id"],
            true,
        ),
        index(
            "webhook_delivery",
            "due",
            &["status", "next_attempt_at"],
            false,
        ),
        index(
            "webhook_delivery",
            "org_endpoint",
            &["organization_id", "endpoint_id"],
            false,
        ),
        index(
            "webhook_attempt",
            "delivery",
            &["delivery_id", "attempt_number"],
            false,
        ),
        index(
            "inbound_ponto_event",
            "due",
            &["status", "next_attempt_at"],
            false,
        ),
        index(
            "inbound_ponto_event",
            "ponto_org",
            &["ponto_organization_id"],
            false,
        ),
        index(
            "ponto_synchronization",
            "org_account",
            &["organization_id", "account_id", "created_at"],
            false,
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            organization(),
            organization_event_seq(),
            ponto_connection(),
            oauth_flow(),
            bank_account(),
            bank_transaction(),
            invoice(),
            payment_match(),
            webhook_endpoint(),
            event(),
            webhook_delivery(),
            webhook_attempt(),
            inbound_ponto_event(),
            ponto_synchronization(),
        ] {
            manager.create_table(table).await?;
        }
        for idx in indexes() {
            manager.create_index(idx).await?;
        }
        // A transaction pays an invoice at most once among live (unreversed) matches.
        manager
            .create_index(
                Index::create()
                    .name("payment_match_live_unique")
                    .table("payment_match")
                    .col("invoice_id")
                    .col("transaction_id")
                    .unique()
                    .and_where(Expr::col("reversed_at").is_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "ponto_synchronization",
            "inbound_ponto_event",
            "webhook_attempt",
            "webhook_delivery",
            "event",
            "webhook_endpoint",
            "payment_match",
            "invoice",
            "bank_transaction",
            "bank_account",
            "oauth_flow",
            "ponto_connection",
            "organization_event_seq",
            "organization",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
