//! The `ponto-bridge` command line: a thin layer over the service library's rooms, plus the
//! commands that bring the Ponto sandbox (`sandbox`, `demo`), so the library never depends on it.

use ponto_bridge_cli::demo;

use clap::{Parser, Subcommand};
use ponto_bridge::app::{App, shutdown_signal};
use ponto_bridge::auth::Authenticator;
use ponto_bridge::clock::SystemClock;
use ponto_bridge::config::{LogFormat, ServeSettings, Settings};
use ponto_bridge::domain::scope::parse_scopes;
use ponto_bridge::error::AppError;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "ponto-bridge",
    version,
    about = "Live bank connection for accounting products through Ponto"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-encrypt every secret under the current key. In development a new key is generated
    /// first; otherwise put the new key first in PB_ENCRYPTION_KEYS (keeping the old ones).
    Rotate(Settings),
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Verify a Ponto webhook as `/webhooks/ponto` would. Exit 0: verified (claims printed);
    /// 1: rejected (reason code on stderr); 2: usage or I/O error.
    Verify {
        /// The body, used byte for byte (a trailing newline is part of the signed body).
        #[arg(long)]
        body: std::path::PathBuf,
        /// A file holding the `Signature` header value (surrounding whitespace is ignored).
        #[arg(long)]
        signature: std::path::PathBuf,
        /// The key set: a file, or an http(s) URL such as https://api.ibanity.com/webhooks/keys.
        #[arg(long)]
        jwks: String,
        /// Our Ibanity application id (the expected `aud`).
        #[arg(long)]
        audience: String,
        /// The expected `iss`: the Ponto API root.
        #[arg(long, default_value = ponto_bridge::ponto::client::DEFAULT_API_ROOT)]
        issuer: String,
        /// Verify as at this time (unix seconds) instead of now.
        #[arg(long)]
        at: Option<i64>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (GraphQL, webhooks, OAuth callback, health).
    Serve(Box<ServeSettings>),
    /// Serve with the built-in Ponto sandbox and a demo organization already connected
    /// (its own fresh SQLite file `<data dir>/demo.db` unless DATABASE_URL is set).
    Demo(Box<demo::DemoSettings>),
    /// Apply database migrations and exit.
    Migrate(Settings),
    /// Print a development token signed with the configured (or generated) HS256 secret.
    Token {
        #[command(flatten)]
        settings: Settings,
        /// The organization claim (the tenant's id in the accounting product).
        #[arg(long)]
        org: String,
        /// The organization's display name (`org_name` claim), shown on the connect page.
        #[arg(long)]
        org_name: Option<String>,
        /// Space-separated scopes: read, write, admin.
        #[arg(long, default_value = "read write admin")]
        scope: String,
        /// The `sub` claim.
        #[arg(long, default_value = "developer")]
        subject: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl_secs: i64,
    },
    /// Print the GraphQL schema (SDL) as served.
    PrintSchema,
    /// Manage the encryption keys of secrets at rest.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Support tools for Ponto's webhooks.
    Webhook {
        #[command(subcommand)]
        action: WebhookCommand,
    },
    /// Run the built-in Ponto Connect simulator (see README, "The Ponto sandbox").
    Sandbox {
        /// Address to listen on.
        #[arg(long, env = "PB_SANDBOX_BIND", default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// Port to listen on (0 picks a free one).
        #[arg(long, env = "PB_SANDBOX_PORT", default_value_t = 9090)]
        port: u16,
        /// OAuth client id the sandbox accepts.
        #[arg(long, default_value = ponto_sandbox::DEFAULT_CLIENT_ID)]
        client_id: String,
        /// OAuth client secret the sandbox accepts.
        #[arg(long, default_value = ponto_sandbox::DEFAULT_CLIENT_SECRET)]
        client_secret: String,
        /// Serve HTTPS with this PEM certificate (chain)…
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<std::path::PathBuf>,
        /// …and this PEM private key.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<std::path::PathBuf>,
        /// Require client certificates signed by this PEM CA (mTLS, as Ibanity does).
        #[arg(long, requires = "tls_cert")]
        client_ca: Option<std::path::PathBuf>,
        /// The `kid` of the first webhook signing key.
        #[arg(long, default_value = ponto_sandbox::webhooks::DEFAULT_KID)]
        webhook_kid: String,
        /// Send Ponto's webhooks here (ponto-bridge's is `<public URL>/webhooks/ponto`); also
        /// settable with `PUT /_sandbox/webhooks/target`.
        #[arg(long, env = "PB_SANDBOX_WEBHOOK_URL")]
        webhook_url: Option<url::Url>,
        /// The Ibanity application the webhooks are for (their `aud` claim).
        #[arg(long, default_value = ponto_sandbox::webhooks::DEFAULT_APPLICATION_ID)]
        webhook_application_id: String,
    },
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal: a log file or collector gets plain text.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// `webhook verify`: exit 0 verified, 1 rejected, 2 usage or I/O error.
async fn webhook_verify(cmd: WebhookCommand) -> ExitCode {
    use ponto_bridge::ponto::webhook::{Expected, KeySet, verify_with_set};
    let WebhookCommand::Verify {
        body,
        signature,
        jwks,
        audience,
        issuer,
        at,
    } = cmd;
    let io = |what: &str, e: &dyn std::fmt::Display| {
        eprintln!("error: {what}: {e}");
        ExitCode::from(2)
    };
    let body = match std::fs::read(&body) {
        Ok(b) => b,
        Err(e) => return io(&format!("cannot read {}", body.display()), &e),
    };
    let signature = match std::fs::read_to_string(&signature) {
        Ok(s) => s.trim().to_owned(),
        Err(e) => return io(&format!("cannot read {}", signature.display()), &e),
    };
    let jwks_bytes = if jwks.starts_with("http://") || jwks.starts_with("https://") {
        let fetched = async { reqwest::get(&jwks).await?.error_for_status()?.bytes().await };
        match fetched.await {
            Ok(b) => b.to_vec(),
            Err(e) => return io(&format!("cannot fetch {jwks}"), &e),
        }
    } else {
        match std::fs::read(&jwks) {
            Ok(b) => b,
            Err(e) => return io(&format!("cannot read {jwks}"), &e),
        }
    };
    let keys = match KeySet::parse(&jwks_bytes) {
        Ok(k) => k,
        Err(e) => return io("the key set is not JSON Web Keys", &e),
    };
    let now = at.unwrap_or_else(|| chrono::Utc::now().timestamp());
    let expected = Expected { issuer, audience };
    match verify_with_set(&signature, &body, &keys, &expected, now) {
        Ok(claims) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&claims).expect("claims serialize")
            );
            ExitCode::SUCCESS
        }
        Err(r) => {
            eprintln!("rejected: {r}");
            ExitCode::from(1)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    ponto_bridge::install_crypto_provider();
    let command = match Cli::parse().command {
        // Its own exit codes: 1 means "rejected", not "failed".
        Command::Webhook { action } => return webhook_verify(action).await,
        other => other,
    };
    match run(command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.public_message());
            if let AppError::Internal(cause) = &e {
                eprintln!("cause: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), AppError> {
    match command {
        Command::Serve(serve) => {
            init_tracing(serve.log_format);
            let app = App::build(&serve, Arc::new(SystemClock)).await?;
            // Tests and scripts read this line to learn the port when binding port 0.
            println!("listening on http://{}", app.local_addr());
            tracing::info!(addr = %app.local_addr(), public_url = %app.public_url(), "ponto-bridge serving");
            app.run(shutdown_signal()).await
        }
        Command::Demo(settings) => {
            init_tracing(settings.serve.log_format);
            let demo = demo::start(*settings, Arc::new(SystemClock), shutdown_signal()).await?;
            println!("ponto-bridge demo is ready.");
            println!("  GraphiQL:      {}", demo.graphql_url);
            println!("  Ponto sandbox: {}", demo.sandbox.base_url);
            println!(
                "  Webhooks:      the demo organization's events go to {} and are printed here",
                demo.webhook_receiver
            );
            println!("  Token (organization \"{}\", 7 days):", demo::DEMO_ORG);
            println!("{}", demo.token);
            println!(
                "Open GraphiQL, add the header {{\"Authorization\": \"Bearer <token>\"}} and try:"
            );
            println!(
                "  {{ pontoConnection {{ status problems {{ code message }} }} bankAccounts {{ nodes {{ description currentBalance {{ amount currency }} }} }} }}"
            );
            println!(
                "For live updates, run this subscription in GraphiQL (same header) before booking below:"
            );
            println!("  {}", demo::LIVE_SUBSCRIPTION);
            let sb = &demo.sandbox.base_url;
            println!(
                "Ponto's webhooks come here: book a transaction at the sandbox bank, let Ponto synchronize, and it shows up within seconds:"
            );
            println!(
                "  curl -X POST {sb}/_sandbox/accounts/{}/transactions -H 'content-type: application/json' -d '{{\"amount\": \"12.34\", \"remittanceInformation\": \"from the demo\"}}'",
                demo.first_account
            );
            println!(
                "  curl -X POST {sb}/_sandbox/organizations/{}/synchronize",
                demo.ponto_organization
            );
            println!("Ctrl-C stops it.");
            demo.server.await.map_err(AppError::internal)?
        }
        Command::Migrate(settings) => {
            init_tracing(LogFormat::Text);
            let url = settings.database_url();
            let db = ponto_bridge::store::connect(&url, 2).await?;
            ponto_bridge::store::migrate(&db, &url).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Token {
            settings,
            org,
            org_name,
            scope,
            subject,
            ttl_secs,
        } => {
            let auth = Authenticator::from_settings(&settings, Arc::new(SystemClock))?;
            let scopes: Vec<_> = parse_scopes(&scope).into_iter().collect();
            println!(
                "{}",
                auth.mint_hs256_named(&org, org_name.as_deref(), &scopes, &subject, ttl_secs)?
            );
            Ok(())
        }
        Command::Sandbox {
            bind,
            port,
            client_id,
            client_secret,
            tls_cert,
            tls_key,
            client_ca,
            webhook_kid,
            webhook_url,
            webhook_application_id,
        } => {
            init_tracing(LogFormat::Text);
            let read = |p: &std::path::PathBuf| {
                std::fs::read(p)
                    .map_err(|e| AppError::bad_input(format!("cannot read {}: {e}", p.display())))
            };
            let tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some(ponto_sandbox::tls::TlsFiles {
                    cert_pem: read(&cert)?,
                    key_pem: read(&key)?,
                    client_ca_pem: client_ca.as_ref().map(read).transpose()?,
                }),
                _ => None,
            };
            let mut opts = ponto_sandbox::SandboxOptions::new(
                std::net::SocketAddr::new(bind, port),
                Arc::new(SystemClock),
            );
            opts.client_id = client_id;
            opts.client_secret = ponto_sandbox::ClientSecret::new(client_secret);
            opts.tls = tls;
            opts.webhook_kid = webhook_kid;
            opts.webhooks.target = webhook_url;
            opts.webhooks.audience = webhook_application_id;
            let sandbox = ponto_sandbox::start(opts)
                .await
                .map_err(|e| AppError::internal(format!("cannot start the sandbox: {e}")))?;
            println!("sandbox listening on {}", sandbox.base_url);
            shutdown_signal().await;
            Ok(())
        }
        Command::Keys {
            action: KeysCommand::Rotate(settings),
        } => {
            init_tracing(LogFormat::Text);
            let mut ring = ponto_bridge::crypto::KeyRing::from_settings(&settings)?;
            if settings.encryption_keys.is_none() {
                ring.add_dev_key()?;
            }
            let url = settings.database_url();
            let db = ponto_bridge::store::connect(&url, 2).await?;
            ponto_bridge::store::migrate(&db, &url).await?;
            let store = ponto_bridge::store::Store::new(
                db,
                ponto_bridge::bus::Bus::new(),
                Arc::new(SystemClock),
            );
            let done = ponto_bridge::crypto::rotate(&store, &ring).await?;
            println!(
                "re-encrypted {} secret(s) under key {}; {} changed meanwhile and were left as written",
                done.rotated,
                ring.current_kid(),
                done.changed_meanwhile
            );
            if done.remaining > 0 {
                return Err(AppError::bad_input(format!(
                    "{} secret(s) are still sealed under an older key (rewritten by an instance without the new key?): give every instance the new key ring, then run `keys rotate` again",
                    done.remaining
                )));
            }
            Ok(())
        }
        Command::Webhook { .. } => unreachable!("main runs it: it has its own exit codes"),
        Command::PrintSchema => {
            print!("{}", ponto_bridge::graphql::sdl());
            Ok(())
        }
    }
}
