//! Owns why a client's input was refused: `Problem`, the vocabulary of GraphQL `userErrors`
//! (`UserErrorCode`), shared by every service that validates what a client sends.

/// Why an item, or a field of it, was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Required,
    TooLong,
    Invalid,
    InvalidCurrency,
    TooManyDecimals,
    NotPositive,
    OutOfRange,
    InvalidIban,
    InvalidReference,
    DuplicateInBatch,
    NotFound,
    Conflict,
    /// More than the transaction has left to allocate.
    AllocationExceedsUnallocated,
    /// The transaction's currency is not the invoice's.
    CurrencyMismatch,
    /// The invoice is void.
    InvoiceVoid,
    /// Money in the wrong direction for the invoice's kind.
    WrongDirection,
    /// The transaction is pending: only booked money pays.
    TransactionPending,
    /// Not an event type of the catalogue.
    UnknownEventType,
    /// A webhook URL whose host is not among the allowed targets.
    TargetNotAllowed,
    /// A plain-http webhook URL where only https is allowed.
    HttpsRequired,
    /// The webhook endpoint is disabled: enable it before sending to it.
    EndpointDisabled,
}

/// A refused request: the input field at fault, why, and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: &'static str,
    pub problem: Problem,
    pub message: String,
}

impl Refusal {
    pub fn new(field: &'static str, problem: Problem, message: impl Into<String>) -> Self {
        Self {
            field,
            problem,
            message: message.into(),
        }
    }
}
