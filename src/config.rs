//! Owns configuration: every setting is a flag and an environment variable with its default
//! shown in `--help` (and repeated in the README). Secrets are `Secret`s and never printed.

use crate::secret::Secret;
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod ponto;

pub use ponto::PontoSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    /// Zero set-up: missing secrets are generated once into the data directory.
    Development,
    /// Missing secrets are a start-up error.
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings shared by every command that touches the database or the JWT secret.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Deployment environment: `development` generates missing secrets into the data
    /// directory (with a warning); `production` refuses to start without them.
    #[arg(long, env = "PB_ENV", value_enum, default_value_t = Environment::Development)]
    pub environment: Environment,

    /// Directory for the embedded SQLite database and generated development secrets.
    #[arg(long, env = "PB_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Database URL, `sqlite://…` or `postgres://…`. Default: the SQLite file
    /// `<data dir>/ponto-bridge.db`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,

    /// Maximum pooled database connections.
    #[arg(long, env = "PB_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,

    /// Milliseconds a request waits for a pooled database connection (or for a new one to open)
    /// before failing fast with `UPSTREAM_UNAVAILABLE` and `retryAfter`.
    #[arg(long, env = "PB_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5000)]
    pub db_acquire_timeout_ms: u64,

    /// Milliseconds `/readyz` waits for the database before answering 503
    /// `DATABASE_UNAVAILABLE`.
    #[arg(long, env = "PB_READYZ_TIMEOUT_MS", default_value_t = 2000)]
    pub readyz_timeout_ms: u64,

    /// Shared secret for HS256 user tokens (at least 32 bytes). Default in development: a
    /// random 256-bit secret generated once into `<data dir>/jwt-hs256.secret` (mode 0600).
    #[arg(long, env = "PB_JWT_HS256_SECRET", hide_env_values = true)]
    pub jwt_hs256_secret: Option<Secret>,

    /// PEM file with the RSA (RS256) or EC P-256 (ES256) public key of the token issuer.
    #[arg(long, env = "PB_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,

    /// Required `iss` of user tokens.
    #[arg(long, env = "PB_JWT_ISSUER", default_value = "ponto-bridge")]
    pub jwt_issuer: String,

    /// Required `aud` of user tokens.
    #[arg(long, env = "PB_JWT_AUDIENCE", default_value = "ponto-bridge")]
    pub jwt_audience: String,

    /// Claim naming the caller's organization; the organization is created on first use.
    #[arg(long, env = "PB_JWT_ORG_CLAIM", default_value = "org")]
    pub jwt_org_claim: String,

    /// Encryption keys for secrets at rest: `kid:base64key` pairs (32-byte keys), comma-separated,
    /// the first one current. Default in development: generated once into
    /// `<data dir>/encryption.keys` (mode 0600). `ponto-bridge keys rotate` re-encrypts under the
    /// current key.
    #[arg(long, env = "PB_ENCRYPTION_KEYS", hide_env_values = true)]
    pub encryption_keys: Option<Secret>,

    /// Clock skew tolerated on `exp`/`nbf`, in seconds (at most 60).
    #[arg(long, env = "PB_JWT_LEEWAY_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=60))]
    pub jwt_leeway_secs: u64,
}

impl Settings {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("ponto-bridge.db").display()
            ),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url()
            .split(':')
            .next()
            .is_some_and(|s| s == "postgres" || s == "postgresql")
    }
}

