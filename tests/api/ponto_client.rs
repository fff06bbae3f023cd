//! The Ponto Connect client against the sandbox over real HTTP: OAuth (PKCE, single-use codes,
//! rotated single-use refresh tokens, revocation), paging, retries, malformed answers and exact
//! amounts.

use crate::support::{REDIRECT, Sandbox};
use ponto_bridge::clock::SystemClock;
use ponto_bridge::ponto::{PontoError, pkce_verifier};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;

async fn world() -> (Sandbox, String, Vec<String>) {
    let sb = Sandbox::start(Arc::new(SystemClock)).await;
    let org = sb.org("Acme BV").await;
    let mut accounts = Vec::new();
    for (i, balance) in ["1234.56", "0.10", "-7.01"].iter().enumerate() {
        accounts.push(
            sb.account(
                &org,
                json!({"description": format!("Account {i}"), "currentBalance": balance}),
            )
            .await,
        );
    }
    (sb, org, accounts)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_authorization_form_links_only_the_activated_accounts() {
    let (sb, org, accounts) = world().await;
    let client = sb.client();
    // The page is a plain form: an organization chooser, then one checkbox per account.
    let verifier = pkce_verifier();
    let auth = sb.authorization_url(&client, "state-1", &verifier);
    let html = sb
        .http
        .get(&auth)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<select name=organization>") && html.contains("Acme BV"),
        "{html}"
    );
    let html = sb
        .http
        .get(format!("{auth}&organization={org}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for a in &accounts {
        assert!(
            html.contains(&format!("name=account value=\"{a}\"")),
            "slider for {a}"
        );
    }
    assert!(html.contains("value=allow") && html.contains("value=deny"));

    let back = sb
        .decide(&auth, &org, &[&accounts[0], &accounts[2]], true)
        .await;
    assert!(back.as_str().starts_with(REDIRECT));
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "state-1");
    let tokens = client
        .exchange_code(&q["code"], &verifier, REDIRECT)
        .await
        .unwrap();
    assert!(tokens.refresh_token.is_some());
    assert_eq!(tokens.expires_in, 1799);
    assert!(
        !format!("{tokens:?}").contains(tokens.access_token.expose()),
        "tokens never print"
    );

    let linked: HashSet<String> = client
        .accounts(&tokens.access_token)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(
        linked,
        HashSet::from([accounts[0].clone(), accounts[2].clone()])
    );
    let info = client.userinfo(&tokens.access_token).await.unwrap();
    assert_eq!(
        (info.sub.as_str(), info.name.as_deref()),
        (org.as_str(), Some("Acme BV"))
    );
    let one = client
        .account(&tokens.access_token, &accounts[2])
        .await
        .unwrap();
    assert_eq!(one.attributes.current_balance.unwrap().to_string(), "-7.01");
    let err = client
        .account(&tokens.access_token, &accounts[1])
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "PONTO_RESOURCE_NOT_FOUND",
        "an account not shared is not found"
    );

    // Denying lands on the redirect with error=access_denied.
    let back = sb
        .decide(
            &sb.authorization_url(&client, "state-2", &pkce_verifier()),
            &org,
            &[],
            false,
        )
        .await;
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("access_denied", "state-2")
    );
    assert!(!q.contains_key("code"));

    // A request without PKCE gets an error page, never a redirect.
    let no_pkce = format!(
        "{}/oauth2/auth?client_id=sandbox-client&redirect_uri={REDIRECT}&response_type=code&state=x",
        sb.base
    );
    let resp = sb.http.get(no_pkce).send().await.unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn pkce_single_use_codes_and_rotating_refresh_tokens() {
    let (sb, org, accounts) = world().await;
    let client = sb.client();
    let verifier = pkce_verifier();
    let code = sb
        .authorize(&client, &org, &[&accounts[0]], &verifier)
        .await;

    let wrong = client
        .exchange_code(&code, &pkce_verifier(), REDIRECT)
        .await
        .unwrap_err();
    assert_oauth(&wrong, "invalid_grant");
    assert_eq!(wrong.code(), "PONTO_INVALID_GRANT");
    // The code was consumed by that attempt; it never works again, even with the right verifier.
    let reused = client
        .exchange_code(&code, &verifier, REDIRECT)
        .await
        .unwrap_err();
    assert_oauth(&reused, "invalid_grant");

    // A code spent by a *successful* exchange never works again either.
    let verifier = pkce_verifier();
    let back = sb
        .decide(
            &sb.authorization_url(&client, "s2", &verifier),
            &org,
            &[&accounts[0]],
            true,
        )
        .await;
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let first = client.exchange_code(&code, &verifier, REDIRECT).await;
    assert!(first.is_ok(), "the first exchange succeeds: {first:?}");
    let again = client
        .exchange_code(&code, &verifier, REDIRECT)
        .await
        .unwrap_err();
    assert_oauth(&again, "invalid_grant");

    let tokens = sb.link(&client, &org, &[&accounts[0]]).await;
    let first_refresh = tokens.refresh_token.clone().unwrap();
    let rotated = client.refresh(&first_refresh).await.unwrap();
    let second_refresh = rotated.refresh_token.clone().unwrap();
    assert_ne!(first_refresh, second_refresh, "refresh tokens rotate");
    let replay = client.refresh(&first_refresh).await.unwrap_err();
    assert_oauth(&replay, "invalid_grant");
    assert!(replay.is_invalid_grant());
    // The rotated one works once.
    let third = client.refresh(&second_refresh).await.unwrap();
    assert!(client.accounts(&third.access_token).await.is_ok());

    // A wrong client secret is invalid_client.
    let mut cfg = sb.config();
    cfg.client_secret = ponto_bridge::secret::Secret::new("wrong");
    let bad = ponto_bridge::ponto::PontoClient::new(cfg)
        .unwrap()
        .client_credentials()
        .await
        .unwrap_err();
    assert_eq!(bad.code(), "PONTO_INVALID_CLIENT");

    // Revoking the refresh token revokes the integration.
    client
        .revoke(third.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    let after = client.accounts(&third.access_token).await.unwrap_err();
    assert_eq!(after.code(), "PONTO_INVALID_ACCESS_TOKEN");
    assert!(matches!(&after, PontoError::Api { status: 401, .. }));
    assert!(
        client
            .refresh(third.refresh_token.as_ref().unwrap())
            .await
            .unwrap_err()
            .is_invalid_grant()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_delete_an_integration_and_accounts_can_be_revoked() {
    let (sb, org, accounts) = world().await;
    let client = sb.client();
    let tokens = sb.link(&client, &org, &[&accounts[0], &accounts[1]]).await;
    client
        .revoke_account(&tokens.access_token, &accounts[1])
        .await
        .unwrap();
    assert_eq!(
        client.accounts(&tokens.access_token).await.unwrap().len(),
        1
    );

    let app_token = client.client_credentials().await.unwrap();
    assert!(app_token.refresh_token.is_none());
    assert_eq!(
        client
            .userinfo(&app_token.access_token)
            .await
            .unwrap_err()
            .code(),
        "PONTO_API_ERROR",
        "a client token is no user"
    );
    client
        .delete_integration(&app_token.access_token, &org)
        .await
        .unwrap();
    assert_eq!(
        client
            .accounts(&tokens.access_token)
            .await
            .unwrap_err()
            .code(),
        "PONTO_INVALID_ACCESS_TOKEN"
    );
    let again = client
        .delete_integration(&app_token.access_token, &org)
        .await
        .unwrap_err();
    assert_eq!(again.code(), "PONTO_RESOURCE_NOT_FOUND");
}

fn assert_oauth(e: &PontoError, expected: &str) {
    match e {
        PontoError::OAuth { error, status, .. } => {
            assert_eq!(error, expected);
            assert_eq!(*status, 400);
        }
        other => panic!("expected OAuth error {expected}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_1000_transactions_returns_each_once_and_amounts_stay_exact() {
    let (sb, org, accounts) = world().await;
    let client = sb.client();
    // Written as JSON numbers, exactly as Ponto writes them.
    let rows: Vec<String> = (0..1000)
        .map(|i| {
            let amount = match i % 4 {
                0 => "0.1".to_owned(),
                1 => "1234567.89".to_owned(),
                2 => "-0.01".to_owned(),
                _ => format!("{i}.{:02}", i % 100),
            };
            format!(
                r#"{{"amount":{amount},"valueDate":"{}","remittanceInformation":"r{i}"}}"#,
                crate::support::day(-((i % 300) as i64))
            )
        })
        .collect();
    let created = sb
        .transactions_raw(&accounts[0], format!("[{}]", rows.join(",")))
        .await;
    sb.transactions(
        &accounts[0],
        json!({"amount": "-5.50", "pending": true, "remittanceInformation": "pending one"}),
    )
    .await;
    let tokens = sb.link(&client, &org, &[&accounts[0]]).await;

    let before = sb.stats().await["apiRequests"].as_u64().unwrap();
    let all = client
        .all_transactions(&tokens.access_token, &accounts[0], false)
        .await
        .unwrap();
    let requests = sb.stats().await["apiRequests"].as_u64().unwrap() - before;
    assert_eq!(requests, 10, "page[limit]=100: ten pages for 1,000 rows");
    assert_eq!(all.len(), 1000);
    let ids: HashSet<&str> = all.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids.len(), 1000, "each exactly once");
    assert_eq!(ids, created.iter().map(String::as_str).collect());
    for t in &all {
        let i: usize = t.attributes.remittance_information.as_deref().unwrap()[1..]
            .parse()
            .unwrap();
        let expected = match i % 4 {
            0 => "0.1".to_owned(),
            1 => "1234567.89".to_owned(),
            2 => "-0.01".to_owned(),
            _ => format!("{i}.{:02}", i % 100),
        };
        assert_eq!(t.attributes.amount.to_string(), expected);
        assert!(
            t.raw_json.contains(&format!("\"amount\":{expected}")),
            "raw JSON kept as sent: {}",
            t.raw_json
        );
        assert!(!t.pending);
    }
    let pending = client
        .all_transactions(&tokens.access_token, &accounts[0], true)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].pending && pending[0].attributes.amount.to_string() == "-5.50");
    assert!(
        pending[0]
            .raw_json
            .contains("\"type\":\"pendingTransaction\"")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_and_server_errors_are_retried_and_bad_answers_are_clear_errors() {
    let (sb, org, accounts) = world().await;
    let client = sb.client();
    let tokens = sb.link(&client, &org, &[&accounts[0]]).await;
    let token = &tokens.access_token;

    sb.fault(json!({"status": 429, "count": 2, "retryAfter": 1, "path": "/accounts"}))
        .await;
    let started = std::time::Instant::now();
    assert_eq!(
        client.accounts(token).await.unwrap().len(),
        1,
        "recovered after two 429s"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "Retry-After honoured"
    );

    sb.fault(json!({"status": 503, "count": 2})).await;
    sb.fault(json!({"status": 500, "count": 1})).await;
    assert!(
        client.userinfo(token).await.is_ok(),
        "recovered after three 5xx"
    );

    sb.fault(json!({"status": 502, "count": 4})).await;
    assert_eq!(
        client.userinfo(token).await.unwrap_err().code(),
        "PONTO_UNAVAILABLE",
        "bounded retries"
    );
    sb.fault(json!({"status": 429, "count": 4})).await;
    let limited = client.userinfo(token).await.unwrap_err();
    assert_eq!(limited.code(), "PONTO_RATE_LIMITED");
    let app: ponto_bridge::error::AppError = limited.into();
    assert_eq!(app.code().as_str(), "RATE_LIMITED");

    for body in ["malformed", "truncated"] {
        sb.fault(json!({"status": 200, "body": body})).await;
        let e = client
            .all_transactions(token, &accounts[0], false)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "PONTO_MALFORMED_RESPONSE", "{body}");
    }
    // A token endpoint 5xx is not replayed: the refresh token may have been consumed.
    sb.fault(json!({"status": 503, "count": 1, "path": "/oauth2/token"}))
        .await;
    let before = sb.stats().await["tokenRequests"].as_u64().unwrap();
    let e = client
        .refresh(tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "PONTO_UNAVAILABLE");
    assert_eq!(
        sb.stats().await["tokenRequests"].as_u64().unwrap(),
        before,
        "the fault answered; no second try"
    );
    assert!(
        client
            .refresh(tokens.refresh_token.as_ref().unwrap())
            .await
            .is_ok(),
        "old tokens still usable later"
    );
}

#[test]
fn production_defaults_are_pinned() {
    use ponto_bridge::ponto::client::{DEFAULT_API_ROOT, DEFAULT_AUTHORIZATION_URL};
    assert_eq!(DEFAULT_API_ROOT, "https://api.ibanity.com");
    assert_eq!(
        DEFAULT_AUTHORIZATION_URL,
        "https://authorization.myponto.com/oauth2/auth"
    );
    let cfg = ponto_bridge::ponto::PontoConfig {
        api_root: DEFAULT_API_ROOT.parse().unwrap(),
        authorization_url: DEFAULT_AUTHORIZATION_URL.parse().unwrap(),
        client_id: "c".into(),
        client_secret: ponto_bridge::secret::Secret::new("s"),
        identity_pem: None,
        ca_pem: None,
        timeout: std::time::Duration::from_secs(1),
        retry: Default::default(),
    };
    ponto_bridge::install_crypto_provider();
    let client = ponto_bridge::ponto::PontoClient::new(cfg).unwrap();
    assert_eq!(
        client.webhook_keys_url(),
        "https://api.ibanity.com/webhooks/keys"
    );
}
