//! Owns the vocabulary of bank transactions: booked or pending, incoming or outgoing.

use super::status::string_enum;

string_enum!(TransactionStatus {
    /// Settled by the bank; only booked transactions pay invoices.
    Booked => "BOOKED",
    /// Announced but not settled; may later be booked under another id, or vanish.
    Pending => "PENDING",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Money in (amount > 0).
    Incoming,
    /// Money out (amount < 0).
    Outgoing,
}
