//! Production posture: https links and Ponto API, introspection and GraphiQL off unless asked
//! for; development keeps its zero set-up.

use crate::connect_support::TEST_KEYS;
use crate::helpers::{TestDb, error_code, serve_settings, spawn_with};
use ponto_bridge::app::App;
use ponto_bridge::clock::ManualClock;
use serde_json::json;
use std::sync::Arc;

fn production(db: &TestDb, extra: &[&str]) -> ponto_bridge::config::ServeSettings {
    let mut args = vec![
        "--environment",
        "production",
        "--encryption-keys",
        TEST_KEYS,
    ];
    args.extend_from_slice(extra);
    serve_settings(&db.url, &args)
}

async fn refused(settings: ponto_bridge::config::ServeSettings) -> String {
    let clock = Arc::new(ManualClock::new(crate::helpers::clock_start()));
    match App::build(&settings, clock).await {
        Ok(_) => panic!("started"),
        Err(e) => e.public_message(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn production_requires_https_and_switches_introspection_off() {
    let db = TestDb::fresh().await;
    let e = refused(production(&db, &[])).await;
    assert!(e.contains("PB_PUBLIC_URL (https) is required"), "{e}");
    let e = refused(production(&db, &["--public-url", "http://bridge.example"])).await;
    assert!(e.contains("PB_PUBLIC_URL must be https"), "{e}");
    let e = refused(production(
        &db,
        &[
            "--public-url",
            "https://bridge.example",
            "--ponto-api-root",
            "http://ponto.example",
        ],
    ))
    .await;
    assert!(e.contains("PB_PONTO_API_ROOT must be https"), "{e}");

    let app = spawn_with(production(&db, &["--public-url", "https://bridge.example"])).await;
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
    let body = app.gql(&token, "{ viewer { subject } }", json!({})).await;
    assert_eq!(body["data"]["viewer"]["subject"], "tester", "{body}");

    // Asked for explicitly, introspection is served in production too.
    let app = spawn_with(production(
        &db,
        &[
            "--public-url",
            "https://bridge.example",
            "--graphql-introspection",
            "true",
        ],
    ))
    .await;
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
