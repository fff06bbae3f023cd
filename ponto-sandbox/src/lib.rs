//! Owns the Ponto Connect simulator (`ponto-bridge sandbox`): the real paths and JSON:API shapes
//! under the same root layout as Ponto (`/ponto-connect/…`, `/oauth2/auth` for the browser), and
//! a control API under `/_sandbox` for what the real world does. State lives in memory; several
//! organizations at once. Nothing here can reach the real Ponto.

mod api;
mod bank_api;
mod control;
mod control_tx;
mod control_webhooks;
pub mod deliver;
pub mod events;
mod inspect;
mod oauth;
pub(crate) mod observe;
mod render;
mod state;
mod sync;
mod syncs;
pub mod tls;
pub mod webhooks;
mod wire;

use axum::Router;
use axum::middleware;
use axum::routing::{delete, get, patch, post, put};
use pb_clock::SharedClock;
use state::World;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Default OAuth client of the sandbox (what `demo` and tests configure ponto-bridge with).
pub const DEFAULT_CLIENT_ID: &str = "sandbox-client";
pub const DEFAULT_CLIENT_SECRET: &str = "sandbox-secret";

/// An OAuth client secret the sandbox accepts; `Debug` does not show it.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(***)")
    }
}

#[derive(Clone)]
pub(crate) struct SandboxState {
    pub world: Arc<Mutex<World>>,
    /// Root URL the sandbox is reached at (used in links it hands out).
    pub base_url: String,
    /// How long each step (pending → running → done) of a client-created synchronization takes.
    pub sync_delay: Duration,
    /// How soon a second synchronization of one account and subtype is `accountRecentlySynchronized`.
    pub sync_window: Duration,
    /// The webhook signing keys (`/webhooks/keys`).
    pub signer: Arc<std::sync::RwLock<webhooks::Signer>>,
    /// The webhook sender (also the world's, which emits into it).
    pub outbox: Arc<deliver::Outbox>,
}

pub struct SandboxOptions {
    pub bind: SocketAddr,
    pub client_id: String,
    pub client_secret: ClientSecret,
    pub clock: SharedClock,
    pub sync_delay: Duration,
    pub sync_window: Duration,
    /// Serve HTTPS (optionally requiring client certificates) instead of plain HTTP.
    pub tls: Option<tls::TlsFiles>,
    /// The `kid` of the first webhook signing key.
    pub webhook_kid: String,
    /// Where webhooks go and how they are retried.
    pub webhooks: deliver::WebhookOptions,
}

impl SandboxOptions {
    /// Plain HTTP on `bind` with the default client, delays and window.
    pub fn new(bind: SocketAddr, clock: SharedClock) -> Self {
        Self {
            bind,
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: ClientSecret::new(DEFAULT_CLIENT_SECRET),
            clock,
            sync_delay: syncs::DEFAULT_SYNC_DELAY,
            sync_window: syncs::DEFAULT_SYNC_WINDOW,
            tls: None,
            webhook_kid: webhooks::DEFAULT_KID.into(),
            webhooks: deliver::WebhookOptions::default(),
        }
    }
}

/// A running sandbox.
pub struct SandboxHandle {
    pub addr: SocketAddr,
    pub base_url: String,
    state: SandboxState,
    task: tokio::task::JoinHandle<()>,
}

