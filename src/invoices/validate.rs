//! Owns the per-item validation of an invoice: every problem of an item reported with its field,
//! references accepted in any usual form and normalized, amounts exact in the currency's minor
//! units and at most `MAX_AMOUNT`.

use super::{ItemProblem, Problem};
use crate::domain::iban::Iban;
use crate::domain::invoice::InvoiceKind;
use crate::domain::money::{Currency, Money, MoneyError};
use crate::domain::reference::StructuredReference;
use crate::store::invoices::InvoiceUpsert;
use chrono::NaiveDate;
use rust_decimal::Decimal;

const MAX_TEXT: usize = 255;

/// One invoice as the accounting product sends it, before validation.
#[derive(Debug, Clone)]
pub struct InvoiceDraft {
    pub external_id: String,
    pub kind: InvoiceKind,
    pub number: String,
    pub counterparty_name: Option<String>,
    pub counterparty_iban: Option<String>,
    pub currency: String,
    pub total: Decimal,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub structured_reference: Option<String>,
}

fn trimmed(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|s| !s.is_empty())
}

fn required_text(
    index: usize,
    field: &'static str,
    value: &str,
    problems: &mut Vec<ItemProblem>,
) -> String {
    let v = value.trim();
    if v.is_empty() {
        problems.push(ItemProblem::new(
            index,
            field,
            Problem::Required,
            format!("{field} is required"),
        ));
    } else if v.chars().count() > MAX_TEXT {
        problems.push(ItemProblem::new(
            index,
            field,
            Problem::TooLong,
            format!("{field} is at most {MAX_TEXT} characters"),
        ));
    }
    v.to_owned()
}

/// Checks one item; every problem is reported, each with its field.
pub fn validate(index: usize, d: &InvoiceDraft) -> Result<InvoiceUpsert, Vec<ItemProblem>> {
    let mut problems = Vec::new();
    let external_id = required_text(index, "externalId", &d.external_id, &mut problems);
    let number = required_text(index, "number", &d.number, &mut problems);
    let counterparty_name = trimmed(d.counterparty_name.as_deref()).map(str::to_owned);
    if counterparty_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_TEXT)
    {
        problems.push(ItemProblem::new(
            index,
            "counterpartyName",
            Problem::TooLong,
            format!("counterpartyName is at most {MAX_TEXT} characters"),
        ));
    }
    let counterparty_iban =
        trimmed(d.counterparty_iban.as_deref()).and_then(|s| match Iban::parse(s) {
            Ok(iban) => Some(iban.as_str().to_owned()),
            Err(e) => {
                problems.push(ItemProblem::new(
                    index,
                    "counterpartyIban",
                    Problem::InvalidIban,
                    e.to_string(),
                ));
                None
            }
        });
    let total = match Currency::parse(d.currency.trim()) {
        Err(e) => {
            problems.push(ItemProblem::new(
                index,
                "currency",
                Problem::InvalidCurrency,
                e.to_string(),
            ));
            None
        }
        Ok(currency) => match Money::from_client_decimal(d.total, currency) {
            Ok(m) if m.minor > 0 => Some(m),
            Ok(_) => {
                problems.push(ItemProblem::new(
                    index,
                    "total",
                    Problem::NotPositive,
                    "total must be greater than 0",
                ));
                None
            }
            Err(e) => {
                let problem = match e {
                    MoneyError::TooManyDecimals { .. } => Problem::TooManyDecimals,
                    MoneyError::OutOfRange => Problem::OutOfRange,
                    _ => Problem::Invalid,
                };
                problems.push(ItemProblem::new(index, "total", problem, e.to_string()));
                None
            }
        },
    };
    if d.due_date.is_some_and(|due| due < d.issue_date) {
        problems.push(ItemProblem::new(
            index,
            "dueDate",
            Problem::Invalid,
            "dueDate is before issueDate",
        ));
    }
    let structured_reference = trimmed(d.structured_reference.as_deref()).and_then(|s| {
        match StructuredReference::parse(s) {
            Ok(r) => Some(r.normalized().to_owned()),
            Err(e) => {
                problems.push(ItemProblem::new(
                    index,
                    "structuredReference",
                    Problem::InvalidReference,
                    e.to_string(),
                ));
                None
            }
        }
    });
    match total {
        Some(total) if problems.is_empty() => Ok(InvoiceUpsert {
            external_id,
            kind: d.kind,
            number,
            counterparty_name,
            counterparty_iban,
            total,
            issue_date: d.issue_date,
            due_date: d.due_date,
            structured_reference,
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> InvoiceDraft {
        InvoiceDraft {
            external_id: "inv-1".into(),
            kind: InvoiceKind::SalesInvoice,
            number: "2026-0001".into(),
            counterparty_name: Some(" ACME ".into()),
            counterparty_iban: Some("be68 5390 0754 7034".into()),
            currency: "EUR".into(),
            total: "121.00".parse().unwrap(),
            issue_date: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            due_date: NaiveDate::from_ymd_opt(2026, 12, 1),
            structured_reference: Some("***090/9337/55493***".into()),
        }
    }

    #[test]
    fn valid_input_is_normalized() {
        let u = validate(0, &draft()).unwrap();
        assert_eq!(u.counterparty_iban.as_deref(), Some("BE68539007547034"));
        assert_eq!(u.structured_reference.as_deref(), Some("090933755493"));
        assert_eq!(u.counterparty_name.as_deref(), Some("ACME"));
        assert_eq!(u.total.minor, 12100);
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let mut d = draft();
        d.external_id = " ".into();
        d.total = "0.001".parse().unwrap();
        d.counterparty_iban = Some("BE00".into());
        d.structured_reference = Some("+++090/9337/55494+++".into());
        d.due_date = NaiveDate::from_ymd_opt(2026, 10, 1);
        let problems = validate(7, &d).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
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
        assert!(problems.iter().all(|p| p.index == 7));
        let mut d = draft();
        d.total = "-5".parse().unwrap();
        d.currency = "XXX".into();
        assert_eq!(
            validate(0, &d).unwrap_err()[0].problem,
            Problem::InvalidCurrency
        );
        let mut d = draft();
        d.total = "0".parse().unwrap();
        assert_eq!(
            validate(0, &d).unwrap_err()[0].problem,
            Problem::NotPositive
        );
        let mut d = draft();
        d.total = "1000000000000".parse().unwrap();
        assert_eq!(validate(0, &d).unwrap_err()[0].problem, Problem::OutOfRange);
    }
}
