//! Driving the built-in Ponto sandbox from tests: start it on a random port, play the real world
//! through its `/_sandbox` control API, and walk the OAuth flow by posting its form.

use ponto_bridge::clock::SharedClock;
use ponto_bridge::ponto::transport::RetryPolicy;
use ponto_bridge::ponto::{PontoClient, PontoConfig};
use ponto_bridge::secret::Secret;
use ponto_sandbox::{self as sandbox, SandboxHandle, SandboxOptions};
use serde_json::{Value, json};
use std::time::Duration;

pub const REDIRECT: &str = "https://app.example/oauth/ponto/callback";

pub struct Sandbox {
    /// Keeps the sandbox running as long as the test holds it; its state is inspectable.
    pub handle: SandboxHandle,
    pub base: String,
    /// Does not follow redirects, so tests read `Location`.
    pub http: reqwest::Client,
}

impl Sandbox {
    pub async fn start(clock: SharedClock) -> Self {
        Self::start_with(clock, |_| {}).await
    }

    /// Started with the test's options, `adjust`ed after the defaults below.
    pub async fn start_with(clock: SharedClock, adjust: impl FnOnce(&mut SandboxOptions)) -> Self {
        super::app::init_tracing();
        let mut opts = SandboxOptions::new("127.0.0.1:0".parse().unwrap(), clock);
        // Webhook retries in milliseconds, not Ponto's seconds and minutes.
        opts.webhooks.retry_delays = [50, 100, 200].map(Duration::from_millis).to_vec();
        opts.webhooks.timeout = Duration::from_secs(2);
        adjust(&mut opts);
        Self::from_handle(sandbox::start(opts).await.unwrap())
    }

    /// Drives a sandbox the test started with its own options.
    pub fn from_handle(handle: SandboxHandle) -> Self {
        let base = handle.base_url.clone();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { handle, base, http }
    }

    /// A client for this sandbox with quick retries (tests should not wait seconds).
    pub fn client(&self) -> PontoClient {
        PontoClient::new(self.config()).unwrap()
    }

    pub fn config(&self) -> PontoConfig {
        PontoConfig {
            api_root: self.base.parse().unwrap(),
            authorization_url: format!("{}/oauth2/auth", self.base).parse().unwrap(),
            client_id: sandbox::DEFAULT_CLIENT_ID.into(),
            client_secret: Secret::new(sandbox::DEFAULT_CLIENT_SECRET),
            identity_pem: None,
            ca_pem: None,
            timeout: Duration::from_secs(10),
            retry: RetryPolicy {
                max_retries: 3,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(100),
                max_retry_after: Duration::from_secs(5),
                gate: Default::default(),
            },
        }
    }

