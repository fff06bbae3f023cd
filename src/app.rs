//! Owns wiring: builds the store, the authenticator, the schema and the router from settings,
//! binds the listener, and runs until a shutdown signal with a grace period.

use crate::auth::Authenticator;
use crate::bus::Bus;
use crate::clock::SharedClock;
use crate::config::ServeSettings;
use crate::connect::{Connect, ReauthLimit};
use crate::crypto::KeyRing;
use crate::error::{AppError, AppResult};
use crate::graphql::{Limits, Services, build_schema};
use crate::http::{AppState, HttpOptions, router};
use crate::inbound::Inbound;
use crate::metrics::Metrics;
use crate::ponto::PontoClient;
use crate::ponto::webhook::Expected;
use crate::ponto::webhook_keys::WebhookKeys;
use crate::pull::{PullConfig, Puller};
use crate::store::{self, Store};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

pub struct App {
    listener: TcpListener,
    router: axum::Router,
    store: Store,
    auth: Arc<Authenticator>,
    connect: Connect,
    puller: Puller,
    processor: crate::inbound::process::Processor,
    deliverer: crate::outbound::Deliverer,
    public_url: url::Url,
    grace: std::time::Duration,
    flow_retention: chrono::Duration,
    poll: std::time::Duration,
    background_tasks: bool,
}

