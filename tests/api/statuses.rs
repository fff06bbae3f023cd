//! Status words read back as the type they were written as: an unknown word planted in the
//! database is an error (masked as INTERNAL), never a default such as NOT_CONNECTED.

use crate::seed::seed_org;
use crate::support::{TestApp, error_code};
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_status_in_the_database_is_an_error_not_a_default() {
    let app = TestApp::start().await;
    seed_org(&app.store, "acme").await;
    let token = app.full_token("acme");
    let cases = [
        (
            "ponto_connection",
            "status",
            "{ pontoConnection { status } }",
        ),
        (
            "bank_account",
            "status",
            "{ bankAccounts { nodes { status } } }",
        ),
        (
            "payment_match",
            "method",
            "{ invoices { nodes { matches { method } } } }",
        ),
    ];
    // The positive control: each reads fine before.
    for (_, _, q) in cases {
        let body = app.gql(&token, q, json!({})).await;
        assert!(body["errors"].is_null(), "{q}: {body}");
    }
    let conn = Database::connect(&app.db.url).await.unwrap();
    for (table, column, q) in cases {
        conn.execute_unprepared(&format!("UPDATE {table} SET {column} = 'HALF_DONE'"))
            .await
            .unwrap();
        let body = app.gql(&token, q, json!({})).await;
        assert_eq!(
            error_code(&body),
            Some("INTERNAL"),
            "{table}.{column}: {body}"
        );
        assert!(!body.to_string().contains("NOT_CONNECTED"), "{body}");
    }
    conn.close().await.unwrap();
}
