//! ponto-bridge: a live bank connection for accounting products through Ponto (Ibanity).
//!
//! Rooms (see ARCHITECTURE.md): `domain` (pure types), `store` (the only user of `entity`),
//! `auth`, `graphql`, `http` (the only user of axum), `bus`, `app` (wiring), `config`.

pub mod app;
pub mod auth;
pub mod backoff;
pub mod bus;
pub mod clock;
pub mod config;
pub mod connect;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod inbound;
pub mod invoices;
pub mod keyfile;
pub mod live;
pub mod metrics;
pub mod outbound;
pub mod ponto;
pub mod pull;
pub mod reconcile;
pub mod secret;
pub mod shield;
pub mod store;

/// rustls 0.23 panics at first use when two crypto providers are compiled in and none is
/// installed (ARCHITECTURE.md, trap 11). Call once at start-up; later calls are harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
