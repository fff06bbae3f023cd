//! Unit tests of the reconciliation rules, one per row of the rules table and per trap.

use super::*;
use crate::domain::remittance::references_in;

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
}

fn invoice(number: &str, open: i64) -> Candidate {
    Candidate {
        id: InvoiceId::new(),
        kind: InvoiceKind::SalesInvoice,
        number: number.into(),
        reference: None,
        iban: None,
        name: None,
        currency: eur(),
        open,
        void: false,
        issue_date: day(),
        due_date: None,
        blocked: false,
    }
}

fn with_ref(mut c: Candidate, r: &str) -> Candidate {
    c.reference = Some(StructuredReference::parse(r).unwrap());
    c
}

fn with_iban(mut c: Candidate, iban: &str) -> Candidate {
    c.iban = Some(iban.into());
    c
}

fn pay(amount: i64, text: &str) -> Payment {
    Payment {
        amount: Money::new(amount, eur()),
        available: amount.abs(),
        text: text.into(),
        references: references_in(text),
        near_references: crate::domain::remittance::near_references(text),
        counterparty_iban: None,
        counterparty_name: None,
    }
}

const REF: &str = "+++090/9337/55493+++";
const IBAN: &str = "BE68539007547034";

fn allocated(d: &Decision) -> Vec<(InvoiceId, i64, MatchRule)> {
    d.allocations
        .iter()
        .map(|a| (a.invoice, a.amount, a.rule))
        .collect()
}

#[test]
fn a_reference_pays_any_amount_and_says_why_in_words() {
    let inv = with_ref(invoice("2026-0042", 12100), REF);
    for amount in [5000, 12100, 20000] {
        let d = decide(
            &pay(amount, &format!("betaling {REF}")),
            std::slice::from_ref(&inv),
            0,
        )
        .unwrap();
        assert_eq!(
            allocated(&d),
            [(inv.id, amount, MatchRule::StructuredReference)]
        );
        assert_eq!(
            d.allocations[0].evidence,
            "structured communication +++090/9337/55493+++ equals invoice 2026-0042"
        );
    }
}

#[test]
fn a_reference_to_a_paid_invoice_or_in_another_currency_is_only_a_suggestion() {
    let paid = with_ref(invoice("2026-0042", 0), REF);
    let d = decide(&pay(12100, REF), std::slice::from_ref(&paid), 0).unwrap();
    assert!(d.allocations.is_empty());
    assert_eq!(d.suggestions[0].invoice, paid.id);
    let mut usd = with_ref(invoice("2026-0042", 12100), REF);
    usd.currency = Currency::parse("USD").unwrap();
    let d = decide(&pay(12100, REF), &[usd], 0).unwrap();
    assert!(d.allocations.is_empty());
    assert_eq!(d.suggestions.len(), 1);
}

#[test]
fn wrong_direction_and_void_invoices_are_never_considered() {
    let inv = with_ref(invoice("2026-0042", 12100), REF);
    let d = decide(&pay(-12100, REF), std::slice::from_ref(&inv), 0).unwrap();
    assert_eq!(d, Decision::default());
    let mut void = inv;
    void.void = true;
    assert_eq!(
        decide(&pay(12100, REF), &[void], 0).unwrap(),
        Decision::default()
    );
}

#[test]
fn an_invoice_number_needs_the_open_amount_within_tolerance() {
    let inv = invoice("2026-0042", 12100);
    let exact = decide(
        &pay(12100, "Factuur 2026-0042"),
        std::slice::from_ref(&inv),
        0,
    )
    .unwrap();
    assert_eq!(
        allocated(&exact),
        [(inv.id, 12100, MatchRule::InvoiceNumber)]
    );
    let short = decide(
        &pay(12098, "Factuur 2026-0042"),
        std::slice::from_ref(&inv),
        0,
    )
    .unwrap();
    assert!(short.allocations.is_empty());
    assert_eq!(short.suggestions.len(), 1);
    let fee = decide(
        &pay(12098, "Factuur 2026-0042"),
        std::slice::from_ref(&inv),
        5,
    )
    .unwrap();
    assert_eq!(fee.allocations[0].amount, 12098);
    assert_eq!(fee.allocations[0].written_off, 2);
    let over = decide(
        &pay(12103, "Factuur 2026-0042"),
        std::slice::from_ref(&inv),
        5,
    )
    .unwrap();
    assert_eq!(
        (over.allocations[0].amount, over.allocations[0].excess),
        (12100, 3)
    );
    // A number that is a prefix of another is not named by it.
    let d = decide(&pay(12100, "Factuur 2026-00421"), &[inv], 0).unwrap();
    assert_eq!(d, Decision::default());
}

