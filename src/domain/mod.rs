//! Owns the pure types of the product: typed ids, money, scopes, status vocabularies and the
//! event catalogue.
//! Nothing here imports a framework (no axum, sea-orm or async-graphql).

pub mod catalogue;
pub mod event;
pub mod iban;
pub mod ids;
pub mod ignore_rule;
pub mod input;
pub mod invoice;
pub mod lookup;
pub mod money;
pub mod problem;
pub mod reference;
pub mod remittance;
pub mod scope;
pub mod status;
pub mod transaction;
