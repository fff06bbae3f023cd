//! Owns `ponto-bridge demo`: the service and the built-in sandbox on loopback, with a demo
//! organization linked through the real connect flow (GraphQL `connectPonto`, the browser
//! redirect, the sandbox's authorization form, our callback), its first import done, and a few
//! invoices pushed — so a newcomer sees the whole product in one command.

use crate::demo_receiver::DemoReceiver;
use chrono::{Datelike, Duration, NaiveDate};
use clap::Args;
use ponto_bridge::app::App;
use ponto_bridge::clock::SharedClock;
use ponto_bridge::config::ServeSettings;
use ponto_bridge::domain::event::EventType;
use ponto_bridge::domain::invoice::InvoiceKind;
use ponto_bridge::domain::reference::ogm_from_base;
use ponto_bridge::error::{AppError, AppResult};
use ponto_bridge::secret::Secret;
use ponto_sandbox::{self as sandbox, SandboxHandle, SandboxOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::future::Future;

/// The organization claim of the demo tenant.
pub const DEMO_ORG: &str = "demo";

/// The subscription `demo` suggests: each transaction as the bank's webhook brings it in.
pub const LIVE_SUBSCRIPTION: &str = "subscription { transactionAdded { remittanceInformation amount { amount currency } account { description } } }";

#[derive(Debug, Clone, Args)]
pub struct DemoSettings {
    #[command(flatten)]
    pub serve: ServeSettings,

    /// Port of the built-in Ponto sandbox (0 picks a free one).
    #[arg(long, env = "PB_DEMO_SANDBOX_PORT", default_value_t = 0)]
    pub sandbox_port: u16,
}

/// A running demo.
pub struct Demo {
    pub graphql_url: String,
    /// A token of the demo organization with every scope (valid 7 days).
    pub token: String,
    pub sandbox: SandboxHandle,
    pub server: tokio::task::JoinHandle<AppResult<()>>,
    /// The demo organization's id at the sandbox, and its first account there.
    pub ponto_organization: String,
    pub first_account: String,
    /// Where the demo organization's webhook endpoint points (deliveries are printed).
    pub webhook_receiver: String,
}

/// Starts the sandbox and the service (until `shutdown`), links the demo organization and
/// waits for its first import.
pub async fn start(
    mut settings: DemoSettings,
    clock: SharedClock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> AppResult<Demo> {
    let bind = std::net::SocketAddr::new([127, 0, 0, 1].into(), settings.sandbox_port);
    let sandbox = sandbox::start(SandboxOptions::new(bind, clock.clone()))
        .await
        .map_err(|e| AppError::internal(format!("cannot start the sandbox: {e}")))?;
    let serve = &mut settings.serve;
    if serve.settings.database_url.is_none() {
        serve.settings.database_url = Some(Secret::new(fresh_demo_database(serve)?));
    }
    serve.ponto.ponto_api_root = url::Url::parse(&sandbox.base_url).map_err(AppError::internal)?;
    serve.ponto.ponto_authorization_url =
        url::Url::parse(&format!("{}/oauth2/auth", sandbox.base_url))
            .map_err(AppError::internal)?;
    serve.ponto.ponto_client_id = Some(sandbox::DEFAULT_CLIENT_ID.into());
    serve.ponto.ponto_client_secret = Some(Secret::new(sandbox::DEFAULT_CLIENT_SECRET));
    // The sandbox signs its webhooks for this application, and sends them to us.
    serve.ponto.ponto_application_id = Some(sandbox::webhooks::DEFAULT_APPLICATION_ID.into());
    // Our own webhooks go to a subscriber on loopback that prints each delivery.
    let receiver = DemoReceiver::start()
        .await
        .map_err(|e| AppError::internal(format!("cannot start the webhook receiver: {e}")))?;
    serve.webhook_allow_http = true;
    serve.webhook_allowed_targets = [serve.webhook_allowed_targets.as_str(), "127.0.0.1/32"]
        .join(",")
        .trim_start_matches(',')
        .to_owned();

    let app = App::build(serve, clock.clone()).await?;
    let public = app.public_url().as_str().trim_end_matches('/').to_owned();
    let hook = url::Url::parse(&format!("{public}/webhooks/ponto")).map_err(AppError::internal)?;
    sandbox.send_webhooks_to(Some(hook));
    let token = app.authenticator().mint_hs256_named(
        DEMO_ORG,
        Some("Demo Company BV"),
        &ponto_bridge::domain::scope::Scope::ALL,
        "demo",
        7 * 86_400,
    )?;
    let server = tokio::spawn(app.run(shutdown));
    let graphql_url = format!("{public}/graphql");
    let client = Client::new(&graphql_url, &token, &sandbox.base_url)?;
    receiver.set_secret(client.subscribe(&receiver.url).await?);
    let seeded = client.seed_bank(clock.now().date_naive()).await?;
    client.link(&seeded.org, &seeded.accounts).await?;
    client.wait_for_import().await?;
    client.push_invoices(&seeded.invoices).await?;
    Ok(Demo {
        graphql_url,
        token,
        sandbox,
        server,
        ponto_organization: seeded.org,
        first_account: seeded.accounts[0].clone(),
        webhook_receiver: receiver.url,
    })
}

/// The demo's own SQLite file in the data directory, emptied so every run starts alike.
fn fresh_demo_database(serve: &ServeSettings) -> AppResult<String> {
    let dir = &serve.settings.data_dir;
    ponto_bridge::keyfile::ensure_private_dir(dir)?;
    let file = dir.join("demo.db");
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", file.display());
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(AppError::internal(format!("cannot remove {path}: {e}"))),
        }
    }
    Ok(format!("sqlite://{}?mode=rwc", file.display()))
}