impl SandboxHandle {
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Sends webhooks to `url` from now on (as `PUT /_sandbox/webhooks/target` does).
    pub fn send_webhooks_to(&self, url: Option<url::Url>) {
        self.state.outbox.set_target(url);
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds and serves the sandbox in the background.
pub async fn start(opts: SandboxOptions) -> std::io::Result<SandboxHandle> {
    let listener = tokio::net::TcpListener::bind(opts.bind).await?;
    let addr = listener.local_addr()?;
    let scheme = if opts.tls.is_some() { "https" } else { "http" };
    let base_url = format!("{scheme}://{addr}");
    let signer = Arc::new(std::sync::RwLock::new(webhooks::Signer::new(
        &opts.webhook_kid,
    )));
    let outbox = Arc::new(deliver::Outbox::new(
        opts.webhooks,
        opts.clock.clone(),
        signer.clone(),
        base_url.clone(),
    ));
    let state = SandboxState {
        world: Arc::new(Mutex::new(World::new(
            opts.clock,
            &opts.client_id,
            &opts.client_secret,
            outbox.clone(),
        ))),
        base_url: base_url.clone(),
        sync_delay: opts.sync_delay,
        sync_window: opts.sync_window,
        signer,
        outbox,
    };
    let app = router(state.clone());
    let task = tls::spawn_server(listener, app, opts.tls)?;
    Ok(SandboxHandle {
        addr,
        base_url,
        state,
        task,
    })
}

fn router(state: SandboxState) -> Router {
    const FI_ACCOUNTS: &str =
        "/sandbox/financial-institutions/{bank}/financial-institution-accounts";
    let ponto = Router::new()
        .route("/oauth2/token", post(oauth::token))
        .route("/oauth2/revoke", post(oauth::revoke))
        .route("/userinfo", get(api::userinfo))
        .route("/accounts", get(api::accounts))
        .route(
            "/accounts/{id}",
            get(api::account).delete(api::revoke_account),
        )
        .route("/accounts/{id}/transactions", get(api::transactions))
        .route("/accounts/{id}/transactions/{tx}", get(api::transaction))
        .route(
            "/accounts/{id}/pending-transactions",
            get(api::pending_transactions),
        )
        .route(
            "/accounts/{id}/pending-transactions/{tx}",
            get(api::pending_transaction),
        )
        .route(
            "/accounts/{id}/reauthorization-requests",
            post(syncs::request_reauthorization),
        )
        .route("/financial-institutions", get(api::financial_institutions))
        .route(
            "/financial-institutions/{id}",
            get(api::financial_institution),
        )
        .route(
            "/organizations/{id}/integration",
            delete(api::delete_integration),
        )
        .route("/synchronizations", post(syncs::create))
        .route("/synchronizations/{id}", get(syncs::get))
        .route(
            "/synchronizations/{id}/updated-transactions",
            get(syncs::updated_transactions),
        )
        .route(
            "/synchronizations/{id}/updated-pending-transactions",
            get(syncs::updated_pending_transactions),
        )
        .route(FI_ACCOUNTS, get(bank_api::accounts))
        .route(
            &format!("{FI_ACCOUNTS}/{{account}}"),
            get(bank_api::account),
        )
        .route(
            &format!("{FI_ACCOUNTS}/{{account}}/financial-institution-transactions"),
            get(bank_api::transactions).post(bank_api::create_transaction),
        )
        .route(
            &format!("{FI_ACCOUNTS}/{{account}}/financial-institution-transactions/{{tx}}"),
            get(bank_api::transaction).patch(bank_api::patch_transaction),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::faults,
        ));
    let control = Router::new()
        .route("/organizations", post(control::create_org))
        .route("/organizations/{org}", get(control::get_org))
        .route(
            "/organizations/{org}/accounts",
            post(control::create_account),
        )
        .route(
            "/organizations/{org}/revoke-integration",
            post(control::revoke_integration),
        )
        .route(
            "/organizations/{org}/integration/accounts/{account}",
            put(control::activate).delete(control::deactivate),
        )
        .route("/organizations/{org}/block", post(control::block))
        .route("/organizations/{org}/unblock", post(control::unblock))
        .route(
            "/organizations/{org}/synchronize",
            post(control::synchronize),
        )
        .route("/accounts/{account}", patch(control::change_account))
        .route(
            "/accounts/{account}/authorization",
            post(control::set_authorization),
        )
        .route(
            "/accounts/{account}/transactions",
            post(control_tx::create_transactions),
        )
        .route(
            "/transactions/{tx}",
            patch(control_tx::change).delete(control_tx::delete),
        )
        .route("/transactions/{tx}/book", post(control_tx::book))
        .route(
            "/faults",
            post(control::add_fault).delete(control::clear_faults),
        )
        .route("/stats", get(control::stats))
        .route("/webhooks/keys/rotate", post(webhooks::rotate))
        .route("/webhooks/keys/{kid}", delete(webhooks::remove))
        .route("/webhooks/sign", post(webhooks::sign))
        .route("/webhooks/target", put(control_webhooks::target))
        .route("/webhooks/emit", post(control_webhooks::emit))
        .route("/webhooks/duplicate", post(control_webhooks::duplicate))
        .route("/webhooks/delay", post(control_webhooks::delay))
        .route("/webhooks/hold", post(control_webhooks::hold))
        .route("/webhooks/release", post(control_webhooks::release))
        .route("/webhooks/pause", post(control_webhooks::pause))
        .route("/webhooks/resume", post(control_webhooks::resume))
        .route("/webhooks/deliveries", get(control_webhooks::deliveries))
        .route("/stats/reset", post(observe::reset_stats))
        .route("/requests", get(observe::requests));
    // Webhook keys live at the API root, not under `/ponto-connect`.
    let keys = Router::new()
        .route("/webhooks/keys", get(webhooks::keys))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::faults,
        ));
    Router::new()
        .nest("/ponto-connect", ponto)
        .merge(keys)
        .nest("/_sandbox", control)
        .route("/oauth2/auth", get(oauth::authorize_page).post(oauth::authorize_decision))
        .route(
            "/organizations/{org}/sandbox/integrations/{integration}/accounts/{account}/reauthorization-requests/{request}",
            get(syncs::reauthorization_page).post(syncs::reauthorization_decision),
        )
        .with_state(state)
}
