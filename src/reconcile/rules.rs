//! Owns the reconciliation rules as one pure decision: given a payment and the invoices it may
//! concern, what is allocated automatically (structured reference; invoice number with the open
//! amount; amount and IBAN with no rival), what only becomes a suggestion, and what counts for
//! nothing (an amount alone). All sums are checked `i64` minor units.

use crate::domain::ids::InvoiceId;
use crate::domain::invoice::InvoiceKind;
use crate::domain::money::{Currency, Money};
use crate::domain::reference::StructuredReference;
use crate::domain::remittance::mentions_invoice_number;
use crate::domain::status::{MatchRule, SuggestionBasis};
use chrono::NaiveDate;

/// A bank transaction as the rules read it.
#[derive(Debug, Clone)]
pub struct Payment {
    /// Signed as booked: positive is incoming money.
    pub amount: Money,
    /// What automatic allocation may still use: the absolute amount less what people allocated.
    pub available: i64,
    /// The remittance text (and description) the bank gave.
    pub text: String,
    /// Every valid structured reference it carries.
    pub references: Vec<StructuredReference>,
    /// References one typing slip away from a reference-shaped string that fails its check.
    pub near_references: Vec<StructuredReference>,
    pub counterparty_iban: Option<String>,
    pub counterparty_name: Option<String>,
}

/// An invoice as the rules see it at this point of a run.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: InvoiceId,
    pub kind: InvoiceKind,
    pub number: String,
    pub reference: Option<StructuredReference>,
    pub iban: Option<String>,
    pub name: Option<String>,
    pub currency: Currency,
    /// What is still to be paid, in minor units (0 for a paid invoice).
    pub open: i64,
    pub void: bool,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    /// A person undid this pair, or matched it by hand: never applied automatically again.
    pub blocked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub invoice: InvoiceId,
    pub amount: i64,
    /// A shortfall within tolerance, counted as paid.
    pub written_off: i64,
    /// An excess within tolerance, left unallocated on the transaction.
    pub excess: i64,
    pub rule: MatchRule,
    pub evidence: String,
    pub confidence: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub invoice: InvoiceId,
    pub basis: SuggestionBasis,
    pub evidence: String,
    pub confidence: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub allocations: Vec<Allocation>,
    pub suggestions: Vec<Suggestion>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an amount overflowed 64-bit minor units")]
pub struct Overflow;

fn add(a: i64, b: i64) -> Result<i64, Overflow> {
    a.checked_add(b).ok_or(Overflow)
}

fn sub(a: i64, b: i64) -> Result<i64, Overflow> {
    a.checked_sub(b).ok_or(Overflow)
}

fn money(minor: i64, c: Currency) -> String {
    format!("{} {}", Money::new(minor, c), c.code())
}

fn reference_words(r: &StructuredReference) -> String {
    match r {
        StructuredReference::Ogm(_) => format!("structured communication {r}"),
        StructuredReference::Rf(_) => format!("creditor reference {r}"),
    }
}

/// One invoice's share of a payment: (allocated, written off, excess), in minor units.
type Share = (i64, i64, i64);

/// Splits `available` over invoices in order, each up to its open amount. With `exact`, the
/// payment must equal the sum of the open amounts within `tolerance` (else `None`); without, a
/// single invoice takes everything (partial or over), several take what they can and the rest
/// stays on the transaction. A shortfall within tolerance is written off on the last invoice;
/// an excess within tolerance is recorded on it and left unallocated.
fn split(
    available: i64,
    invoices: &[&Candidate],
    tolerance: i64,
    exact: bool,
) -> Result<Option<Vec<Share>>, Overflow> {
    let sum = invoices.iter().try_fold(0i64, |s, c| add(s, c.open))?;
    let diff = sub(available, sum)?;
    let within = diff.checked_abs().ok_or(Overflow)? <= tolerance;
    if exact && !within {
        return Ok(None);
    }
    if invoices.len() == 1 && !within {
        return Ok(Some(vec![(available, 0, 0)]));
    }
    let mut out = Vec::with_capacity(invoices.len());
    let mut left = available;
    for (i, c) in invoices.iter().enumerate() {
        let last = i + 1 == invoices.len();
        let take = left.min(c.open);
        left = sub(left, take)?;
        let (written_off, excess) = match (last, within) {
            (true, true) if diff < 0 => (sub(c.open, take)?, 0),
            (true, true) => (0, left),
            _ => (0, 0),
        };
        if take > 0 || written_off > 0 {
            out.push((take, written_off, excess));
        } else {
            out.push((0, 0, 0));
        }
    }
    Ok(Some(out))
}

