//! Owns outbound webhooks: where they may go (`targets`), how they are signed (`signing`), the
//! endpoints subscribers manage (`endpoints`: created with a secret shown once, changed,
//! enabled and disabled, deleted, their secret rotated with an overlap — each an audited write
//! transaction, secrets sealed at rest), and sending them (`deliver`: the worker that claims
//! due deliveries under a lease, signs, POSTs, retries and disables; `failure`: why an attempt got no answer), sending again on request
//! (`resend`: a test event, one delivery, or all an endpoint missed since a time) and the
//! worker's upkeep (`upkeep`: backlog gauges, retention).

pub mod deliver;
pub mod endpoints;
mod failure;
pub mod guard;
mod ranges;
pub mod resend;
mod settings;
pub mod signing;
pub mod targets;
pub mod upkeep;

pub use deliver::{Deliverer, DeliveryConfig};
pub use endpoints::Endpoints;