    pub async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/_sandbox{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    pub async fn org(&self, name: &str) -> String {
        let v = self
            .control(
                reqwest::Method::POST,
                "/organizations",
                Some(json!({"name": name})),
            )
            .await;
        v["id"].as_str().unwrap().to_owned()
    }

    pub async fn account(&self, org: &str, body: Value) -> String {
        let v = self
            .control(
                reqwest::Method::POST,
                &format!("/organizations/{org}/accounts"),
                Some(body),
            )
            .await;
        v["id"].as_str().unwrap().to_owned()
    }

    /// Creates transactions from raw JSON text (so amounts can be written as exact numbers).
    pub async fn transactions_raw(&self, account: &str, json_text: String) -> Vec<String> {
        let resp = self
            .http
            .post(format!(
                "{}/_sandbox/accounts/{account}/transactions",
                self.base
            ))
            .header("content-type", "application/json")
            .body(json_text)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        let v: Value = resp.json().await.unwrap();
        v["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    }

    pub async fn transactions(&self, account: &str, body: Value) -> Vec<String> {
        self.transactions_raw(account, body.to_string()).await
    }

    /// What the bank does to a transaction: book a pending one under a new id (the booked
    /// transaction's document), change one, or delete one.
    pub async fn book(&self, tx: &str, value_date: &str) -> Value {
        let path = format!("/transactions/{tx}/book");
        let body = json!({ "valueDate": value_date });
        self.control(reqwest::Method::POST, &path, Some(body)).await
    }

    pub async fn change_transaction(&self, tx: &str, patch: Value) {
        let path = format!("/transactions/{tx}");
        self.control(reqwest::Method::PATCH, &path, Some(patch))
            .await;
    }

    pub async fn delete_transaction(&self, tx: &str) {
        let path = format!("/transactions/{tx}");
        self.control(reqwest::Method::DELETE, &path, None).await;
    }

    /// Changes an account at the sandbox bank (its authorization expiry, say).
    pub async fn change_account(&self, account: &str, patch: Value) {
        let path = format!("/accounts/{account}");
        self.control(reqwest::Method::PATCH, &path, Some(patch))
            .await;
    }

    /// Sets an account's authorization: `valid`, `expired` or `invalid`.
    pub async fn authorization(&self, account: &str, state: &str) {
        let path = format!("/accounts/{account}/authorization");
        let body = json!({ "state": state });
        self.control(reqwest::Method::POST, &path, Some(body)).await;
    }

    /// What Ponto or its user does to an organization: `block`, `unblock`,
    /// `revoke-integration`, or `synchronize` (the answer lists the synchronizations run).
    pub async fn organization_does(&self, org: &str, action: &str) -> Value {
        let path = format!("/organizations/{org}/{action}");
        self.control(reqwest::Method::POST, &path, None).await
    }

    pub async fn fault(&self, body: Value) {
        self.control(reqwest::Method::POST, "/faults", Some(body))
            .await;
    }

    /// Sends the sandbox's webhooks to `url`.
    pub async fn webhooks_to(&self, url: &str) {
        let body = json!({ "url": url });
        self.control(reqwest::Method::PUT, "/webhooks/target", Some(body))
            .await;
    }

    /// Emits one event on demand; returns its `data.id`.
    pub async fn emit(&self, event: Value) -> String {
        let e = self
            .control(reqwest::Method::POST, "/webhooks/emit", Some(event))
            .await;
        e["id"].as_str().unwrap().to_owned()
    }

    pub async fn stats(&self) -> Value {
        self.control(reqwest::Method::GET, "/stats", None).await
    }

    /// The authorization page for `client`, as a browser would open it.
    pub fn authorization_url(&self, client: &PontoClient, state: &str, verifier: &str) -> String {
        let challenge = ponto_bridge::ponto::pkce_challenge(verifier);
        client
            .authorization_url(REDIRECT, state, &challenge, "ai offline_access name")
            .to_string()
    }

    /// Posts the sliders form as the user would; returns the redirect `Location`.
    pub async fn decide(
        &self,
        auth_url: &str,
        org: &str,
        accounts: &[&str],
        allow: bool,
    ) -> url::Url {
        let url = url::Url::parse(auth_url).unwrap();
        let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        form.push(("organization".into(), org.into()));
        for a in accounts {
            form.push(("account".into(), (*a).into()));
        }
        form.push((
            "decision".into(),
            if allow { "allow" } else { "deny" }.into(),
        ));
        let resp = self
            .http
            .post(format!("{}/oauth2/auth", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_redirection(), "{}", resp.status());
        url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap()
    }

    /// The user allows `accounts` of `org` on the authorization page opened with `verifier`'s
    /// challenge; returns the authorization code sent back.
    pub async fn authorize(
        &self,
        client: &PontoClient,
        org: &str,
        accounts: &[&str],
        verifier: &str,
    ) -> String {
        let url = self.authorization_url(client, "st", verifier);
        let back = self.decide(&url, org, accounts, true).await;
        back.query_pairs()
            .find(|(k, _)| k == "code")
            .expect("a code")
            .1
            .into_owned()
    }

    /// The user renews a consent on the page of a re-authorization link; returns the answer.
    pub async fn renew_consent(&self, link: &str) -> reqwest::Response {
        self.http
            .post(link)
            .form(&[("decision", "allow")])
            .send()
            .await
            .unwrap()
    }

    /// Authorizes `accounts` of `org` and exchanges the code: a linked client's tokens.
    pub async fn link(
        &self,
        client: &PontoClient,
        org: &str,
        accounts: &[&str],
    ) -> ponto_bridge::ponto::model::TokenSet {
        let verifier = ponto_bridge::ponto::pkce_verifier();
        let code = self.authorize(client, org, accounts, &verifier).await;
        client
            .exchange_code(&code, &verifier, REDIRECT)
            .await
            .unwrap()
    }
}

/// Polls a synchronization until it succeeds or fails.
pub async fn finished_sync(
    client: &PontoClient,
    token: &Secret,
    id: &str,
) -> ponto_bridge::ponto::sync::Synchronization {
    super::wait::wait_until(
        Duration::from_secs(10),
        "the synchronization to finish",
        || async {
            let s = client.synchronization(token, id).await.unwrap();
            s.is_done().then_some(s)
        },
    )
    .await
}