/// Settings of the HTTP server (`serve`, `demo`).
#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    #[command(flatten)]
    pub settings: Settings,

    #[command(flatten)]
    pub ponto: PontoSettings,

    /// Address to listen on. Port 0 picks a free port (the address is printed at start-up).
    #[arg(long, env = "PB_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Public base URL of this service, used in links we hand out. Default: `http://<bind>`.
    #[arg(long, env = "PB_PUBLIC_URL")]
    pub public_url: Option<url::Url>,

    /// Origins allowed to call the API from a browser (comma-separated). None by default.
    #[arg(long, env = "PB_CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// Origins a `connectPonto` / `requestReauthorization` `returnUrl` may point to
    /// (comma-separated, e.g. `https://app.example.com`). None by default.
    #[arg(long, env = "PB_RETURN_URL_ORIGINS", value_delimiter = ',')]
    pub return_url_origins: Vec<String>,

    /// How often every connected organization's data is read from Ponto (reading only: the
    /// scheduler never asks Ponto to contact the bank), in seconds. 0 switches scheduled reads
    /// off: only the reads asked for run (after linking, `syncNow`, a re-authorization).
    #[arg(long, env = "PB_READ_INTERVAL_SECS", default_value_t = 3600)]
    pub read_interval_secs: u64,

    /// Days of booked transactions re-read on each read; one missing there is marked removed.
    #[arg(long, env = "PB_READ_WINDOW_DAYS", default_value_t = 90)]
    pub read_window_days: i64,

    /// Least time between two `syncNow` for one account, in seconds.
    #[arg(long, env = "PB_SYNC_COOLDOWN_SECS", default_value_t = 1800)]
    pub sync_cooldown_secs: i64,

    /// Lifetime of the re-authorization links we put in events, in days.
    #[arg(long, env = "PB_REAUTH_LINK_DAYS", default_value_t = 30)]
    pub reauth_link_days: i64,

    /// Ponto re-authorization requests allowed per account within `PB_REAUTH_WINDOW_SECS`
    /// (opened links and `requestReauthorization` together); beyond, RATE_LIMITED.
    #[arg(long, env = "PB_REAUTH_REQUESTS_PER_WINDOW", default_value_t = 5,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub reauth_requests_per_window: i32,

    /// The window of `PB_REAUTH_REQUESTS_PER_WINDOW`, in seconds.
    #[arg(long, env = "PB_REAUTH_WINDOW_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub reauth_window_secs: i64,

    /// How long finished or expired connect and re-authorization flows are kept, in hours.
    #[arg(long, env = "PB_FLOW_RETENTION_HOURS", default_value_t = 24,
          value_parser = clap::value_parser!(i64).range(0..))]
    pub flow_retention_hours: i64,

    /// Run the background tasks (scheduled reads, deleting old flows). Off only for tools and
    /// tests that must see the database untouched by anything but their own requests.
    #[arg(long, env = "PB_BACKGROUND_TASKS", default_value_t = true, action = clap::ArgAction::Set)]
    pub background_tasks: bool,

    /// How often the scheduler looks for due reads, in milliseconds (it is also woken at once
    /// when a link or a synchronization completes).
    #[arg(long, env = "PB_SCHEDULER_POLL_MS", default_value_t = 1000)]
    pub scheduler_poll_ms: u64,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "PB_MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,

    /// Largest accepted Ponto webhook body, in bytes (Ponto's events are under 1 KiB).
    #[arg(
        long,
        env = "PB_PONTO_WEBHOOK_MAX_BODY_BYTES",
        default_value_t = 65_536
    )]
    pub ponto_webhook_max_body_bytes: usize,

    /// Ponto webhook effects (pulls) running at once, in all.
    #[arg(long, env = "PB_INBOUND_CONCURRENCY", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub inbound_concurrency: u16,

    /// Ponto webhook effects running at once for one Ponto organization.
    #[arg(long, env = "PB_INBOUND_PER_ORGANIZATION", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub inbound_per_organization: u16,

    /// How long a worker's claim on a stored webhook lasts, in seconds; a worker that dies
    /// leaves its events to others after this.
    #[arg(long, env = "PB_INBOUND_LEASE_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub inbound_lease_secs: i64,

    /// Attempts at a webhook's effect before it is FAILED (retried after 1 s, 5 s, 30 s, 2 min,
    /// 10 min, then every 30 min); `retryInboundEvents` requeues failed ones.
    #[arg(long, env = "PB_INBOUND_MAX_ATTEMPTS", default_value_t = 8,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub inbound_max_attempts: i32,

    /// Days processed and ignored Ponto webhooks are kept.
    #[arg(long, env = "PB_INBOUND_RETENTION_DAYS", default_value_t = 7,
          value_parser = clap::value_parser!(i64).range(0..))]
    pub inbound_retention_days: i64,

    /// Non-public hosts and address ranges outbound webhooks may target all the same,
    /// comma-separated (CIDRs and host names, e.g. `127.0.0.1/32,hooks.internal`). Public
    /// addresses need no listing; loopback, private, link-local and every other non-public
    /// address are refused unless listed, at creation and after resolution at delivery. A listed
    /// name is trusted whatever it resolves to. Empty: none.
    #[arg(long, env = "PB_WEBHOOK_ALLOWED_TARGETS", default_value = "")]
    pub webhook_allowed_targets: String,

    /// Accept plain-http endpoint URLs (development and tests).
    #[arg(long, env = "PB_WEBHOOK_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_http: bool,

    /// Extra trusted CA certificates (PEM) for webhook deliveries, e.g. receivers inside a
    /// network with its own CA. The public roots stay trusted; host names are verified either way.
    #[arg(long, env = "PB_WEBHOOK_CA_CERT")]
    pub webhook_ca_cert: Option<PathBuf>,

    /// How webhook host names are resolved: the system resolver (tests replace it).
    #[arg(skip)]
    pub webhook_lookup: crate::outbound::guard::HostLookup,

    /// Hours a rotated-out endpoint secret keeps signing beside the new one (0 to 720).
    #[arg(long, env = "PB_WEBHOOK_SECRET_OVERLAP_HOURS", default_value_t = 24,
          value_parser = clap::value_parser!(i64).range(0..=720))]
    pub webhook_secret_overlap_hours: i64,

    /// Outbound webhook attempts in flight at once, in all.
    #[arg(long, env = "PB_WEBHOOK_CONCURRENCY", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub webhook_concurrency: u16,

    /// Outbound webhook attempts in flight at once to one endpoint (a slow or dead endpoint
    /// holds no more of the others' room).
    #[arg(long, env = "PB_WEBHOOK_PER_ENDPOINT", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub webhook_per_endpoint: u16,

    /// Seconds an endpoint has to answer one attempt.
    #[arg(long, env = "PB_WEBHOOK_TIMEOUT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=120))]
    pub webhook_timeout_secs: u64,

    /// Seconds before each attempt of a delivery, comma-separated: the first is before the first
    /// attempt; a delivery fails after the last (each delay ±10%, or later when the endpoint
    /// says `Retry-After`).
    #[arg(
        long,
        env = "PB_WEBHOOK_RETRY_SCHEDULE",
        default_value = "0,5,300,1800,7200,18000,36000,36000"
    )]
    pub webhook_retry_schedule: String,

    /// Hours an endpoint may fail without a success before it is disabled (with a
    /// `webhook_endpoint.disabled` event).
    #[arg(long, env = "PB_WEBHOOK_DISABLE_AFTER_HOURS", default_value_t = 120,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub webhook_disable_after_hours: i64,

    /// Days webhook attempts are kept (a delivery is kept as long as its event).
    #[arg(long, env = "PB_WEBHOOK_RETENTION_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(i64).range(1..=3650))]
    pub webhook_retention_days: i64,

    /// How far back `recoverWebhookEndpoint` may reach, in days; events are kept at least this
    /// long. Default: the retention.
    #[arg(long, env = "PB_WEBHOOK_RECOVER_WINDOW_DAYS",
          value_parser = clap::value_parser!(i64).range(1..=3650))]
    pub webhook_recover_window_days: Option<i64>,

    /// Deepest GraphQL selection accepted.
    #[arg(long, env = "PB_GRAPHQL_MAX_DEPTH", default_value_t = 12)]
    pub graphql_max_depth: usize,

    /// Highest GraphQL complexity accepted (each field costs 1, lists multiply by `first`/`last`).
    #[arg(long, env = "PB_GRAPHQL_MAX_COMPLEXITY", default_value_t = 20_000)]
    pub graphql_max_complexity: usize,

    /// Most aliases accepted in one GraphQL document.
    #[arg(long, env = "PB_GRAPHQL_MAX_ALIASES", default_value_t = 30)]
    pub graphql_max_aliases: usize,

    /// Most HTTP requests served at once; one more is answered 503 `OVERLOADED` with
    /// `Retry-After` at once (`/healthz`, `/readyz` and `/metrics` are never refused).
    #[arg(long, env = "PB_MAX_REQUESTS_IN_FLIGHT", default_value_t = 256)]
    pub max_requests_in_flight: usize,

    /// Milliseconds a GraphQL, OAuth or webhook request may run before it is answered 503
    /// `DEADLINE_EXCEEDED` with `Retry-After`. Steps that call Ponto and must not stop halfway
    /// (the OAuth code exchange, `syncNow`, `requestReauthorization`) finish in the background.
    #[arg(long, env = "PB_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Most GraphQL WebSocket connections one organization may hold open on this instance;
    /// one more is closed with 1013 (try again later).
    #[arg(
        long,
        env = "PB_WS_MAX_CONNECTIONS_PER_ORGANIZATION",
        default_value_t = 100
    )]
    pub ws_max_connections_per_organization: usize,

    /// Most operations running at once on one WebSocket connection; one more is refused with
    /// an `error` message (`SUBSCRIPTION_LIMIT`), the connection stays.
    #[arg(
        long,
        env = "PB_WS_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        default_value_t = 25
    )]
    pub ws_max_subscriptions_per_connection: usize,

    /// Largest WebSocket message accepted, in bytes; a larger one closes the connection (1009).
    #[arg(long, env = "PB_WS_MAX_MESSAGE_BYTES", default_value_t = 65_536)]
    pub ws_max_message_bytes: usize,

    /// Seconds a WebSocket client has to send `connection_init` (then 4408).
    #[arg(long, env = "PB_WS_INIT_TIMEOUT_SECS", default_value_t = 10)]
    pub ws_init_timeout_secs: u64,

    /// Seconds between the server's keep-alive pings on a WebSocket connection.
    #[arg(long, env = "PB_WS_KEEPALIVE_SECS", default_value_t = 15)]
    pub ws_keepalive_secs: u64,

    /// Seconds one WebSocket message may take to leave before the client counts as not reading
    /// and its connection is dropped.
    #[arg(long, env = "PB_WS_SEND_TIMEOUT_SECS", default_value_t = 10)]
    pub ws_send_timeout_secs: u64,

    /// Serve schema introspection, field suggestions and GraphiQL. Default: on in development,
    /// off in production.
    #[arg(long, env = "PB_GRAPHQL_INTROSPECTION", action = clap::ArgAction::Set)]
    pub graphql_introspection: Option<bool>,

    /// Log format.
    #[arg(long, env = "PB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// How long in-flight requests may take to finish after a shutdown signal, in seconds.
    #[arg(long, env = "PB_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
}

