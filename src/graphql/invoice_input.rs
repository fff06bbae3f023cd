//! Owns the inputs of `upsertInvoices` and `voidInvoice` and their per-item validation: every
//! problem of an item reported with its index and field, references accepted in any usual form
//! and normalized, amounts exact in the currency's minor units.

use super::invoices::{InvoiceGql, InvoiceKindGql};
use super::scalars::{Date, Decimal, UserError, UserErrorCode};
use crate::domain::iban::Iban;
use crate::domain::money::{Currency, Money as DomainMoney, MoneyError};
use crate::domain::reference::StructuredReference;
use crate::store::invoices::InvoiceUpsert;
use async_graphql::{ID, InputObject, SimpleObject};

const MAX_TEXT: usize = 255;

/// One invoice to create or update, identified by `externalId`.
#[derive(InputObject)]
pub struct InvoiceInput {
    pub external_id: String,
    pub kind: InvoiceKindGql,
    pub number: String,
    pub counterparty_name: Option<String>,
    pub counterparty_iban: Option<String>,
    /// ISO-4217 code.
    pub currency: String,
    /// Positive, with at most the currency's decimals.
    pub total: Decimal,
    pub issue_date: Date,
    pub due_date: Option<Date>,
    /// OGM/VCS or RF in any usual form; stored normalized.
    pub structured_reference: Option<String>,
}

#[derive(InputObject)]
pub struct UpsertInvoicesInput {
    /// At most 500 per call.
    pub invoices: Vec<InvoiceInput>,
}

