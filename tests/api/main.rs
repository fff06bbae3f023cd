//! The integration suite: one binary that starts the real server per test and talks to it over
//! HTTP. Runs on SQLite by default and on PostgreSQL when `TEST_DATABASE_URL` is set.

/// A file from the repository's top. The suite belongs to the `cli` package (it runs the real
/// binary), whose manifest sits one level down.
macro_rules! repo_path {
    ($path:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../", $path)
    };
}

mod auth;
mod browser;
mod catalogue;
mod cli;
mod concurrency;
mod conformance;
mod connect;
mod db_sockets;
mod deadline;
mod demo;
mod desk;
mod event_log;
mod events;
mod extremes;
mod flows;
mod health;
mod ignore_rules;
mod inbound;
mod inbound_races;
mod instances;
mod invoices;
mod isolation;
mod isolation_live;
mod isolation_reconcile;
mod limits;
mod lock_order;
mod log_secrets;
mod manual_control;
mod mtls;
mod openapi_check;
mod outbound_delivery;
mod overload;
mod pending_race;
mod ponto_client;
mod ponto_webhooks;
mod posture;
mod problems;
mod read_errors;
mod reconcile_corpus;
mod reconcile_graphql;
mod reconcile_props;
mod reconciliation;
mod rotation;
mod sandbox_sync;
mod sandbox_webhooks;
mod schema;
mod schema_walk;
mod scopes;
mod scopes_world;
mod secret_files;
mod seed;
mod ssrf;
mod ssrf_tls;
mod statuses;
mod subscriptions;
mod subscriptions_live;
mod support;
mod surface;
mod sync;
mod tidy;
mod tokens;
mod transactions;
mod webhook_endpoints;
mod webhook_resend;
