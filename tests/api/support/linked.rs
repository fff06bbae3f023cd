//! A server wired to a sandbox on one clock, and the connect flow walked through both with a
//! scripted browser.

use super::app::{AppBuilder, TestApp};
use super::browser::Browser;
use super::sandbox::Sandbox;
use super::time::clock_start;
use super::wait::wait_until;
use chrono::Utc;
use ponto_bridge::clock::ManualClock;
use serde_json::{Value, json};
use std::sync::Arc;

pub const RETURN: &str = "https://app.example/bank?tab=ponto";

/// A server and a sandbox on one clock, the server configured for the sandbox.
pub struct Linked {
    pub app: TestApp,
    pub sb: Sandbox,
    pub clock: ManualClock,
}

/// Keys every test server of a run shares, so a second instance can read what the first sealed.
pub const TEST_KEYS: &str = "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Flags pointing a server at `sb`, before the test's own `flags` (which may bring their own
/// encryption keys or application id).
fn sandbox_flags(sb: &Sandbox, flags: &[String]) -> Vec<String> {
    let mut all: Vec<String> = [
        "--ponto-api-root",
        &sb.base,
        "--ponto-authorization-url",
        &format!("{}/oauth2/auth", sb.base),
        "--ponto-client-id",
        "sandbox-client",
        "--ponto-client-secret",
        "sandbox-secret",
        "--return-url-origins",
        "https://app.example,https://other.example",
        "--scheduler-poll-ms",
        "50",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let defaults = [
        ("--encryption-keys", TEST_KEYS),
        // The sandbox signs for this application, so its webhooks verify here.
        (
            "--ponto-application-id",
            ponto_sandbox::webhooks::DEFAULT_APPLICATION_ID,
        ),
    ];
    for (flag, value) in defaults {
        if !flags.iter().any(|f| f == flag) {
            all.extend([flag.to_owned(), value.to_owned()]);
        }
    }
    all.extend_from_slice(flags);
    all
}

impl AppBuilder {
    /// Starts a sandbox on the builder's clock (a fresh one unless given) and the server
    /// configured for it; the builder's flags come after the sandbox's and win.
    pub async fn start_linked(self) -> Linked {
        self.start_linked_with(|_| {}).await
    }

    /// The same, with the sandbox's options `adjust`ed.
    pub async fn start_linked_with(
        mut self,
        adjust: impl FnOnce(&mut ponto_sandbox::SandboxOptions),
    ) -> Linked {
        let clock = (self.clock.take()).unwrap_or_else(|| ManualClock::new(clock_start()));
        let sb = Sandbox::start_with(Arc::new(clock.clone()), adjust).await;
        self.flags = sandbox_flags(&sb, &self.flags);
        let app = self.clock(clock.clone()).start().await;
        Linked { app, sb, clock }
    }
}

impl Linked {
    /// A server configured for a fresh sandbox, sharing its clock, on a fresh database.
    pub async fn start(flags: &[&str]) -> Self {
        TestApp::builder().flags(flags).start_linked().await
    }

    /// Points the sandbox's webhooks at this server's `/webhooks/ponto`.
    pub async fn webhooks_on(&self) {
        self.sb
            .webhooks_to(&format!("{}/webhooks/ponto", self.app.base))
            .await;
    }

    /// Another instance on the same database, sandbox and clock.
    pub async fn second_instance(&self) -> TestApp {
        self.second_instance_with(&[]).await
    }

    /// Another instance with extra flags.
    pub async fn second_instance_with(&self, flags: &[&str]) -> TestApp {
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        TestApp::builder()
            .db(self.app.db.clone())
            .clock(self.clock.clone())
            .flags(&sandbox_flags(&self.sb, &flags))
            .start()
            .await
    }

    /// Waits until no read of `org`'s data is in flight or due: the next one is scheduled in
    /// the future, so moving the clock is the only thing that starts one.
    pub async fn reads_settled(&self, org: &str) {
        let token = self.token(org);
        wait_until(
            std::time::Duration::from_secs(15),
            "no read in flight",
            || async {
                let q = "{ pontoConnection { nextReadAt } }";
                let data = self.app.gql_data(&token, q, json!({})).await;
                data["pontoConnection"]["nextReadAt"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t > self.clock_now())
            },
        )
        .await;
    }

    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        use ponto_bridge::clock::Clock;
        self.clock.now()
    }
}