#[derive(SimpleObject)]
pub struct UpsertInvoicesPayload {
    /// The invoices written (or found unchanged), in input order; invalid items are absent.
    pub invoices: Vec<InvoiceGql>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct VoidInvoiceInput {
    pub id: Option<ID>,
    pub external_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct VoidInvoicePayload {
    pub invoice: Option<InvoiceGql>,
    pub user_errors: Vec<UserError>,
}

pub(super) fn err(
    index: usize,
    field: &str,
    code: UserErrorCode,
    message: impl Into<String>,
) -> UserError {
    UserError {
        field: Some(vec!["invoices".into(), index.to_string(), field.into()]),
        message: message.into(),
        code,
    }
}

fn required_text(index: usize, field: &str, value: &str, errors: &mut Vec<UserError>) -> String {
    let v = value.trim();
    if v.is_empty() {
        errors.push(err(
            index,
            field,
            UserErrorCode::Required,
            format!("{field} is required"),
        ));
    } else if v.chars().count() > MAX_TEXT {
        errors.push(err(
            index,
            field,
            UserErrorCode::TooLong,
            format!("{field} is at most {MAX_TEXT} characters"),
        ));
    }
    v.to_owned()
}

/// Checks one input item; every problem is reported, each with its field path.
pub(super) fn validate(index: usize, i: &InvoiceInput) -> Result<InvoiceUpsert, Vec<UserError>> {
    let mut errors = Vec::new();
    let external_id = required_text(index, "externalId", &i.external_id, &mut errors);
    let number = required_text(index, "number", &i.number, &mut errors);
    let counterparty_name = i
        .counterparty_name
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if counterparty_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_TEXT)
    {
        errors.push(err(
            index,
            "counterpartyName",
            UserErrorCode::TooLong,
            format!("counterpartyName is at most {MAX_TEXT} characters"),
        ));
    }
    let counterparty_iban = match i
        .counterparty_iban
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => match Iban::parse(s) {
            Ok(iban) => Some(iban.as_str().to_owned()),
            Err(e) => {
                errors.push(err(
                    index,
                    "counterpartyIban",
                    UserErrorCode::InvalidIban,
                    e.to_string(),
                ));
                None
            }
        },
    };
    let total = match Currency::parse(i.currency.trim()) {
        Err(e) => {
            errors.push(err(
                index,
                "currency",
                UserErrorCode::InvalidCurrency,
                e.to_string(),
            ));
            None
        }
        Ok(currency) => match DomainMoney::from_client_decimal(i.total.0, currency) {
            Ok(m) if m.minor > 0 => Some(m),
            Ok(_) => {
                errors.push(err(
                    index,
                    "total",
                    UserErrorCode::NotPositive,
                    "total must be greater than 0",
                ));
                None
            }
            Err(e @ MoneyError::TooManyDecimals { .. }) => {
                errors.push(err(
                    index,
                    "total",
                    UserErrorCode::TooManyDecimals,
                    e.to_string(),
                ));
                None
            }
            Err(e @ MoneyError::OutOfRange) => {
                errors.push(err(
                    index,
                    "total",
                    UserErrorCode::OutOfRange,
                    e.to_string(),
                ));
                None
            }
            Err(e) => {
                errors.push(err(index, "total", UserErrorCode::Invalid, e.to_string()));
                None
            }
        },
    };
    if let Some(due) = i.due_date
        && due.0 < i.issue_date.0
    {
        errors.push(err(
            index,
            "dueDate",
            UserErrorCode::Invalid,
            "dueDate is before issueDate",
        ));
    }
    let structured_reference = match i
        .structured_reference
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => match StructuredReference::parse(s) {
            Ok(r) => Some(r.normalized().to_owned()),
            Err(e) => {
                errors.push(err(
                    index,
                    "structuredReference",
                    UserErrorCode::InvalidReference,
                    e.to_string(),
                ));
                None
            }
        },
    };
    match total {
        Some(total) if errors.is_empty() => Ok(InvoiceUpsert {
            external_id,
            kind: i.kind.into(),
            number,
            counterparty_name,
            counterparty_iban,
            total,
            issue_date: i.issue_date.0,
            due_date: i.due_date.map(|d| d.0),
            structured_reference,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> InvoiceInput {
        InvoiceInput {
            external_id: "inv-1".into(),
            kind: InvoiceKindGql::SalesInvoice,
            number: "2026-0001".into(),
            counterparty_name: Some(" ACME ".into()),
            counterparty_iban: Some("be68 5390 0754 7034".into()),
            currency: "EUR".into(),
            total: Decimal("121.00".parse().unwrap()),
            issue_date: Date(chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()),
            due_date: Some(Date(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())),
            structured_reference: Some("***090/9337/55493***".into()),
        }
    }

    #[test]
    fn valid_input_is_normalized() {
        let u = validate(0, &input()).unwrap();
        assert_eq!(u.counterparty_iban.as_deref(), Some("BE68539007547034"));
        assert_eq!(u.structured_reference.as_deref(), Some("090933755493"));
        assert_eq!(u.counterparty_name.as_deref(), Some("ACME"));
        assert_eq!(u.total.minor, 12100);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut i = input();
        i.external_id = " ".into();
        i.total = Decimal("0.001".parse().unwrap());
        i.counterparty_iban = Some("BE00".into());
        i.structured_reference = Some("+++090/9337/55494+++".into());
        i.due_date = Some(Date(chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()));
        let errors = validate(7, &i).unwrap_err();
        let fields: Vec<_> = errors
            .iter()
            .map(|e| e.field.clone().unwrap()[2].clone())
            .collect();
        assert_eq!(
            fields,
            [
                "externalId",
                "counterpartyIban",
                "total",
                "dueDate",
                "structuredReference"
            ]
        );
        assert!(
            errors
                .iter()
                .all(|e| e.field.as_ref().unwrap()[..2] == ["invoices".to_owned(), "7".to_owned()])
        );
        let mut i = input();
        i.total = Decimal("-5".parse().unwrap());
        i.currency = "XXX".into();
        assert_eq!(
            validate(0, &i).unwrap_err()[0].code,
            UserErrorCode::InvalidCurrency
        );
        let mut i = input();
        i.total = Decimal("0".parse().unwrap());
        assert_eq!(
            validate(0, &i).unwrap_err()[0].code,
            UserErrorCode::NotPositive
        );
    }
}
