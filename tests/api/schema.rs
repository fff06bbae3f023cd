//! The schemas we publish: the database holds no floating or decimal column, and
//! `schema.graphql` is exactly what the server serves.

use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn no_floating_or_decimal_column_exists() {
    let app = TestApp::start().await;
    let columns = app.store.schema_columns().await.unwrap();
    assert!(
        columns.len() > 100,
        "the whole data model is migrated ({} columns)",
        columns.len()
    );
    for table in [
        "organization",
        "bank_account",
        "bank_transaction",
        "invoice",
        "payment_match",
        "event",
        "webhook_endpoint",
        "webhook_delivery",
        "webhook_attempt",
        "inbound_ponto_event",
    ] {
        assert!(
            columns.iter().any(|c| c.table == table),
            "table {table} exists"
        );
    }
    let forbidden = ["REAL", "FLOA", "DOUB", "DEC", "NUMERIC", "MONEY"];
    let offenders: Vec<_> = columns
        .iter()
        .filter(|c| {
            forbidden
                .iter()
                .any(|f| c.declared_type.to_uppercase().contains(f))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "floating or decimal columns: {offenders:?}"
    );
    // Money is stored as integer minor units.
    let money: Vec<_> = columns
        .iter()
        .filter(|c| c.column.ends_with("_minor"))
        .collect();
    assert!(money.len() >= 8);
    for c in money {
        assert!(c.declared_type.to_lowercase().contains("int"), "{c:?}");
    }
}

#[test]
fn schema_graphql_matches_what_is_served() {
    let path = repo_path!("schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let served = ponto_bridge::graphql::sdl();
    assert!(
        committed == served,
        "schema.graphql is stale: run `cargo run -- print-schema > schema.graphql`"
    );
}
