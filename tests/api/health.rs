//! Liveness, readiness, and several instances starting at once on one empty database.

use crate::support::{TestApp, TestDb};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn healthz_and_readyz_answer() {
    let app = TestApp::start().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200);
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_started_together_on_an_empty_database_both_become_ready() {
    let db = Arc::new(TestDb::empty().await);
    let (a, b) = tokio::join!(
        TestApp::builder().db(db.clone()).start(),
        TestApp::builder().db(db).start()
    );
    for app in [&a, &b] {
        let r = app.get("/readyz").await;
        assert_eq!(r.status(), 200, "instance at {} not ready", app.addr);
    }
    // Both serve the same migrated schema: a tenant created through one is seen by the other.
    let token = a.full_token("shared-org");
    let va = a
        .gql_data(
            &token,
            "{ viewer { organization { id } } }",
            serde_json::json!({}),
        )
        .await;
    let vb = b
        .gql_data(
            &b.full_token("shared-org"),
            "{ viewer { organization { id } } }",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(
        va["viewer"]["organization"]["id"],
        vb["viewer"]["organization"]["id"]
    );
}
