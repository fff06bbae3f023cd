//! Owns the scalars and small shared types of the API: `Decimal` (an exact decimal as a
//! string), `Date` (ISO-8601 calendar date), `Money`, `UserError`, and Relay connections.

use crate::domain::money::{self, Money as DomainMoney};
use crate::store::page::{Cursor, Page};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{
    Enum, InputValueError, InputValueResult, OutputType, Scalar, ScalarType, SimpleObject, Value,
};
use chrono::{Datelike, NaiveDate};

/// An exact decimal number written as a string, e.g. `"1234.50"` or `"-0.01"`. Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal(pub rust_decimal::Decimal);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => money::parse_decimal(s)
                .map(Decimal)
                .map_err(|_| InputValueError::custom(format!("{s:?} is not a decimal number"))),
            // Integers are exact; floats are refused so no binary rounding can sneak in.
            Value::Number(n) if n.is_i64() => Ok(Decimal(rust_decimal::Decimal::from(
                n.as_i64().expect("checked"),
            ))),
            _ => Err(InputValueError::custom(
                "a Decimal is a string such as \"1234.50\"",
            )),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            // Exactly YYYY-MM-DD: chrono's %Y also takes signed and longer years, which one
            // engine stores and the other refuses.
            Value::String(s)
                if s.len() == 10
                    && s.bytes().enumerate().all(|(i, b)| {
                        if i == 4 || i == 7 {
                            b == b'-'
                        } else {
                            b.is_ascii_digit()
                        }
                    }) =>
            {
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .filter(|d| d.year() >= 1)
                    .map(Date)
                    .ok_or_else(|| {
                        InputValueError::custom(format!("{s:?} is not a date (YYYY-MM-DD)"))
                    })
            }
            Value::String(s) => Err(InputValueError::custom(format!(
                "{s:?} is not a date (YYYY-MM-DD)"
            ))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// An exact amount of money.
#[derive(SimpleObject, Clone)]
pub struct Money {
    /// The amount with the currency's number of decimals, e.g. `"1234.50"`.
    pub amount: Decimal,
    /// ISO-4217 code, e.g. `EUR`.
    pub currency: String,
}

impl From<DomainMoney> for Money {
    fn from(m: DomainMoney) -> Self {
        Self {
            amount: Decimal(m.to_decimal()),
            currency: m.currency.code().to_owned(),
        }
    }
}

/// Machine-readable reason of a `UserError`.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::input::Problem")]
pub enum UserErrorCode {
    /// A required value is missing or blank.
    Required,
    /// A value is longer than allowed.
    TooLong,
    /// A value is not valid for its field.
    Invalid,
    /// Not an ISO-4217 currency code.
    InvalidCurrency,
    /// More decimals than the currency allows.
    TooManyDecimals,
    /// An amount that must be positive is not.
    NotPositive,
    /// An amount beyond the largest accepted (999,999,999,999.99).
    OutOfRange,
    /// Not a valid IBAN.
    InvalidIban,
    /// Not a valid structured reference (OGM/VCS or RF).
    InvalidReference,
    /// The same external id appears twice in one batch.
    DuplicateInBatch,
    /// The referenced object does not exist (for this organization).
    NotFound,
    /// The change conflicts with the object's state.
    Conflict,
    /// More than the transaction has left to allocate.
    AllocationExceedsUnallocated,
    /// The transaction's currency is not the invoice's.
    CurrencyMismatch,
    /// The invoice is void.
    InvoiceVoid,
    /// Money going the wrong way for the invoice's kind (incoming pays sales invoices and
    /// purchase credit notes; outgoing pays purchase invoices and sales credit notes).
    WrongDirection,
    /// The transaction is pending: only booked money pays an invoice.
    TransactionPending,
    /// Not an event type of the catalogue (`webhookEventTypes`).
    UnknownEventType,
    /// The webhook URL's host is not among the allowed targets (`PB_WEBHOOK_ALLOWED_TARGETS`).
    TargetNotAllowed,
    /// The webhook URL is plain http, and only https is allowed (`PB_WEBHOOK_ALLOW_HTTP`).
    HttpsRequired,
    /// The webhook endpoint is disabled: enable it (`updateWebhookEndpoint`) before sending to
    /// it.
    EndpointDisabled,
}

/// A mutation payload: what it answers when the mutation was refused (every other field
/// empty).
pub trait Payload: Default {
    fn refused(refusal: crate::domain::input::Refusal) -> Self;
}

/// Implements [`Payload`] for payloads with a `user_errors` field.
macro_rules! payloads {
    ($($p:ty),* $(,)?) => {$(
        impl $crate::graphql::scalars::Payload for $p {
            fn refused(refusal: $crate::domain::input::Refusal) -> Self {
                Self {
                    user_errors: vec![refusal.into()],
                    ..Default::default()
                }
            }
        }
    )*};
}
pub(crate) use payloads;

/// The payload of a mutation done, or of its refusal.
pub fn answer<T, P: Payload>(
    done: Result<T, crate::domain::input::Refusal>,
    ok: impl FnOnce(T) -> P,
) -> P {
    done.map_or_else(P::refused, ok)
}

/// An input id: another type's, malformed, or another organization's are all the same
/// NOT_FOUND on `field`.
pub fn input_id<T>(
    ty: &str,
    id: &async_graphql::ID,
    field: &'static str,
    what: &str,
    wrap: impl FnOnce(uuid::Uuid) -> T,
) -> Result<T, crate::domain::input::Refusal> {
    super::ids::decode_as(ty, id).map(wrap).ok_or_else(|| {
        crate::domain::input::Refusal::new(
            field,
            crate::domain::input::Problem::NotFound,
            format!("{what} not found"),
        )
    })
}

/// Unwraps an input id, or returns the mutation's payload refusing it.
macro_rules! id_or_refuse {
    ($decoded:expr) => {
        match $decoded {
            Ok(id) => id,
            Err(refusal) => return Ok($crate::graphql::scalars::Payload::refused(refusal)),
        }
    };
}
pub(crate) use id_or_refuse;

impl From<crate::domain::input::Refusal> for UserError {
    fn from(r: crate::domain::input::Refusal) -> Self {
        UserError {
            field: Some(vec![r.field.into()]),
            message: r.message,
            code: r.problem.into(),
        }
    }
}

/// An expected failure of a mutation, pointing at the input field at fault.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserError {
    /// Path to the input field, e.g. `["invoices", "3", "total"]`.
    pub field: Option<Vec<String>>,
    pub message: String,
    pub code: UserErrorCode,
}

/// Builds a Relay connection from a store page.
pub fn connection<R, T: OutputType>(
    page: Page<R>,
    cursor: impl Fn(&R) -> Cursor,
    wrap: impl Fn(R) -> T,
) -> Connection<String, T> {
    let mut c = Connection::new(page.has_previous_page, page.has_next_page);
    c.edges = page
        .items
        .into_iter()
        .map(|r| Edge::new(cursor(&r).encode(), wrap(r)))
        .collect();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_exactly_four_digit_years() {
        for ok in ["2026-12-01", "0001-01-01", "9999-12-31"] {
            assert!(
                <Date as ScalarType>::parse(Value::String(ok.into())).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "-5000-01-01",
            "+10000-01-01",
            "10000-01-01",
            "0000-01-01",
            "2026-13-01",
            "2026-1-01",
            "2026-12-01T00:00:00Z",
        ] {
            assert!(
                <Date as ScalarType>::parse(Value::String(bad.into())).is_err(),
                "{bad}"
            );
        }
    }
}
