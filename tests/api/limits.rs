//! Request limits and the error policy: hostile documents are refused with their code before
//! any SQL runs, and internal errors reach clients masked.

use crate::support::{TestApp, error_code};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

/// Sends `body` as the raw request body; returns status and JSON.
async fn post_raw(app: &TestApp, token: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_documents_are_refused_with_their_code_before_any_sql() {
    // Nothing but this test's requests touches the database while it counts.
    let app = TestApp::builder()
        .flags(&["--background-tasks", "false"])
        .start()
        .await;
    let token = app.full_token("acme");
    app.gql(&token, "{ viewer { subject } }", json!({})).await; // the tenant exists and is cached
    // The positive control: a query that reads the database is counted.
    let before = app.store.statement_count();
    app.gql(
        &token,
        "{ viewer { organization { externalId } } }",
        json!({}),
    )
    .await;
    assert!(app.store.statement_count() > before, "the counter counts");

    let deep = "{ transactions { edges { node { matches { invoice { matches { transaction { matches { invoice { matches { transaction { account { id } } } } } } } } } } } } }";
    let complex = "{ transactions(first: 100) { edges { node { id account { transactions(first: 100) { edges { node { id amount { amount currency } } } } } } } } }";
    let aliases = format!(
        "{{ {} }}",
        (0..100)
            .map(|i| format!("a{i}: viewer {{ subject }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let cases: Vec<(&str, String, Value, &str)> = vec![
        ("depth", deep.into(), json!({}), "QUERY_TOO_DEEP"),
        ("complexity", complex.into(), json!({}), "QUERY_TOO_COMPLEX"),
        ("100 aliases", aliases, json!({}), "TOO_MANY_ALIASES"),
        (
            "first: 101",
            "{ transactions(first: 101) { edges { cursor } } }".into(),
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "last: 101",
            "{ invoices(last: 101) { edges { cursor } } }".into(),
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "nested first: 101",
            "{ bankAccounts { edges { node { transactions(first: 101) { edges { cursor } } } } } }"
                .into(),
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "first: 101 in a variable",
            "query($n: Int) { transactions(first: $n) { edges { cursor } } }".into(),
            json!({"n": 101}),
            "BAD_USER_INPUT",
        ),
        (
            "first: -1",
            "{ transactions(first: -1) { edges { cursor } } }".into(),
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "garbage cursor",
            "{ transactions(after: \"%%%\") { edges { cursor } } }".into(),
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "syntax",
            "{ viewer { ".into(),
            json!({}),
            "GRAPHQL_PARSE_FAILED",
        ),
        (
            "unknown field",
            "{ viewer { password } }".into(),
            json!({}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ];
    for (case, query, vars, code) in cases {
        let before = app.store.statement_count();
        let body = app.gql(&token, &query, vars).await;
        assert_eq!(error_code(&body), Some(code), "{case}: {body}");
        assert_eq!(app.store.statement_count(), before, "{case} ran SQL");
    }

    let before = app.store.statement_count();
    let batch = serde_json::to_vec(
        &json!([{"query": "{ viewer { subject } }"}, {"query": "{ viewer { subject } }"}]),
    )
    .unwrap();
    let (status, body) = post_raw(&app, &token, batch).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, Some("BATCH_NOT_SUPPORTED")),
        "{body}"
    );

    let big = serde_json::to_vec(
        &json!({"query": format!("{{ viewer {{ subject }} }} #{}", "x".repeat(1_100_000))}),
    )
    .unwrap();
    let (status, body) = post_raw(&app, &token, big.clone()).await;
    assert_eq!(
        (status, error_code(&body)),
        (413, Some("PAYLOAD_TOO_LARGE")),
        "{body}"
    );
    // The same body streamed without a Content-Length is cut off at the limit too.
    let stream = futures::stream::iter(
        big.chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&token)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(
        error_code(&resp.json().await.unwrap()),
        Some("PAYLOAD_TOO_LARGE")
    );

    let (status, body) = post_raw(&app, &token, b"{not json".to_vec()).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, Some("MALFORMED_REQUEST"))
    );
    assert_eq!(
        app.store.statement_count(),
        before,
        "request-level refusals ran SQL"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_internal_error_is_masked() {
    let app = TestApp::start().await;
    let token = app.full_token("acme");
    app.gql(&token, "{ viewer { subject } }", json!({})).await;
    // Break the database under the running server.
    let conn = Database::connect(&app.db.url).await.unwrap();
    conn.execute_unprepared("ALTER TABLE invoice RENAME TO invoice_gone")
        .await
        .unwrap();
    conn.close().await.unwrap();

    let (status, body) = app
        .gql_raw(
            Some(&token),
            "{ invoices { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&body), Some("INTERNAL"), "{body}");
    let text = body.to_string().to_lowercase();
    for leak in [
        "select",
        "invoice_gone",
        "table",
        "sqlx",
        "sea_orm",
        "sea-orm",
        "ponto_bridge",
        ".rs",
        "relation",
        "no such",
    ] {
        assert!(!text.contains(leak), "{leak:?} leaked in {body}");
    }
    assert_eq!(body["errors"][0]["message"], "An internal error occurred.");
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_and_suggestions_can_be_switched_off() {
    let app = TestApp::builder()
        .flags(&["--graphql-introspection", "false"])
        .start()
        .await;
    let token = app.full_token("acme");
    let body = app
        .gql(&token, "{ __schema { types { name } } }", json!({}))
        .await;
    assert!(
        body["data"].is_null() || body["data"]["__schema"].is_null(),
        "no schema served: {body}"
    );
    let body = app.gql(&token, "{ vewer { subject } }", json!({})).await;
    assert_eq!(error_code(&body), Some("GRAPHQL_VALIDATION_FAILED"));
    assert!(!body.to_string().contains("Did you mean"), "{body}");
    assert_eq!(
        app.get("/graphql").await.status(),
        404,
        "no GraphiQL either"
    );

    // On by default.
    let on = TestApp::start().await;
    let body = on.gql(&token, "{ vewer { subject } }", json!({})).await;
    assert!(body.to_string().contains("Did you mean"), "{body}");
    assert_eq!(on.get("/graphql").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn standard_introspection_is_answered_in_full_under_the_default_limits() {
    let app = TestApp::start().await;
    let token = app.full_token("acme");
    let dir = repo_path!("tests/node");
    assert!(
        std::path::Path::new(dir)
            .join("node_modules/graphql")
            .exists(),
        "graphql-js is missing: run scripts/install-test-tools.sh"
    );
    let out = crate::support::child::output_within_async(
        tokio::process::Command::new("node").current_dir(dir).args([
            "introspect.mjs",
            &format!("{}/graphql", app.base),
            &token,
            repo_path!("schema.graphql"),
        ]),
    )
    .await;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "{report}");
    for variant in ["default", "allOptions"] {
        assert_eq!(
            report["variants"][variant]["ok"], true,
            "{variant}: {report}"
        );
        assert!(report["variants"][variant]["types"].as_u64().unwrap() > 20);
    }
}

/// Field nesting `n` deep through real fields (`transactions … account … transactions`).
fn nested(n: usize) -> String {
    let path = [
        "transactions",
        "edges",
        "node",
        "matches",
        "invoice",
        "matches",
        "transaction",
        "account",
        "transactions",
        "edges",
        "node",
        "account",
    ];
    let mut doc = "id".to_owned();
    for step in path[..n - 1].iter().rev() {
        doc = format!("{step} {{ {doc} }}");
    }
    format!("{{ {doc} }}")
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_documents_stay_refused_while_introspection_is_free() {
    let app = TestApp::builder()
        .flags(&["--background-tasks", "false"])
        .start()
        .await;
    let token = app.full_token("acme");
    app.gql(&token, "{ viewer { subject } }", json!({})).await;
    let code = |body: &Value| error_code(body).map(str::to_owned);

    // Depth: 12 is the limit (the positive control answers), 13 is refused.
    let body = app.gql(&token, &nested(12), json!({})).await;
    assert!(body["errors"].is_null(), "12 deep answers: {body}");
    let body = app.gql(&token, &nested(13), json!({})).await;
    assert_eq!(code(&body).as_deref(), Some("QUERY_TOO_DEEP"), "{body}");

    // Aliases count at every spread of a fragment.
    let aliases: Vec<String> = (0..29).map(|i| format!("a{i}: subject")).collect();
    let fragment = format!("fragment F on Viewer {{ {} }}", aliases.join(" "));
    let once = format!("{{ viewer {{ ...F }} }} {fragment}");
    assert!(app.gql(&token, &once, json!({})).await["errors"].is_null());
    let five = format!(
        "{{ v1: viewer {{ ...F }} v2: viewer {{ ...F }} v3: viewer {{ ...F }} v4: viewer {{ ...F }} v5: viewer {{ ...F }} }} {fragment}"
    );
    let body = app.gql(&token, &five, json!({})).await;
    assert_eq!(code(&body).as_deref(), Some("TOO_MANY_ALIASES"), "{body}");
    let five_no_root_alias = format!("{{ viewer {{ ...F ...F ...F ...F ...F }} }} {fragment}");
    let body = app.gql(&token, &five_no_root_alias, json!({})).await;
    assert_eq!(code(&body).as_deref(), Some("TOO_MANY_ALIASES"), "{body}");

    // Fragment cycles and bombs are refused without being expanded, before any SQL.
    let mut bomb = String::from("{ ...F0 }");
    for i in 0..40 {
        bomb.push_str(&format!(
            " fragment F{i} on Query {{ ...F{} ...F{} }}",
            i + 1,
            i + 1
        ));
    }
    bomb.push_str(" fragment F40 on Query { viewer { subject } }");
    let introspection_fan_out =
        "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
    let mut chain = String::from("{ ...F0 }");
    for i in 0..10_000 {
        chain.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
    }
    chain.push_str(" fragment F10000 on Query { viewer { subject } }");
    let wide_introspection = format!(
        "{{ __schema {{ types {{ fields {{ {} }} }} }} }}",
        "name ".repeat(1_500)
    );
    let cases = [
        (
            "cycle",
            "{ ...A } fragment A on Query { viewer { subject } ...B } fragment B on Query { ...A }"
                .to_owned(),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "self cycle",
            "{ viewer { ...V } } fragment V on Viewer { subject ...V }".to_owned(),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("bomb", bomb, "QUERY_TOO_COMPLEX"),
        ("a chain of 10,000 fragments", chain, "QUERY_TOO_DEEP"),
        (
            "a wide introspection",
            wide_introspection,
            "QUERY_TOO_COMPLEX",
        ),
        (
            "introspection fan-out",
            introspection_fan_out.to_owned(),
            "QUERY_TOO_DEEP",
        ),
    ];
    for (case, doc, want) in cases {
        let before = app.store.statement_count();
        let body = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            app.gql(&token, &doc, json!({})),
        )
        .await
        .unwrap_or_else(|_| panic!("{case}: hung"));
        assert_eq!(code(&body).as_deref(), Some(want), "{case}: {body}");
        assert_eq!(app.store.statement_count(), before, "{case} ran SQL");
    }

    // Introspection itself counts toward neither depth nor complexity: 14 levels of `ofType`.
    let mut of_type = "name".to_owned();
    for _ in 0..14 {
        of_type = format!("name ofType {{ {of_type} }}");
    }
    let doc = format!("{{ __schema {{ types {{ fields {{ type {{ {of_type} }} }} }} }} }}");
    let body = app.gql(&token, &doc, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
}