impl ServeSettings {
    pub fn public_url(&self, bound: SocketAddr) -> url::Url {
        self.public_url.clone().unwrap_or_else(|| {
            url::Url::parse(&format!("http://{bound}")).expect("socket address forms a URL")
        })
    }

    /// How stored Ponto webhooks are processed.
    pub fn processor_config(&self) -> crate::inbound::process::ProcessorConfig {
        crate::inbound::process::ProcessorConfig {
            concurrency: self.inbound_concurrency.into(),
            per_organization: self.inbound_per_organization.into(),
            lease: chrono::Duration::seconds(self.inbound_lease_secs),
            max_attempts: self.inbound_max_attempts,
            retention: chrono::Duration::days(self.inbound_retention_days),
            poll: Duration::from_millis(self.scheduler_poll_ms.max(10)),
        }
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// Introspection (and GraphiQL) as configured, else on in development only.
    pub fn introspection(&self) -> bool {
        self.graphql_introspection
            .unwrap_or(self.settings.environment == Environment::Development)
    }

    /// What production requires beyond secrets: links we hand out and the Ponto API over https.
    pub fn check_posture(&self) -> Result<(), String> {
        if self.settings.environment != Environment::Production {
            return Ok(());
        }
        match &self.public_url {
            Some(u) if u.scheme() == "https" => {}
            Some(u) => {
                return Err(format!(
                    "PB_PUBLIC_URL must be https in production, not {u}"
                ));
            }
            None => return Err("PB_PUBLIC_URL (https) is required in production".into()),
        }
        if self.ponto.ponto_api_root.scheme() != "https" {
            return Err(format!(
                "PB_PONTO_API_ROOT must be https in production, not {}",
                self.ponto.ponto_api_root
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeSettings,
    }

    #[test]
    fn defaults_are_zero_setup_sqlite() {
        let cli = Cli::try_parse_from(["pb", "--data-dir", "/tmp/x"]).unwrap();
        assert_eq!(
            cli.serve.settings.database_url(),
            "sqlite:///tmp/x/ponto-bridge.db?mode=rwc"
        );
        assert!(!cli.serve.settings.is_postgres());
        assert!(cli.serve.cors_allowed_origins.is_empty());
        assert_eq!(cli.serve.settings.environment, Environment::Development);
    }

    #[test]
    fn ponto_production_defaults_are_pinned() {
        let cli = Cli::try_parse_from(["pb"]).unwrap();
        let p = &cli.serve.ponto;
        assert_eq!(p.ponto_api_root.as_str(), "https://api.ibanity.com/");
        assert_eq!(
            p.ponto_authorization_url.as_str(),
            "https://authorization.myponto.com/oauth2/auth"
        );
        assert_eq!(
            p.webhook_keys_url(),
            "https://api.ibanity.com/webhooks/keys"
        );
        assert_eq!(p.webhook_issuer(), "https://api.ibanity.com");
        assert_eq!(cli.serve.ponto_webhook_max_body_bytes, 65_536);
    }

    #[test]
    fn leeway_above_sixty_seconds_is_refused() {
        assert!(Cli::try_parse_from(["pb", "--jwt-leeway-secs", "61"]).is_err());
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let cli = Cli::try_parse_from([
            "pb",
            "--jwt-hs256-secret",
            "a-very-long-secret-value-of-32-bytes!",
            "--database-url",
            "postgres://u:pw-in-url@h/db",
        ])
        .unwrap();
        let dbg = format!("{:?}", cli.serve);
        assert!(!dbg.contains("a-very-long-secret"));
        assert!(!dbg.contains("pw-in-url"));
    }
}
