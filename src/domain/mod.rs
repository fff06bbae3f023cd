//! Owns the pure types of the product: typed ids, money, scopes and the event catalogue.
//! Nothing here imports a framework (no axum, sea-orm or async-graphql).

pub mod event;
pub mod ids;
pub mod money;
pub mod scope;
