//! Production posture: https links and Ponto API, introspection and GraphiQL off unless asked
//! for; development keeps its zero set-up.

use crate::support::{TEST_KEYS, TestApp, TestDb, error_code};
use serde_json::json;
use std::sync::Arc;

/// A server in production on `db` with `flags` (their own encryption keys given).
async fn production(db: &Arc<TestDb>, flags: &[&str]) -> Result<TestApp, String> {
    TestApp::builder()
        .db(db.clone())
        .flags(&[
            "--environment",
            "production",
            "--encryption-keys",
            TEST_KEYS,
        ])
        .flags(flags)
        .try_start()
        .await
}

async fn refused(db: &Arc<TestDb>, flags: &[&str]) -> String {
    match production(db, flags).await {
        Ok(_) => panic!("started"),
        Err(e) => e,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn production_requires_https_and_switches_introspection_off() {
    let db = Arc::new(TestDb::fresh().await);
    let e = refused(&db, &[]).await;
    assert!(e.contains("PB_PUBLIC_URL (https) is required"), "{e}");
    let e = refused(&db, &["--public-url", "http://bridge.example"]).await;
    assert!(e.contains("PB_PUBLIC_URL must be https"), "{e}");
    let e = refused(
        &db,
        &[
            "--public-url",
            "https://bridge.example",
            "--ponto-api-root",
            "http://ponto.example",
        ],
    )
    .await;
    assert!(e.contains("PB_PONTO_API_ROOT must be https"), "{e}");

    let app = production(&db, &["--public-url", "https://bridge.example"])
        .await
        .unwrap();
    let token = app.full_token("acme");
    let body = app
        .gql(&token, "{ __schema { types { name } } }", json!({}))
        .await;
    assert!(
        body["data"].is_null() || body["data"]["__schema"].is_null(),
        "{body}"
    );
    assert_eq!(app.get("/graphql").await.status(), 404, "no GraphiQL");
    assert_eq!(app.get("/graphql/assets/init.js").await.status(), 404);
    let data = app
        .gql_data(&token, "{ viewer { subject } }", json!({}))
        .await;
    assert_eq!(data["viewer"]["subject"], "tester");

    // Asked for explicitly, introspection is served in production too.
    let app = production(
        &db,
        &[
            "--public-url",
            "https://bridge.example",
            "--graphql-introspection",
            "true",
        ],
    )
    .await
    .unwrap();
    let body = app
        .gql(
            &app.full_token("acme"),
            "{ __schema { queryType { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["__schema"]["queryType"]["name"], "Query",
        "{body}"
    );
    assert_eq!(error_code(&body), None);
}