impl Linked {
    pub fn token(&self, org: &str) -> String {
        self.app.full_token(org)
    }

    /// `connectPonto`: the one-time start URL (or the GraphQL body when refused).
    pub async fn connect_url(
        &self,
        token: &str,
        return_url: &str,
        reconnect: bool,
    ) -> Result<String, Value> {
        let m = "mutation($r: String!, $re: Boolean) { connectPonto(input: {returnUrl: $r, reconnect: $re}) { url expiresAt } }";
        let body = self
            .app
            .gql(token, m, json!({"r": return_url, "re": reconnect}))
            .await;
        body["data"]["connectPonto"]["url"]
            .as_str()
            .map(str::to_owned)
            .ok_or(body)
    }

    /// The whole flow in one browser: start, Ponto's form, callback. Returns where the browser
    /// lands (`returnUrl?ponto_status=…`).
    pub async fn connect(
        &self,
        token: &str,
        ponto_org: &str,
        accounts: &[&str],
        allow: bool,
        reconnect: bool,
    ) -> String {
        let start = self
            .connect_url(token, RETURN, reconnect)
            .await
            .unwrap_or_else(|b| panic!("{b}"));
        let mut browser = Browser::new();
        let (status, to_ponto, _) = browser.confirm(&start, "continue").await;
        assert_eq!(status, 303, "continuing redirects to Ponto");
        assert!(browser.cookie.is_some(), "start sets the flow cookie");
        let back = self
            .sb
            .decide(&to_ponto.unwrap(), ponto_org, accounts, allow)
            .await;
        let (status, landing, _) = browser.get(back.as_str()).await;
        assert_eq!(status, 303, "callback redirects to the return URL");
        landing.unwrap()
    }

    pub async fn connection(&self, token: &str) -> Value {
        let q = "{ pontoConnection { status problems { code message fix } connectedAt
            accounts { edges { node { id reference status currentBalance { amount currency } authorizationExpiresAt } } } } }";
        self.app.gql_data(token, q, json!({})).await["pontoConnection"].take()
    }
}

impl Linked {
    /// Transactions visible through GraphQL: (counterpart or remittance, amount, status).
    pub async fn transactions(
        &self,
        token: &str,
        include_removed: bool,
    ) -> Vec<(String, String, String)> {
        let q = "query($r: Boolean) { transactions(first: 100, filter: {includeRemoved: $r}) { edges { node {
            remittanceInformation amount { amount } status removedAt supersededBy } } } }";
        let data = self
            .app
            .gql_data(token, q, json!({"r": include_removed}))
            .await;
        let mut out: Vec<(String, String, String)> = data["transactions"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| {
                let n = &e["node"];
                let status = match (n["removedAt"].is_null(), n["supersededBy"].is_null()) {
                    (false, _) => "REMOVED".to_owned(),
                    (_, false) => "SUPERSEDED".to_owned(),
                    _ => n["status"].as_str().unwrap().to_owned(),
                };
                (
                    n["remittanceInformation"].as_str().unwrap_or("").to_owned(),
                    n["amount"]["amount"].as_str().unwrap().to_owned(),
                    status,
                )
            })
            .collect();
        out.sort();
        out
    }

    pub async fn event_types(&self, org: &str) -> Vec<String> {
        let org = self.app.store.ensure_organization(org).await.unwrap();
        super::catalogue::checked_events(&self.app.store, org, 0)
            .await
            .into_iter()
            .map(|e| e.event_type.as_str().to_owned())
            .collect()
    }
}
