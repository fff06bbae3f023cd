//! Authentication through the real HTTP server: which tokens reach `viewer`, which are refused.

use crate::support::{TEST_SECRET, TestApp, error_code};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const VIEWER: &str = "{ viewer { organization { externalId } scopes subject } }";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap()
}

fn fixture_path(name: &str) -> String {
    format!("{}/{name}", repo_path!("tests/fixtures/jwt"))
}

fn claims(app: &TestApp) -> Value {
    let now = ponto_now(app);
    json!({"iss": "ponto-bridge", "aud": "ponto-bridge", "sub": "alice", "org": "acme",
           "scope": "read write", "iat": now, "exp": now + 600})
}

fn ponto_now(app: &TestApp) -> i64 {
    use ponto_bridge::clock::Clock;
    app.clock.now().timestamp()
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        base.as_object_mut().unwrap().remove(key);
    } else {
        base[key] = value;
    }
    base
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

fn es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(&fixture("ec-private.pem")).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, &key).unwrap()
}

fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

async fn assert_accepted(app: &TestApp, token: &str, case: &str) {
    let (status, body) = app.gql_raw(Some(token), VIEWER, json!({})).await;
    assert_eq!(status, 200, "{case}: {body}");
    assert_eq!(
        body["data"]["viewer"]["organization"]["externalId"], "acme",
        "{case}: {body}"
    );
}

async fn assert_unauthenticated(app: &TestApp, token: &str, case: &str) {
    let (status, body) = app.gql_raw(Some(token), VIEWER, json!({})).await;
    assert_eq!(status, 401, "{case}: {body}");
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{case}: {body}");
    assert!(body["data"].is_null(), "{case}: {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hs256_and_rs256_tokens_are_checked_end_to_end() {
    let app = TestApp::builder()
        .flags(&["--jwt-public-key-file", &fixture_path("rsa-public.pem")])
        .start()
        .await;
    let base = claims(&app);
    let now = ponto_now(&app);

    assert_accepted(&app, &hs256(&base, TEST_SECRET.as_bytes()), "HS256").await;
    assert_accepted(&app, &rs256(&base), "RS256").await;
    assert_accepted(
        &app,
        &hs256(
            &with(base.clone(), "exp", json!(now - 10)),
            TEST_SECRET.as_bytes(),
        ),
        "expired within the 30 s leeway",
    )
    .await;
    let mut scopes_array = with(base.clone(), "scope", Value::Null);
    scopes_array["scopes"] = json!(["read"]);
    assert_accepted(
        &app,
        &hs256(&scopes_array, TEST_SECRET.as_bytes()),
        "scopes as an array",
    )
    .await;

    let refused = [
        (
            "expired",
            hs256(
                &with(base.clone(), "exp", json!(now - 120)),
                TEST_SECRET.as_bytes(),
            ),
        ),
        (
            "expired RS256",
            rs256(&with(base.clone(), "exp", json!(now - 120))),
        ),
        (
            "without exp",
            hs256(
                &with(base.clone(), "exp", Value::Null),
                TEST_SECRET.as_bytes(),
            ),
        ),
        (
            "not valid yet",
            hs256(
                &with(base.clone(), "nbf", json!(now + 600)),
                TEST_SECRET.as_bytes(),
            ),
        ),
        (
            "wrongly signed",
            hs256(&base, b"another-secret-that-is-32-bytes-or-more"),
        ),
        ("alg none", unsigned(&base)),
        (
            "HS256 keyed with the RSA public key",
            hs256(&base, &fixture("rsa-public.pem")),
        ),
        ("ES256 while only RS256 is configured", es256(&base)),
        (
            "wrong issuer",
            hs256(
                &with(base.clone(), "iss", json!("someone-else")),
                TEST_SECRET.as_bytes(),
            ),
        ),
        (
            "without issuer",
            hs256(
                &with(base.clone(), "iss", Value::Null),
                TEST_SECRET.as_bytes(),
            ),
        ),
        (
            "wrong audience",
            hs256(
                &with(base.clone(), "aud", json!("another-api")),
                TEST_SECRET.as_bytes(),
            ),
        ),
        (
            "without organization",
            hs256(
                &with(base.clone(), "org", Value::Null),
                TEST_SECRET.as_bytes(),
            ),
        ),
        (
            "empty organization",
            hs256(
                &with(base.clone(), "org", json!("  ")),
                TEST_SECRET.as_bytes(),
            ),
        ),
        ("garbage", "not-a-jwt".to_owned()),
    ];
    for (case, token) in &refused {
        assert_unauthenticated(&app, token, case).await;
    }
    // A tampered payload under a genuine RS256 signature.
    let genuine = rs256(&base);
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(with(base.clone(), "org", json!("victim")).to_string());
    assert_unauthenticated(&app, &parts.join("."), "tampered RS256 payload").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_expire_on_the_service_clock() {
    let app = TestApp::start().await;
    let token = app.full_token("acme");
    assert_accepted(&app, &token, "fresh").await;
    app.clock.advance(chrono::Duration::seconds(
        crate::support::TOKEN_TTL_SECS + 31,
    ));
    assert_unauthenticated(&app, &token, "expired by the clock").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn es256_public_key_only() {
    let app = TestApp::builder()
        .flags(&["--jwt-public-key-file", &fixture_path("ec-public.pem")])
        .adjust(|s| s.settings.jwt_hs256_secret = None)
        .start()
        .await;
    let base = claims(&app);
    assert_accepted(&app, &es256(&base), "ES256").await;
    assert_unauthenticated(&app, &rs256(&base), "RS256 while ES256 is configured").await;
    assert_unauthenticated(
        &app,
        &hs256(&base, TEST_SECRET.as_bytes()),
        "HS256 without a shared secret",
    )
    .await;
    assert_unauthenticated(
        &app,
        &hs256(&base, &fixture("ec-public.pem")),
        "HS256 keyed with the EC public key",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_token_and_missing_scope() {
    let app = TestApp::start().await;
    let (status, body) = app.gql_raw(None, VIEWER, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");

    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")
        .json(&json!({"query": VIEWER}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));

    let no_scopes = app.token("acme", &[]);
    let body = app.gql(&no_scopes, VIEWER, json!({})).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");

    let read = app.token("acme", &[ponto_bridge::domain::scope::Scope::Read]);
    let data = app.gql_data(&read, VIEWER, json!({})).await;
    assert_eq!(data["viewer"]["scopes"], json!(["READ"]));
    assert_eq!(data["viewer"]["subject"], "tester");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_organization_claim_is_its_own_tenant() {
    let app = TestApp::start().await;
    let q = "{ viewer { organization { id externalId } } }";
    let a1 = app.gql_data(&app.full_token("org-a"), q, json!({})).await;
    let a2 = app.gql_data(&app.full_token("org-a"), q, json!({})).await;
    let b = app.gql_data(&app.full_token("org-b"), q, json!({})).await;
    let id = |v: &Value| {
        v["viewer"]["organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(id(&a1), id(&a2), "created once, then reused");
    assert_ne!(id(&a1), id(&b));
    assert_eq!(b["viewer"]["organization"]["externalId"], "org-b");
}
