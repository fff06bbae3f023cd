//! Owns typed identifiers: a `Uuid` per kind of row, so an invoice id can never be passed
//! where a transaction id is expected.

use std::fmt;
use uuid::Uuid;

macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUIDv7), so new rows land at the end of indexes.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    )*};
}

typed_id!(
    /// A tenant.
    OrganizationId,
    ConnectionId,
    AccountId,
    TransactionId,
    InvoiceId,
    MatchId,
    IgnoreRuleId,
    AuditEntryId,
    EventId,
    EndpointId,
    DeliveryId,
);
