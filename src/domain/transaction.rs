//! Owns the vocabulary of bank transactions: booked or pending, incoming or outgoing.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionStatus {
    /// Settled by the bank; only booked transactions pay invoices.
    Booked,
    /// Announced but not settled; may later be booked under another id, or vanish.
    Pending,
}

impl TransactionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "BOOKED",
            Self::Pending => "PENDING",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "BOOKED" => Some(Self::Booked),
            "PENDING" => Some(Self::Pending),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Money in (amount > 0).
    Incoming,
    /// Money out (amount < 0).
    Outgoing,
}