impl App {
    /// Connects and migrates the database, then binds the listener (port 0 picks a free one).
    pub async fn build(serve: &ServeSettings, clock: SharedClock) -> AppResult<App> {
        crate::install_crypto_provider();
        serve.check_posture().map_err(AppError::bad_input)?;
        let settings = &serve.settings;
        let auth = Arc::new(Authenticator::from_settings(settings, clock.clone())?);
        let url = settings.database_url();
        let db = store::connect_with(
            &url,
            settings.db_max_connections,
            std::time::Duration::from_millis(settings.db_acquire_timeout_ms.max(100)),
        )
        .await?;
        store::migrate(&db, &url).await?;
        let store = Store::new(db, Bus::new(), clock);

        let limits = Limits {
            max_depth: serve.graphql_max_depth,
            max_complexity: serve.graphql_max_complexity,
            max_aliases: serve.graphql_max_aliases,
            introspection: serve.introspection(),
        };
        let keys = Arc::new(KeyRing::from_settings(settings)?);
        let ponto = serve
            .ponto
            .client_config()?
            .map(PontoClient::new)
            .transpose()?;
        let listener = TcpListener::bind(serve.bind)
            .await
            .map_err(|e| AppError::internal(format!("cannot listen on {}: {e}", serve.bind)))?;
        let addr = listener.local_addr().map_err(AppError::internal)?;
        let public_url = serve.public_url(addr);
        let targets = crate::outbound::guard::TargetGuard::new(
            serve.webhook_targets().map_err(AppError::bad_input)?,
            serve.webhook_lookup.clone(),
        );
        let endpoints = crate::outbound::Endpoints::new(
            store.clone(),
            keys.clone(),
            targets.clone(),
            chrono::Duration::hours(serve.webhook_secret_overlap_hours),
            serve.recover_window(),
        );
        let metrics = Arc::new(Metrics::new());
        let deliverer = crate::outbound::Deliverer::new(
            store.clone(),
            keys.clone(),
            targets,
            serve.delivery_config().map_err(AppError::bad_input)?,
            metrics.deliveries.clone(),
        )?;
        let connect = Connect::new(
            store.clone(),
            ponto,
            keys,
            public_url.clone(),
            &own_origin_and(&public_url, &serve.return_url_origins),
            serve.reauth_link_days,
            ReauthLimit {
                requests: serve.reauth_requests_per_window,
                window: chrono::Duration::seconds(serve.reauth_window_secs),
            },
        )?;
        let pull_cfg = PullConfig {
            read_interval: chrono::Duration::seconds(serve.read_interval_secs as i64),
            window_days: serve.read_window_days,
            sync_cooldown: chrono::Duration::seconds(serve.sync_cooldown_secs),
            scheduler_poll: std::time::Duration::from_millis(serve.scheduler_poll_ms.max(10)),
        };
        let puller = Puller::new(
            store.clone(),
            connect.clone(),
            pull_cfg,
            metrics.sync.clone(),
        );
        let services = Services {
            store: store.clone(),
            connect: connect.clone(),
            puller: puller.clone(),
            invoices: crate::invoices::Invoices::new(store.clone()),
            endpoints,
            hub: crate::live::Hub::new(store.clone()),
        };
        let schema = build_schema(Some(services), &limits);
        let inbound = match &serve.ponto.ponto_application_id {
            Some(app_id) => Some(Arc::new(Inbound::new(
                store.clone(),
                WebhookKeys::new(
                    serve.ponto.http_client()?,
                    serve.ponto.webhook_keys_url(),
                    store.clock().clone(),
                    metrics.webhooks.key_fetches.clone(),
                ),
                Expected {
                    issuer: serve.ponto.webhook_issuer(),
                    audience: app_id.clone(),
                },
                metrics.webhooks.clone(),
            ))),
            None => None,
        };
        let opts = HttpOptions {
            max_body_bytes: serve.max_body_bytes,
            ponto_webhook_max_body_bytes: serve.ponto_webhook_max_body_bytes,
            cors_allowed_origins: serve.cors_allowed_origins.clone(),
            graphiql: serve.introspection(),
            ws: crate::http::WsOptions {
                max_connections_per_organization: serve.ws_max_connections_per_organization.max(1),
                max_subscriptions_per_connection: serve.ws_max_subscriptions_per_connection.max(1),
                max_message_bytes: serve.ws_max_message_bytes.max(1024),
                init_timeout: std::time::Duration::from_secs(serve.ws_init_timeout_secs.max(1)),
                keepalive: std::time::Duration::from_secs(serve.ws_keepalive_secs.max(1)),
                send_timeout: std::time::Duration::from_secs(serve.ws_send_timeout_secs.max(1)),
            },
            readyz_timeout: std::time::Duration::from_millis(settings.readyz_timeout_ms.max(50)),
            max_requests_in_flight: serve.max_requests_in_flight,
            request_timeout: std::time::Duration::from_millis(serve.request_timeout_ms.max(100)),
        };
        let posture = match settings.environment {
            crate::config::Environment::Production => "production",
            crate::config::Environment::Development => "development",
        };
        tracing::info!(
            posture,
            public_url = %public_url,
            introspection = serve.introspection(),
            graphiql = serve.introspection(),
            secrets = if settings.encryption_keys.is_some() { "configured" } else { "generated into the data directory" },
            "security posture"
        );
        let processor = crate::inbound::process::Processor::new(
            store.clone(),
            puller.clone(),
            serve.processor_config(),
            metrics.inbound.clone(),
        );
        let router = router(AppState::new(
            store.clone(),
            schema,
            auth.clone(),
            opts,
            connect.clone(),
            inbound,
            metrics,
        ));
        Ok(App {
            listener,
            router,
            store,
            auth,
            connect,
            puller,
            processor,
            deliverer,
            public_url,
            grace: serve.shutdown_grace(),
            flow_retention: chrono::Duration::hours(serve.flow_retention_hours),
            poll: std::time::Duration::from_millis(serve.scheduler_poll_ms.max(10)),
            background_tasks: serve.background_tasks,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn public_url(&self) -> &url::Url {
        &self.public_url
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn connect(&self) -> &Connect {
        &self.connect
    }

    pub fn puller(&self) -> &Puller {
        &self.puller
    }

    pub fn authenticator(&self) -> Arc<Authenticator> {
        self.auth.clone()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish within the grace
    /// period and closes the database pool.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> AppResult<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        let deliverer = self
            .background_tasks
            .then(|| tokio::spawn(self.deliverer.clone().run(until_stopped(), self.grace)));
        // Every instance hears the others' events (PostgreSQL; nothing to do on SQLite).
        let listener = {
            let store = self.store.clone();
            let stopped = until_stopped();
            tokio::spawn(async move { store.listen(stopped).await })
        };
        let (scheduler, cleanup, processor) = if self.background_tasks {
            (
                Some(tokio::spawn(crate::pull::run_scheduler(
                    self.puller.clone(),
                    until_stopped(),
                ))),
                Some(tokio::spawn(crate::connect::run_flow_cleanup(
                    self.store.clone(),
                    self.flow_retention,
                    self.poll,
                    until_stopped(),
                ))),
                Some(tokio::spawn(
                    self.processor.clone().run(until_stopped(), self.grace),
                )),
            )
        } else {
            (None, None, None)
        };
        let grace = self.grace;
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let forced = async move {
            let mut stopped = stopped;
            if stopped.wait_for(|s| *s).await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            res = server => res.map_err(AppError::internal)?,
            _ = forced => tracing::warn!("shutdown grace period elapsed; dropping open connections"),
        }
        if let Some(scheduler) = scheduler
            && tokio::time::timeout(grace, scheduler).await.is_err()
        {
            tracing::warn!("the read scheduler did not stop within the grace period");
        }
        if let Some(cleanup) = cleanup {
            cleanup.abort();
        }
        // It waits up to the grace period for the effects it started.
        if let Some(processor) = processor
            && let Err(e) = processor.await
        {
            tracing::warn!(error = %e, "the Ponto webhook processor stopped abnormally");
        }
        if let Some(deliverer) = deliverer
            && let Err(e) = deliverer.await
        {
            tracing::warn!(error = %e, "the webhook delivery worker stopped abnormally");
        }
        if tokio::time::timeout(grace, listener).await.is_err() {
            tracing::warn!("the event listener did not stop within the grace period");
        }
        // Shielded steps a request deadline left behind record what Ponto did before the pool
        // closes (a code exchanged, a synchronization requested); then syncNow's follow-ups.
        if !self.connect.shield.drain(grace).await {
            tracing::warn!("shielded Ponto steps did not finish within the grace period");
        }
        self.puller.shut_down(grace).await;
        self.store.close().await;
        Ok(())
    }
}

/// The configured return-URL origins plus our own: our pages (GraphiQL, the re-authorization
/// landing) are always a safe place to send a browser back to.
fn own_origin_and(public_url: &url::Url, configured: &[String]) -> Vec<String> {
    let mut origins = configured.to_vec();
    origins.push(public_url.origin().ascii_serialization());
    origins
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received");
}
