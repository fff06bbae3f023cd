//! The connect flow in a real browser: Debian's Chromium, driven by puppeteer-core, through our
//! start URL, the sandbox's login and sliders, our callback and back to the return URL. The
//! tools come from `scripts/install-test-tools.sh`; without them this test fails, never skips.

use crate::support::{Linked, RETURN, TestApp};
use ponto_bridge::domain::scope::Scope;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn a_real_browser_links_two_accounts() {
    let dir = repo_path!("tests/node");
    assert!(
        std::path::Path::new(dir)
            .join("node_modules/puppeteer-core")
            .exists(),
        "puppeteer-core is missing: run scripts/install-test-tools.sh"
    );
    let l = Linked::start(&[]).await;
    let ponto_org = l.sb.org("Browser BV").await;
    let a1 =
        l.sb.account(&ponto_org, json!({"currentBalance": "10.00"}))
            .await;
    let a2 =
        l.sb.account(&ponto_org, json!({"currentBalance": "20.00"}))
            .await;
    let _a3 = l.sb.account(&ponto_org, json!({})).await;
    let token = l
        .app
        .auth
        .mint_hs256_named("acme", Some("Acme Browser BV"), &Scope::ALL, "tester", 3600)
        .unwrap();
    let start = l.connect_url(&token, RETURN, false).await.unwrap();

    let out = crate::support::child::output_within_async(
        tokio::process::Command::new("node").current_dir(dir).args([
            "connect.mjs",
            &start,
            &ponto_org,
            "https://app.example",
            &a1,
            &a2,
        ]),
    )
    .await;
    assert!(
        out.status.success(),
        "browser run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(report["confirmation"], "Acme Browser BV", "{report}");
    assert_eq!(report["returnsTo"], "https://app.example");
    assert_eq!(
        report["finalUrl"],
        format!("{RETURN}&ponto_status=CONNECTED")
    );
    assert_eq!(
        report["flowCookieLeft"], false,
        "the flow cookie is cleared"
    );
    let c = l.connection(&token).await;
    assert_eq!(c["status"], "CONNECTED");
    assert_eq!(c["accounts"]["edges"].as_array().unwrap().len(), 2);
}

/// GraphiQL works offline: every request outside the service's origin is blocked, a query run
/// from the page shows its result, and a subscription run from it shows live events.
#[tokio::test(flavor = "multi_thread")]
async fn graphiql_runs_a_query_and_a_subscription_with_nothing_from_outside() {
    let dir = repo_path!("tests/node");
    let app = TestApp::start().await;
    let token = app.full_token("acme");
    let org = app.store.ensure_organization("acme").await.unwrap();
    // Events keep coming while the page subscribes (it cannot say when it has).
    let announcer = {
        let store = app.store.clone();
        tokio::spawn(async move {
            for i in 0.. {
                let e = crate::support::catalogue::broken_connection(&format!("tick {i}"));
                let mut tx = store.begin_write().await.unwrap();
                tx.append_event(org, &e, None).await.unwrap();
                tx.commit().await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
        })
    };
    let out = crate::support::child::output_within_async(
        tokio::process::Command::new("node").current_dir(dir).args([
            "graphiql.mjs",
            &app.base,
            &token,
        ]),
    )
    .await;
    announcer.abort();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "{report}");
    assert_eq!(report["blocked"], json!([]), "{report}");
    assert!(
        report["result"].as_str().unwrap().contains("Query"),
        "{report}"
    );
    assert!(
        report["subscription"]
            .as_str()
            .unwrap()
            .contains("connection.broken"),
        "{report}"
    );

    // Only the listed assets are served, with their types.
    let js = app.get("/graphql/assets/init.js").await;
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    // Revalidation costs a 304.
    let etag = js.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(format!("{}/graphql/assets/init.js", app.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(app.get("/graphql/assets/..%2Fsecret").await.status(), 404);
    assert_eq!(app.get("/graphql/assets/other.js").await.status(), 404);
    let page = app.get("/graphql").await;
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    // The page loads the graphql-ws client; subscriptions go to /graphql/ws.
    let (page, init) = (page.text().await.unwrap(), js.text().await.unwrap());
    assert!(page.contains("/graphql/assets/graphql-ws.min.js"), "{page}");
    assert!(init.contains("/graphql/ws"), "{init}");
    let ws = app.get("/graphql/assets/graphql-ws.min.js").await;
    assert_eq!(ws.status(), 200);
    assert_eq!(
        ws.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
}
