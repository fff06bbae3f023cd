//! A server wired to a sandbox on one clock, and a scripted browser (cookies by hand, no
//! redirects followed) walking the connect flow through both.

use crate::helpers::{TestApp, TestDb, serve_settings, spawn_with_clock};
use crate::sandbox_support::Sandbox;
use chrono::Utc;
use ponto_bridge::clock::ManualClock;
use serde_json::{Value, json};
use std::sync::Arc;

pub const RETURN: &str = "https://app.example/bank?tab=ponto";

pub struct Linked {
    pub app: TestApp,
    pub sb: Sandbox,
    pub db: TestDb,
    pub clock: ManualClock,
}

/// A server configured for the sandbox, sharing its clock, on a fresh database.
pub async fn app_with_sandbox(extra: &[&str]) -> Linked {
    let db = TestDb::fresh().await;
    start_on(db, extra).await
}

/// Keys every test server of a run shares, so a second instance can read what the first sealed.
pub const TEST_KEYS: &str = "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Flags pointing a server at `sb`.
fn sandbox_args(sb: &Sandbox, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
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
    if !extra.contains(&"--encryption-keys") {
        args.extend(["--encryption-keys".to_owned(), TEST_KEYS.to_owned()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

pub async fn start_on(db: TestDb, extra: &[&str]) -> Linked {
    let clock = ManualClock::new(crate::helpers::clock_start());
    let sb = Sandbox::start(Arc::new(clock.clone())).await;
    let args = sandbox_args(&sb, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = spawn_with_clock(serve_settings(&db.url, &args), clock.clone()).await;
    Linked { app, sb, db, clock }
}

impl Linked {
    /// Another instance on the same database, sandbox and clock.
    pub async fn second_instance(&self) -> TestApp {
        self.second_instance_with(&[]).await
    }

    /// Another instance with extra flags.
    pub async fn second_instance_with(&self, extra: &[&str]) -> TestApp {
        let args = sandbox_args(&self.sb, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        spawn_with_clock(serve_settings(&self.db.url, &args), self.clock.clone()).await
    }

    /// Waits until no read of `org`'s data is in flight or due: the next one is scheduled in
    /// the future, so moving the clock is the only thing that starts one.
    pub async fn reads_settled(&self, org: &str) {
        let token = self.token(org);
        crate::helpers::wait_until(
            std::time::Duration::from_secs(15),
            "no read in flight",
            || async {
                let q = "{ pontoConnection { nextReadAt } }";
                let body = self.app.gql(&token, q, json!({})).await;
                body["data"]["pontoConnection"]["nextReadAt"]
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

/// A browser: its own cookie jar (the flow cookie), redirects read one by one.
pub struct Browser {
    http: reqwest::Client,
    pub cookie: Option<String>,
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    /// GETs `url`; remembers a `pb_oauth` cookie it is given; returns status and `Location`.
    pub async fn get(&mut self, url: &str) -> (u16, Option<String>, reqwest::header::HeaderMap) {
        let (status, location, headers, _) = self.send(self.http.get(url)).await;
        (status, location, headers)
    }

    /// GETs a page: status and body.
    pub async fn page(&mut self, url: &str) -> (u16, String) {
        let (status, _, _, body) = self.send(self.http.get(url)).await;
        (status, body)
    }

    /// Submits a form as this browser.
    pub async fn post(
        &mut self,
        url: &str,
        form: &[(String, String)],
    ) -> (u16, Option<String>, reqwest::header::HeaderMap) {
        let (status, location, headers, _) = self.send(self.http.post(url).form(form)).await;
        (status, location, headers)
    }

    /// Opens our connect link and presses `decision` (`continue` or `decline`) on the
    /// confirmation page; returns the answer to the form.
    pub async fn confirm(
        &mut self,
        start: &str,
        decision: &str,
    ) -> (u16, Option<String>, reqwest::header::HeaderMap) {
        let (status, page) = self.page(start).await;
        assert_eq!(status, 200, "the confirmation page: {page}");
        let form = ponto_bridge_cli::demo::confirmation_form(&page, decision)
            .unwrap_or_else(|| panic!("no form on {page}"));
        self.post(start.split('?').next().unwrap(), &form).await
    }

    async fn send(
        &mut self,
        mut req: reqwest::RequestBuilder,
    ) -> (u16, Option<String>, reqwest::header::HeaderMap, String) {
        if let Some(c) = &self.cookie {
            req = req.header("cookie", format!("pb_oauth={c}"));
        }
        let resp = req.send().await.unwrap();
        let headers = resp.headers().clone();
        if let Some(set) = headers.get("set-cookie").and_then(|v| v.to_str().ok())
            && let Some(v) = set
                .strip_prefix("pb_oauth=")
                .and_then(|r| r.split(';').next())
        {
            self.cookie = (!v.is_empty()).then(|| v.to_owned());
        }
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = resp.status().as_u16();
        (
            status,
            location,
            headers,
            resp.text().await.unwrap_or_default(),
        )
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
        self.app.gql(token, q, json!({})).await["data"]["pontoConnection"].clone()
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
        let body = self.app.gql(token, q, json!({"r": include_removed})).await;
        let mut out: Vec<(String, String, String)> = body["data"]["transactions"]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
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
        self.app
            .store
            .events_after(org, 0, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type.as_str().to_owned())
            .collect()
    }
}
