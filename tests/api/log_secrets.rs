//! The real binary logging at `trace`, with the sandbox as a separate process: after a full
//! connect flow and a re-authorization, its stderr holds no ticket, code, state, cookie or link
//! token.

use crate::support::{Browser, TEST_KEYS, gql_at};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ponto-bridge");

/// Starts a child and reads its first stdout line (`… listening on <url>`).
fn spawn(mut cmd: Command, prefix: &str) -> (Child, String) {
    let (child, line) = crate::support::child::spawn_first_line(&mut cmd);
    let url = line
        .trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    (child, url)
}

fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {url}"))
        .1
        .into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn trace_logs_hold_no_ticket_code_state_cookie_or_link_token() {
    let db = crate::support::TestDb::fresh().await;
    let data = tempfile::tempdir().unwrap();
    let mut sandbox_cmd = Command::new(BIN);
    sandbox_cmd
        .args(["sandbox", "--port", "0"])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null());
    let (mut sandbox, sb) = spawn(sandbox_cmd, "sandbox listening on ");
    let sb = sb.trim_end_matches('/').to_owned();
    let log_path = data.path().join("stderr.log");
    let mut serve = Command::new(BIN);
    serve
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &db.url])
        .arg("--data-dir")
        .arg(data.path())
        .args([
            "--ponto-api-root",
            &sb,
            "--ponto-authorization-url",
            &format!("{sb}/oauth2/auth"),
        ])
        .args([
            "--ponto-client-id",
            "sandbox-client",
            "--ponto-client-secret",
            "sandbox-secret",
        ])
        .args([
            "--return-url-origins",
            "https://app.example",
            "--encryption-keys",
            TEST_KEYS,
        ])
        .env_remove("PB_JWT_HS256_SECRET")
        .env("RUST_LOG", "trace")
        .stderr(std::fs::File::create(&log_path).unwrap());
    let (mut server, base) = spawn(serve, "listening on ");

    let http = reqwest::Client::new();
    let control = |path: String, body: Value| {
        let http = http.clone();
        let url = format!("{sb}/_sandbox{path}");
        async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let org = control("/organizations".into(), json!({"name": "Logs BV"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Expiring soon: its first read announces that with our re-authorization link.
    let soon = (chrono::Utc::now() + chrono::Duration::days(5)).to_rfc3339();
    let acc = control(
        format!("/organizations/{org}/accounts"),
        json!({"reference": "BE68539007547034", "authorizationExpirationExpectedAt": soon}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = crate::support::child::output_within(
        Command::new(BIN)
            .args(["token", "--org", "acme"])
            .arg("--data-dir")
            .arg(data.path())
            .env_remove("PB_JWT_HS256_SECRET"),
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let endpoint = format!("{base}/graphql");
    let gql_data = |query: &'static str, vars: Value| gql_at(&endpoint, &token, query, vars);

    // The connect flow, through the confirmation page and the sandbox's form.
    let data = gql_data(
        "mutation { connectPonto(input: {returnUrl: \"https://app.example/x\"}) { url } }",
        json!({}),
    )
    .await;
    let start = data["connectPonto"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{data}"))
        .to_owned();
    let ticket = query_param(&start, "ticket");
    let mut browser = Browser::new();
    let (status, to_ponto, _) = browser.confirm(&start, "continue").await;
    assert_eq!(status, 303);
    let to_ponto = to_ponto.unwrap();
    let state = query_param(&to_ponto, "state");
    let mut form: Vec<(String, String)> = url::Url::parse(&to_ponto)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    form.extend([
        ("organization".into(), org.clone()),
        ("account".into(), acc.clone()),
        ("decision".into(), "allow".into()),
    ]);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects
        .post(format!("{sb}/oauth2/auth"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let back = resp.headers()["location"].to_str().unwrap().to_owned();
    let code = query_param(&back, "code");
    let cookie = browser.cookie.clone().unwrap();
    let (status, landing, _) = browser.get(&back).await;
    assert_eq!(
        (status, landing.unwrap()),
        (
            303,
            "https://app.example/x?ponto_status=CONNECTED".to_owned()
        )
    );

    // Re-authorization: the one-time URL and the link our events carry.
    let q = "{ bankAccounts { nodes { id } } }";
    let account = gql_data(q, json!({})).await["bankAccounts"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m = "mutation($a: ID!) { requestReauthorization(input: {accountId: $a, returnUrl: \"https://app.example/x\"}) { url } }";
    let reauth = gql_data(m, json!({"a": account})).await["requestReauthorization"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let reauth_ticket = query_param(&reauth, "ticket");
    let mut browser = Browser::new();
    assert_eq!(browser.get(&reauth).await.0, 303);
    let reauth_cookie = browser.cookie.clone().unwrap();
    let conn = Database::connect(&db.url).await.unwrap();
    let sql =
        "SELECT payload FROM event WHERE event_type LIKE 'bank_account.%' ORDER BY seq LIMIT 1";
    let fetch = || async {
        conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await
            .unwrap()
    };
    crate::support::wait_until(
        std::time::Duration::from_secs(15),
        "a bank_account event",
        || async { fetch().await.is_some() },
    )
    .await;
    let row = fetch().await.unwrap();
    let payload: Value =
        serde_json::from_str(&row.try_get::<String>("", "payload").unwrap()).unwrap();
    let link = payload["data"]["reauthorizationUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let link_token = query_param(&link, "t");
    assert_eq!(Browser::new().get(&link).await.0, 303);
    conn.close().await.unwrap();

    server.kill().unwrap();
    server.wait().unwrap();
    sandbox.kill().unwrap();
    sandbox.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    // The positive control: trace logging did record these requests.
    for seen in [
        "/oauth/ponto/callback",
        "/oauth/ponto/start",
        "/reauthorize/",
        "TRACE",
    ] {
        assert!(
            log.contains(seen),
            "the log shows {seen:?} ({} bytes)",
            log.len()
        );
    }
    // Each browser step that logs does so inside a span naming the organization once its flow
    // is found, the same one for every step (it is not known when the request arrives).
    let named = |span: &str| -> Vec<String> {
        let marker = format!("{span}{{organization=");
        log.match_indices(&marker)
            .map(|(i, _)| {
                let rest = &log[i + marker.len()..];
                rest[..rest.find(['}', ' ']).unwrap()].to_owned()
            })
            .collect()
    };
    let orgs: std::collections::BTreeSet<String> = [
        "start",
        "callback",
        "start_reauthorization",
        "open_reauthorization_link",
    ]
    .into_iter()
    .flat_map(|span| {
        let seen = named(span);
        assert!(!seen.is_empty(), "no {span} span names its organization");
        seen
    })
    .collect();
    assert_eq!(orgs.len(), 1, "{orgs:?}");
    for (what, secret) in [
        ("ticket", &ticket),
        ("code", &code),
        ("state", &state),
        ("flow cookie", &cookie),
        ("re-authorization ticket", &reauth_ticket),
        ("re-authorization cookie", &reauth_cookie),
        ("link token", &link_token),
    ] {
        assert!(!log.contains(secret.as_str()), "the {what} is in the log");
    }
}