fn tolerance_words(written_off: i64, excess: i64, c: Currency) -> String {
    if written_off > 0 {
        format!(
            "; {} short, written off within tolerance",
            money(written_off, c)
        )
    } else if excess > 0 {
        format!(
            "; {} over, left unallocated within tolerance",
            money(excess, c)
        )
    } else {
        String::new()
    }
}

/// Payment order among several invoices of one payment: due first, then issued first.
fn by_due(a: &&Candidate, b: &&Candidate) -> std::cmp::Ordering {
    (a.due_date.unwrap_or(a.issue_date), a.issue_date, &a.number).cmp(&(
        b.due_date.unwrap_or(b.issue_date),
        b.issue_date,
        &b.number,
    ))
}

/// The decision for one payment. `candidates` may hold any invoices; those of the wrong
/// direction or void are never considered.
pub fn decide(p: &Payment, candidates: &[Candidate], tolerance: i64) -> Result<Decision, Overflow> {
    let sign = p.amount.minor.signum();
    let live: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !c.void && c.kind.settlement_sign() == sign && sign != 0)
        .collect();
    let mut d = Decision::default();
    let currency = p.amount.currency;
    let suggest = |d: &mut Decision, c: &Candidate, basis, evidence: String, confidence| {
        if !d.suggestions.iter().any(|s| s.invoice == c.id) {
            d.suggestions.push(Suggestion {
                invoice: c.id,
                basis,
                evidence,
                confidence,
            });
        }
    };
    // Invoices the text points at (by reference, a slip of one, or number): automation goes
    // to them or to nobody.
    let mut pointed: Vec<InvoiceId> = Vec::new();

    // (a) the invoice's structured reference: any amount.
    let mut by_reference: Vec<&Candidate> = Vec::new();
    for r in &p.references {
        let holders: Vec<&Candidate> = live
            .iter()
            .copied()
            .filter(|c| c.reference.as_ref() == Some(r))
            .collect();
        pointed.extend(holders.iter().map(|c| c.id));
        let equals = |c: &Candidate| format!("{} equals invoice {}", reference_words(r), c.number);
        for c in &holders {
            let why = if holders.len() > 1 {
                Some("; another invoice carries the same reference")
            } else if c.currency != currency {
                Some("; but the currencies differ")
            } else if c.open <= 0 {
                Some("; but the invoice is already paid")
            } else if c.blocked {
                Some("; a person undid this match")
            } else {
                None
            };
            match why {
                Some(why) => suggest(
                    &mut d,
                    c,
                    SuggestionBasis::StructuredReference,
                    format!("{}{why}", equals(c)),
                    80,
                ),
                None if !by_reference.iter().any(|b| b.id == c.id) => by_reference.push(c),
                None => {}
            }
        }
    }
    if !by_reference.is_empty() {
        by_reference.sort_by(by_due);
        let shares = split(p.available, &by_reference, tolerance, false)?.unwrap_or_default();
        for (c, (amount, written_off, excess)) in by_reference.iter().zip(shares) {
            if amount == 0 && written_off == 0 {
                continue;
            }
            let r = c.reference.as_ref().expect("matched by reference");
            d.allocations.push(Allocation {
                invoice: c.id,
                amount,
                written_off,
                excess,
                rule: MatchRule::StructuredReference,
                evidence: format!(
                    "{} equals invoice {}{}",
                    reference_words(r),
                    c.number,
                    tolerance_words(written_off, excess, currency)
                ),
                confidence: 100,
            });
        }
        d.suggestions
            .retain(|s| !by_reference.iter().any(|c| c.id == s.invoice));
        return Ok(d);
    }

    for r in &p.near_references {
        for c in live.iter().filter(|c| c.reference.as_ref() == Some(r)) {
            pointed.push(c.id);
            suggest(
                &mut d,
                c,
                SuggestionBasis::NearReference,
                format!(
                    "a reference that fails its check is one typing slip from invoice {}'s {}",
                    c.number,
                    reference_words(r)
                ),
                60,
            );
        }
    }

    // (b) invoice numbers named in the text, amount equal to what they leave open together.
    let named: Vec<&Candidate> = live
        .iter()
        .copied()
        .filter(|c| mentions_invoice_number(&p.text, &c.number))
        .collect();
    pointed.extend(named.iter().map(|c| c.id));
    let tie = named.iter().enumerate().any(|(i, a)| {
        named[i + 1..]
            .iter()
            .any(|b| b.number.trim().eq_ignore_ascii_case(a.number.trim()))
    });
    let eligible = |c: &&Candidate| c.currency == currency && c.open > 0 && !c.blocked;
    if !named.is_empty() && !tie && named.iter().all(eligible) {
        let mut ordered = named.clone();
        ordered.sort_by(by_due);
        if let Some(shares) = split(p.available, &ordered, tolerance, true)? {
            let numbers: Vec<&str> = ordered.iter().map(|c| c.number.as_str()).collect();
            let (subject, open) = match numbers[..] {
                [one] => (format!("invoice number {one} is"), "its open amount"),
                _ => (
                    format!("invoice numbers {} are", numbers.join(", ")),
                    "their open amounts together",
                ),
            };
            for (c, (amount, written_off, excess)) in ordered.iter().zip(shares) {
                d.allocations.push(Allocation {
                    invoice: c.id,
                    amount,
                    written_off,
                    excess,
                    rule: MatchRule::InvoiceNumber,
                    evidence: format!(
                        "{subject} named in the communication and {} equals {open}{}",
                        money(p.available, currency),
                        tolerance_words(written_off, excess, currency)
                    ),
                    confidence: 95,
                });
            }
            d.suggestions.clear();
            return Ok(d);
        }
    }
    for c in &named {
        let why = if c.currency != currency {
            "but the currencies differ".to_owned()
        } else if c.open <= 0 {
            "but the invoice is already paid".to_owned()
        } else if tie {
            "but another invoice has the same number".to_owned()
        } else {
            format!(
                "but {} is not its open amount {}",
                money(p.available, currency),
                money(c.open, c.currency)
            )
        };
        suggest(
            &mut d,
            c,
            SuggestionBasis::InvoiceNumber,
            format!(
                "invoice number {} is named in the communication, {why}",
                c.number
            ),
            70,
        );
    }

    // (c) the open amount, from the invoice's counterparty IBAN, and no rival.
    let fits = |c: &&Candidate| -> bool {
        c.currency == currency
            && c.open > 0
            && p.counterparty_iban.is_some()
            && c.iban == p.counterparty_iban
            && p.available
                .checked_sub(c.open)
                .and_then(i64::checked_abs)
                .is_some_and(|diff| diff <= tolerance)
    };
    let fitting: Vec<&Candidate> = live.iter().copied().filter(fits).collect();
    if let [only] = fitting[..]
        && !only.blocked
        && (pointed.is_empty() || pointed.contains(&only.id))
    {
        let shares = split(p.available, &[only], tolerance, true)?.unwrap_or_default();
        let (amount, written_off, excess) = shares[0];
        d.allocations.push(Allocation {
            invoice: only.id,
            amount,
            written_off,
            excess,
            rule: MatchRule::AmountAndIban,
            evidence: format!(
                "{} equals the open amount of invoice {}, paid from its counterparty's IBAN {}, and no other open invoice fits{}",
                money(p.available, currency),
                only.number,
                only.iban.as_deref().unwrap_or_default(),
                tolerance_words(written_off, excess, currency)
            ),
            confidence: 90,
        });
        d.suggestions.retain(|s| s.invoice != only.id);
        return Ok(d);
    }
    for c in &fitting {
        let why = if fitting.len() > 1 {
            "but other open invoices fit as well"
        } else if c.blocked {
            "but a person undid this match"
        } else {
            "but the communication points at another invoice"
        };
        suggest(
            &mut d,
            c,
            SuggestionBasis::AmountAndIban,
            format!(
                "{} equals the open amount of invoice {} from its counterparty's IBAN, {why}",
                money(p.available, currency),
                c.number
            ),
            50,
        );
    }

    // The counterparty's name alone: a hint, never more, and only for an amount that could be
    // this invoice's payment or a good part of it (from half its open amount to all of it). A
    // supplier that also takes card payments would otherwise have every small purchase
    // suggested for each of its invoices.
    if let Some(name) = p.counterparty_name.as_deref().map(str::trim)
        && !name.is_empty()
    {
        let mut same_name: Vec<&Candidate> = live
            .iter()
            .copied()
            .filter(|c| {
                c.currency == currency
                    && c.open > 0
                    && p.available >= c.open / 2
                    && c.open
                        .checked_add(tolerance)
                        .is_some_and(|most| p.available <= most)
                    && c.name
                        .as_deref()
                        .is_some_and(|n| n.trim().eq_ignore_ascii_case(name))
            })
            .collect();
        same_name.sort_by_key(|c| c.open.saturating_sub(p.available).saturating_abs());
        for c in same_name.into_iter().take(5) {
            let amount_fits = c.open.saturating_sub(p.available).saturating_abs() <= tolerance;
            suggest(
                &mut d,
                c,
                SuggestionBasis::CounterpartyName,
                format!(
                    "the counterparty {name} is invoice {}'s{}",
                    c.number,
                    if amount_fits {
                        " and the amount equals its open amount"
                    } else {
                        ""
                    }
                ),
                if amount_fits { 40 } else { 20 },
            );
        }
    }
    Ok(d)
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
