//! Owns outbound webhooks: where they may go (`targets`), how they are signed (`signing`), and
//! the endpoints subscribers manage (`endpoints`): created with a secret shown once, changed,
//! enabled and disabled, deleted, their secret rotated with an overlap — each an audited write
//! transaction, secrets sealed at rest.

pub mod endpoints;
pub mod signing;
pub mod targets;

pub use endpoints::Endpoints;
