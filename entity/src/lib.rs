//! Owns the sea-orm entity definitions, one module per table; only `store` uses them.

pub mod audit_entry;
pub mod bank_account;
pub mod bank_transaction;
pub mod event;
pub mod ignore_rule;
pub mod inbound_ponto_event;
pub mod invoice;
pub mod match_suggestion;
pub mod oauth_flow;
pub mod organization;
pub mod organization_event_seq;
pub mod payment_match;
pub mod ponto_connection;
pub mod ponto_synchronization;
pub mod transaction_key;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