#[test]
fn two_numbers_in_one_payment_split_by_open_amounts() {
    let a = invoice("2026-0042", 10000);
    let b = invoice("2026-0043", 5000);
    let d = decide(
        &pay(15000, "Facturen 2026-0042 en 2026-0043"),
        &[a.clone(), b.clone()],
        0,
    )
    .unwrap();
    let mut got = allocated(&d);
    got.sort_by_key(|g| g.1);
    assert_eq!(
        got,
        [
            (b.id, 5000, MatchRule::InvoiceNumber),
            (a.id, 10000, MatchRule::InvoiceNumber)
        ]
    );
}

#[test]
fn several_references_pay_in_due_order_and_leave_the_rest_unallocated() {
    let r2 = "+++000/0000/10104+++";
    let a = with_ref(invoice("A-0001", 10000), REF);
    let b = with_ref(invoice("A-0002", 5000), r2);
    let d = decide(
        &pay(20000, &format!("{REF} {r2}")),
        &[a.clone(), b.clone()],
        0,
    )
    .unwrap();
    let total: i64 = d.allocations.iter().map(|x| x.amount).sum();
    assert_eq!(total, 15000, "the 50.00 left stays on the transaction");
}

#[test]
fn amount_and_iban_only_when_no_other_invoice_fits() {
    let a = with_iban(invoice("2026-0042", 12100), IBAN);
    let mut p = pay(12100, "thanks");
    p.counterparty_iban = Some(IBAN.into());
    let d = decide(&p, std::slice::from_ref(&a), 0).unwrap();
    assert_eq!(allocated(&d), [(a.id, 12100, MatchRule::AmountAndIban)]);
    let b = with_iban(invoice("2026-0043", 12100), IBAN);
    let tie = decide(&p, &[a, b], 0).unwrap();
    assert!(tie.allocations.is_empty());
    assert_eq!(tie.suggestions.len(), 2);
}

#[test]
fn the_amount_alone_is_nothing() {
    let a = invoice("2026-0042", 12100);
    assert_eq!(
        decide(&pay(12100, "thanks"), &[a], 0).unwrap(),
        Decision::default()
    );
}

#[test]
fn a_text_pointing_at_one_invoice_never_pays_another_by_amount_and_iban() {
    let a = with_iban(invoice("2026-0042", 12100), IBAN);
    let b = with_iban(invoice("2026-0043", 9900), IBAN);
    let mut p = pay(12100, "Factuur 2026-0043");
    p.counterparty_iban = Some(IBAN.into());
    let d = decide(&p, &[a, b.clone()], 0).unwrap();
    assert!(d.allocations.is_empty());
    assert!(d.suggestions.iter().any(|s| s.invoice == b.id));
}

#[test]
fn a_slip_in_a_reference_and_a_name_are_suggestions() {
    let a = with_ref(invoice("2026-0042", 12100), REF);
    let d = decide(
        &pay(12100, "+++090/9337/55483+++"),
        std::slice::from_ref(&a),
        0,
    )
    .unwrap();
    assert!(d.allocations.is_empty());
    assert_eq!(d.suggestions[0].basis, SuggestionBasis::NearReference);
    let mut named = invoice("2026-0042", 12100);
    named.name = Some("Acme NV".into());
    let mut p = pay(12100, "thanks");
    p.counterparty_name = Some("ACME NV".into());
    let d = decide(&p, std::slice::from_ref(&named), 0).unwrap();
    assert!(d.allocations.is_empty());
    assert_eq!(d.suggestions[0].basis, SuggestionBasis::CounterpartyName);
    // The same name on a small purchase, or on more than the invoice asks: no hint.
    for amount in [6049, 12101] {
        let mut p = pay(amount, "thanks");
        p.counterparty_name = Some("ACME NV".into());
        let d = decide(&p, std::slice::from_ref(&named), 0).unwrap();
        assert!(d.suggestions.is_empty(), "{amount}: {:?}", d.suggestions);
    }
}

#[test]
fn a_pair_a_person_undid_is_only_suggested() {
    let mut a = with_ref(invoice("2026-0042", 12100), REF);
    a.blocked = true;
    let d = decide(&pay(12100, REF), &[a], 0).unwrap();
    assert!(d.allocations.is_empty());
    assert_eq!(d.suggestions.len(), 1);
}

#[test]
fn credit_notes_are_settled_the_other_way() {
    let mut note = with_ref(invoice("CN-0001", 5000), REF);
    note.kind = InvoiceKind::SalesCreditNote;
    let d = decide(&pay(-5000, REF), std::slice::from_ref(&note), 0).unwrap();
    assert_eq!(
        allocated(&d),
        [(note.id, 5000, MatchRule::StructuredReference)]
    );
}

#[test]
fn overflow_is_an_error_not_a_wrap() {
    let a = invoice("2026-0042", i64::MAX);
    let b = invoice("2026-0043", i64::MAX);
    assert_eq!(
        decide(&pay(100, "2026-0042 2026-0043"), &[a, b], 0),
        Err(Overflow)
    );
}