/// What was put at the sandbox bank.
struct Seeded {
    org: String,
    accounts: Vec<String>,
    invoices: Vec<Value>,
}

/// Talks to the demo's service and sandbox over HTTP, as a front-end and a browser would.
struct Client<'a> {
    graphql_url: &'a str,
    token: &'a str,
    sandbox_url: &'a str,
    /// Follows no redirect: the connect flow reads each `Location` as a browser would.
    http: reqwest::Client,
}

fn failed(what: &str) -> impl FnOnce(reqwest::Error) -> AppError + '_ {
    move |e| AppError::internal(format!("demo: {what}: {e}"))
}

impl<'a> Client<'a> {
    fn new(graphql_url: &'a str, token: &'a str, sandbox_url: &'a str) -> AppResult<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(failed("http client"))?;
        Ok(Self {
            graphql_url,
            token,
            sandbox_url,
            http,
        })
    }

    async fn control(&self, path: &str, body: Value) -> AppResult<Value> {
        let url = format!("{}/_sandbox{path}", self.sandbox_url);
        let resp = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(failed(path))?;
        if !resp.status().is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(AppError::internal(format!("demo: sandbox {path}: {text}")));
        }
        resp.json().await.map_err(failed(path))
    }

    async fn graphql(&self, query: &str, variables: Value) -> AppResult<Value> {
        let body: Value = self
            .http
            .post(self.graphql_url)
            .bearer_auth(self.token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .map_err(failed("graphql"))?
            .json()
            .await
            .map_err(failed("graphql"))?;
        match body.get("errors") {
            Some(errors) => Err(AppError::internal(format!("demo: graphql: {errors}"))),
            None => Ok(body["data"].clone()),
        }
    }

    /// A company with a current account (a few hundred transactions, some pending), a savings
    /// account, and a second current account whose bank authorization expires in ten days.
    async fn seed_bank(&self, today: NaiveDate) -> AppResult<Seeded> {
        let org = self
            .control("/organizations", json!({"name": "Demo Company BV"}))
            .await?["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut rng = StdRng::seed_from_u64(2026);
        let plan = DemoData::generate(&mut rng, today);
        let mut accounts = Vec::new();
        for (body, txs) in [
            (
                json!({"description": "Business current account", "holderName": "Demo Company BV",
                       "product": "Business Pack", "currentBalance": "18452.37", "availableBalance": "20452.37"}),
                plan.current,
            ),
            (
                json!({"description": "Savings account", "holderName": "Demo Company BV",
                       "subtype": "savings", "currentBalance": "52000.00"}),
                plan.savings,
            ),
            (
                json!({"description": "Second current account", "holderName": "Demo Company BV",
                       "currentBalance": "1203.50",
                       "authorizationExpirationExpectedAt": (today + Duration::days(10)).and_hms_opt(12, 0, 0).map(|t| t.and_utc())}),
                plan.second,
            ),
        ] {
            let id = self
                .control(&format!("/organizations/{org}/accounts"), body)
                .await?["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            self.control(&format!("/accounts/{id}/transactions"), Value::Array(txs))
                .await?;
            accounts.push(id);
        }
        Ok(Seeded {
            org,
            accounts,
            invoices: plan.invoices,
        })
    }

    /// The connect flow as a user walks it: `connectPonto`, our start URL (the confirmation page,
    /// which sets the flow cookie) and its Continue button, the sandbox's authorization form with
    /// the given accounts' sliders on, our callback.
    async fn link(&self, ponto_org: &str, accounts: &[String]) -> AppResult<()> {
        let data = self
            .graphql(
                "mutation($r: String!) { connectPonto(input: {returnUrl: $r, reconnect: true}) { url } }",
                json!({"r": self.graphql_url}),
            )
            .await?;
        let start = data["connectPonto"]["url"].as_str().unwrap_or_default();
        let resp = self.http.get(start).send().await.map_err(failed("start"))?;
        let cookie = header(&resp, "set-cookie")
            .and_then(|c| c.split(';').next().map(str::to_owned))
            .ok_or_else(|| AppError::internal("demo: the start URL set no cookie"))?;
        let page = resp.text().await.map_err(failed("confirmation page"))?;
        let form = confirmation_form(&page, "continue")
            .ok_or_else(|| AppError::internal("demo: no confirmation form"))?;
        let resp = self
            .http
            .post(start.split('?').next().unwrap_or_default())
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .map_err(failed("confirm"))?;
        let to_ponto = header(&resp, "location")
            .ok_or_else(|| AppError::internal("demo: confirming did not redirect"))?;
        let auth = url::Url::parse(&to_ponto).map_err(AppError::internal)?;
        let mut form: Vec<(String, String)> = auth.query_pairs().into_owned().collect();
        form.push(("organization".into(), ponto_org.to_owned()));
        form.extend(accounts.iter().map(|a| ("account".into(), a.clone())));
        form.push(("decision".into(), "allow".into()));
        let resp = self
            .http
            .post(format!("{}/oauth2/auth", self.sandbox_url))
            .form(&form)
            .send()
            .await
            .map_err(failed("authorize"))?;
        let callback = header(&resp, "location")
            .ok_or_else(|| AppError::internal("demo: the sandbox did not redirect back"))?;
        let resp = self
            .http
            .get(callback)
            .header("cookie", cookie)
            .send()
            .await
            .map_err(failed("callback"))?;
        let landing = header(&resp, "location").unwrap_or_default();
        if !landing.ends_with("ponto_status=CONNECTED") {
            return Err(AppError::internal(format!(
                "demo: linking failed: {landing}"
            )));
        }
        Ok(())
    }

    /// The first import starts when the link commits; waits until it finished.
    async fn wait_for_import(&self) -> AppResult<()> {
        let q = "{ pontoConnection { lastReadAt } }";
        for _ in 0..600 {
            let data = self.graphql(q, json!({})).await?;
            if !data["pontoConnection"]["lastReadAt"].is_null() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(AppError::internal(
            "demo: the first import did not finish within a minute",
        ))
    }

    /// Creates the demo organization's webhook endpoint; its secret.
    async fn subscribe(&self, url: &str) -> AppResult<String> {
        // What a bookkeeper acts on; each bank transaction would be hundreds of lines.
        let types: Vec<&str> = EventType::ALL
            .iter()
            .map(|t| t.as_str())
            .filter(|t| !t.starts_with("bank_transaction."))
            .collect();
        let m = "mutation($u: String!, $t: [String!]) { createWebhookEndpoint(input: {url: $u, description: \"demo\", eventTypes: $t}) { secret userErrors { message } } }";
        let d = self.graphql(m, json!({"u": url, "t": types})).await?;
        d["createWebhookEndpoint"]["secret"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| AppError::internal(format!("the demo endpoint was refused: {d}")))
    }

    async fn push_invoices(&self, invoices: &[Value]) -> AppResult<()> {
        let m = "mutation($inv: [InvoiceInput!]!) { upsertInvoices(input: {invoices: $inv}) { userErrors { message } } }";
        let data = self.graphql(m, json!({"inv": invoices})).await?;
        match data["upsertInvoices"]["userErrors"].as_array() {
            Some(errors) if errors.is_empty() => Ok(()),
            _ => Err(AppError::internal(format!(
                "demo: invoices refused: {data}"
            ))),
        }
    }
}

/// The confirmation page's form as a browser submits it with the `decision` button pressed
/// (`continue` or `decline`): its hidden fields and the button's value.
pub fn confirmation_form(page: &str, decision: &str) -> Option<Vec<(String, String)>> {
    let hidden = |name: &str| {
        let marker = format!("name={name} value=\"");
        let start = page.find(&marker)? + marker.len();
        let len = page[start..].find('"')?;
        Some(page[start..start + len].to_owned())
    };
    Some(vec![
        ("ticket".into(), hidden("ticket")?),
        ("csrf".into(), hidden("csrf")?),
        ("decision".into(), decision.to_owned()),
    ])
}

/// Links the token's tenant to a sandbox organization the way a user does (see
/// `Client::link`). The first import starts when it returns. (Also used by the first-import
/// benchmark.)
pub async fn link_through_browser(
    graphql_url: &str,
    token: &str,
    sandbox_url: &str,
    ponto_org: &str,
    accounts: &[String],
) -> AppResult<()> {
    Client::new(graphql_url, token, sandbox_url)?
        .link(ponto_org, accounts)
        .await
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The demo company's bank transactions and invoices, generated from a fixed seed.
struct DemoData {
    current: Vec<Value>,
    savings: Vec<Value>,
    second: Vec<Value>,
    invoices: Vec<Value>,
}

const CUSTOMERS: &[(&str, &str)] = &[
    ("Brasserie De Kroon", "BE68539007547034"),
    ("Atelier Lumière SRL", "BE71096123456769"),
    ("Van Damme Logistics NV", "BE62510007547061"),
    ("Studio Noord BV", "BE43068999999501"),
    ("Café Central", "BE21001234567803"),
];

const SUPPLIERS: &[(&str, &str)] = &[
    ("Proximus", "Monthly subscription"),
    ("Engie Electrabel", "Energy advance"),
    ("Office Depot", "Office supplies"),
    ("Securex", "Social secretariat"),
    ("Colruyt", "Card payment"),
];

/// `+++ddd/dddd/ddddd+++` with two different neighbouring digits of its base swapped: that
/// changes the base by 9·(a−b)·10ᵏ, never a multiple of 97, so the check always fails.
fn typo(ogm: &str) -> String {
    let mut b = ogm.as_bytes().to_vec();
    let digits: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_ascii_digit()).collect();
    let pair = digits[..10]
        .windows(2)
        .rev()
        .find(|w| b[w[0]] != b[w[1]])
        .expect("an OGM has two different digits");
    b.swap(pair[0], pair[1]);
    String::from_utf8(b).expect("ASCII")
}

fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

impl DemoData {
    fn generate(rng: &mut StdRng, today: NaiveDate) -> Self {
        let mut current = Vec::new();
        let mut invoices = Vec::new();
        // Sales invoices: the older ones paid by transfer with their structured reference —
        // some only in part, some with too much, one with a typing slip in the reference (a
        // suggestion for a person to accept), the recent ones not yet.
        for n in 1..=40u64 {
            let (name, iban) = CUSTOMERS[rng.random_range(0..CUSTOMERS.len())];
            let cents: i64 = rng.random_range(15_000..750_000);
            let issued = today - Duration::days(rng.random_range(0..110));
            let reference = ogm_from_base(2_026_000_000 + n);
            let paid = issued + Duration::days(rng.random_range(3..30));
            if paid < today {
                let (amount, communication, kind) = match n % 10 {
                    3 => (
                        cents * 2 / 5,
                        reference.normalized().to_owned(),
                        "structured",
                    ),
                    7 => (
                        cents + 2_500,
                        reference.normalized().to_owned(),
                        "structured",
                    ),
                    // The customer swapped two digits: the check fails, one slip from ours.
                    5 => (cents, typo(&reference.to_string()), "unstructured"),
                    _ => (cents, reference.normalized().to_owned(), "structured"),
                };
                // The mistyped one is paid from an account the invoice does not name, so only
                // the slip (and the name) point at it: a suggestion, never applied on its own.
                let from = if n % 10 == 5 {
                    "BE56363123456788"
                } else {
                    iban
                };
                current.push(json!({
                    "amount": money(amount), "counterpartName": name, "counterpartReference": from,
                    "remittanceInformation": communication,
                    "remittanceInformationType": kind,
                    "valueDate": paid, "executionDate": paid,
                    "endToEndId": format!("DEMO-SI-{n}"),
                }));
            }
            invoices.push(json!({
                "externalId": format!("demo-sales-{n}"), "kind": InvoiceKind::SalesInvoice.as_str(),
                "number": format!("2026/{n:04}"), "counterpartyName": name, "counterpartyIban": iban,
                "currency": "EUR", "total": money(cents), "issueDate": issued,
                "dueDate": issued + Duration::days(30), "structuredReference": reference.normalized(),
            }));
        }
        // Purchase invoices, most paid with the supplier's invoice number in free text.
        for n in 1..=15u64 {
            let (name, what) = SUPPLIERS[rng.random_range(0..SUPPLIERS.len())];
            let cents: i64 = rng.random_range(4_000..120_000);
            let issued = today - Duration::days(rng.random_range(0..100));
            let paid = issued + Duration::days(rng.random_range(1..20));
            if paid < today {
                current.push(json!({
                    "amount": money(-cents), "counterpartName": name,
                    "remittanceInformation": format!("{what} invoice P-{n:05}"),
                    "valueDate": paid, "executionDate": paid,
                }));
            }
            invoices.push(json!({
                "externalId": format!("demo-purchase-{n}"), "kind": InvoiceKind::PurchaseInvoice.as_str(),
                "number": format!("P-{n:05}"), "counterpartyName": name,
                "currency": "EUR", "total": money(cents), "issueDate": issued,
                "dueDate": issued + Duration::days(21),
            }));
        }
        // Everyday card payments and monthly salaries fill the history.
        for day in 0..180 {
            let date = today - Duration::days(day);
            if rng.random_bool(0.9) {
                let (name, _) = SUPPLIERS[4];
                current.push(json!({
                    "amount": money(-rng.random_range(350..9_000)), "counterpartName": name,
                    "remittanceInformation": format!("Card payment {date}"),
                    "valueDate": date, "executionDate": date,
                }));
            }
            if date.day() == 25 {
                for employee in ["J. Peeters", "M. Janssens", "S. Maes"] {
                    current.push(json!({
                        "amount": money(-rng.random_range(260_000..340_000)),
                        "counterpartName": employee,
                        "remittanceInformation": format!("Salary {}", date.format("%B %Y")),
                        "valueDate": date, "executionDate": date,
                    }));
                }
            }
        }
        // Card payments the bank has not settled yet.
        for n in 0..6 {
            let date = today - Duration::days(n % 3);
            current.push(json!({
                "amount": money(-rng.random_range(500..15_000)), "pending": true,
                "counterpartName": "Shell Express", "remittanceInformation": "Card payment (pending)",
                "executionDate": date, "endToEndId": format!("DEMO-PENDING-{n}"),
            }));
        }
        let savings = (1..=6)
            .map(|m| {
                let date = today - Duration::days(30 * m);
                json!({"amount": "2000.00", "counterpartName": "Demo Company BV",
                       "remittanceInformation": "Monthly savings", "valueDate": date, "executionDate": date})
            })
            .collect();
        let second = (0..12)
            .map(|n| {
                let date = today - Duration::days(7 * n);
                json!({"amount": money(-rng.random_range(1_000..20_000)), "counterpartName": "Fleet leasing",
                       "remittanceInformation": "Fuel card", "valueDate": date, "executionDate": date})
            })
            .collect();
        Self {
            current,
            savings,
            second,
            invoices,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats_minor_units_exactly() {
        assert_eq!(money(123_456), "1234.56");
        assert_eq!(money(-5), "-0.05");
        assert_eq!(money(0), "0.00");
    }

    #[test]
    fn the_demo_data_is_a_few_hundred_transactions_and_is_reproducible() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let a = DemoData::generate(&mut StdRng::seed_from_u64(2026), today);
        let b = DemoData::generate(&mut StdRng::seed_from_u64(2026), today);
        assert_eq!(a.current, b.current);
        assert!((200..600).contains(&a.current.len()), "{}", a.current.len());
        assert_eq!(a.current.iter().filter(|t| t["pending"] == true).count(), 6);
        assert_eq!(a.invoices.len(), 55);
        let typo = super::typo("+++090/9337/55493+++");
        assert_eq!(typo, "+++090/9337/54593+++");
        assert!(ponto_bridge::domain::reference::StructuredReference::parse(&typo).is_err());
        assert!(
            a.invoices
                .iter()
                .any(|i| i["kind"] == InvoiceKind::PurchaseInvoice.as_str())
        );
    }
}
