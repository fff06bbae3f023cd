//! Owns one reconciliation run over a batch of transactions, in memory: a ledger of what each
//! invoice has received from everyone else, each transaction decided in booking order against
//! it, and the difference with the live matches turned into reversals and new matches. A match
//! the rules would make again is kept as it is, so re-running changes nothing.

use super::rules::{self, Candidate, Payment};
use crate::domain::ids::{InvoiceId, TransactionId};
use crate::domain::invoice::InvoiceStatus;
use crate::domain::reference::StructuredReference;
use crate::domain::remittance::{mentions_invoice_number, near_references, references_in};
use crate::domain::status::{MatchRule, SuggestionBasis};
use crate::domain::transaction::TransactionStatus;
use crate::store::invoices::Invoice;
use crate::store::matches::{NewMatch, PaymentMatch};
use crate::store::reconcile::{CandidateKeys, Changes, NewSuggestion};
use crate::store::transactions::Transaction;
use std::collections::{HashMap, HashSet};

/// Who the engine's matches and reversals are recorded as.
pub const SYSTEM: &str = "system";

/// What a transaction's text and counterparty point at.
#[derive(Debug, Clone)]
pub struct Pointers {
    pub text: String,
    pub references: Vec<StructuredReference>,
    pub near: Vec<StructuredReference>,
}

impl Pointers {
    pub fn of(t: &Transaction) -> Self {
        let text = t.text();
        let mut references = references_in(&text);
        if let Some(r) = t
            .structured_reference
            .as_deref()
            .and_then(StructuredReference::from_normalized)
            && !references.contains(&r)
        {
            references.insert(0, r);
        }
        let mut near = near_references(&text);
        near.retain(|r| !references.contains(r));
        near.truncate(crate::domain::lookup::MAX_NEAR_REFERENCES);
        Self {
            text,
            references,
            near,
        }
    }

    pub fn add_keys(&self, t: &Transaction, keys: &mut CandidateKeys) {
        let refs = self.references.iter().chain(&self.near);
        keys.references
            .extend(refs.map(|r| r.normalized().to_owned()));
        keys.number_keys
            .extend(crate::domain::remittance::number_tokens(&self.text));
        keys.ibans.extend(t.counterpart_iban.clone());
    }

    /// Whether the invoice could concern this transaction at all.
    fn hits(&self, t: &Transaction, inv: &Invoice) -> bool {
        let by_name = match (&t.counterpart_name, &inv.counterparty_name) {
            (Some(a), Some(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
            _ => false,
        };
        by_name || self.hits_strongly(t, inv)
    }

    /// Whether its reference (or a slip of one), its number or its IBAN points at the invoice.
    pub fn hits_strongly(&self, t: &Transaction, inv: &Invoice) -> bool {
        let by_reference = inv.structured_reference.as_deref().is_some_and(|r| {
            self.references
                .iter()
                .chain(&self.near)
                .any(|x| x.normalized() == r)
        });
        let by_iban = t.counterpart_iban.is_some() && t.counterpart_iban == inv.counterparty_iban;
        by_reference || by_iban || mentions_invoice_number(&self.text, &inv.number)
    }
}

/// Why a live match goes.
fn reversal_reason(t: &Transaction, inv: Option<&Invoice>) -> &'static str {
    if t.removed_at.is_some() {
        "the bank removed the transaction"
    } else if t.superseded_by.is_some() {
        "the pending transaction was replaced by its booked one"
    } else if inv.is_some_and(|i| i.status == InvoiceStatus::Void) {
        "the invoice was voided"
    } else if t.ignored_at.is_some() {
        "the transaction is ignored"
    } else {
        "re-evaluated after the transaction or the invoice changed"
    }
}

fn basis_of(rule: MatchRule) -> SuggestionBasis {
    match rule {
        MatchRule::StructuredReference | MatchRule::Manual => SuggestionBasis::StructuredReference,
        MatchRule::InvoiceNumber => SuggestionBasis::InvoiceNumber,
        MatchRule::AmountAndIban => SuggestionBasis::AmountAndIban,
    }
}

/// The changes of one run over `transactions` (any order), given their live matches, the pairs
/// people undid, and every invoice they may concern (with those they are matched to).
pub fn plan(
    transactions: &[Transaction],
    pointers: &HashMap<TransactionId, Pointers>,
    live: &[PaymentMatch],
    undone: &HashSet<(TransactionId, InvoiceId)>,
    invoices: &HashMap<InvoiceId, Invoice>,
    tolerance: i64,
) -> Result<Changes, rules::Overflow> {
    let mut changes = Changes {
        suggestions_of: transactions.iter().map(|t| t.id).collect(),
        ..Default::default()
    };
    // What each invoice holds from outside this batch's automatic matches (those are decided
    // afresh): paid and written off, in minor units.
    let mut ledger: HashMap<InvoiceId, (i64, i64)> = invoices
        .iter()
        .map(|(id, i)| (*id, (i.paid.minor, i.written_off.minor)))
        .collect();
    let by_id: HashMap<TransactionId, &Transaction> =
        transactions.iter().map(|t| (t.id, t)).collect();
    let mut manual_sum: HashMap<TransactionId, i64> = HashMap::new();
    let mut manual_pairs: HashSet<(TransactionId, InvoiceId)> = HashSet::new();
    let mut existing: HashMap<TransactionId, Vec<&PaymentMatch>> = HashMap::new();
    let release = |ledger: &mut HashMap<InvoiceId, (i64, i64)>, m: &PaymentMatch| {
        if let Some(e) = ledger.get_mut(&m.invoice_id) {
            e.0 = e.0.checked_sub(m.amount.minor).ok_or(rules::Overflow)?;
            e.1 = e.1.checked_sub(m.written_off).ok_or(rules::Overflow)?;
        }
        Ok::<_, rules::Overflow>(())
    };
    for m in live {
        let Some(t) = by_id.get(&m.transaction_id) else {
            continue;
        };
        let inv = invoices.get(&m.invoice_id);
        let dead = t.removed_at.is_some() || t.superseded_by.is_some();
        let fits = inv.is_some_and(|i| {
            i.status != InvoiceStatus::Void
                && i.total.currency == t.amount.currency
                && i.kind.settlement_sign() == t.amount.minor.signum()
        });
        let kept = !dead && fits && t.ignored_at.is_none() && t.status == TransactionStatus::Booked;
        if m.rule == MatchRule::Manual && kept {
            let sum = manual_sum.entry(t.id).or_default();
            *sum = sum.checked_add(m.amount.minor).ok_or(rules::Overflow)?;
            manual_pairs.insert((t.id, m.invoice_id));
            continue;
        }
        release(&mut ledger, m)?;
        if m.rule == MatchRule::Manual {
            let reason = reversal_reason(t, inv).to_owned();
            changes.reversals.push((m.id, m.invoice_id, reason));
        } else {
            existing.entry(t.id).or_default().push(m);
        }
    }
    // People allocated more than the bank now says the transaction holds: their matches go too.
    for (tid, sum) in &manual_sum {
        let t = by_id[tid];
        if *sum > t.amount.minor.checked_abs().ok_or(rules::Overflow)? {
            for m in live
                .iter()
                .filter(|m| m.transaction_id == *tid && m.rule == MatchRule::Manual)
            {
                release(&mut ledger, m)?;
                let reason = "the bank changed the transaction's amount below what was allocated";
                changes
                    .reversals
                    .push((m.id, m.invoice_id, reason.to_owned()));
                manual_pairs.remove(&(*tid, m.invoice_id));
            }
        }
    }

    let mut ordered: Vec<&Transaction> = transactions.iter().collect();
    ordered.sort_by_key(|t| (t.sort_date, t.id));
    for t in ordered {
        let old = existing.remove(&t.id).unwrap_or_default();
        let dead = t.removed_at.is_some() || t.superseded_by.is_some();
        let mut decision = rules::Decision::default();
        if !dead && t.ignored_at.is_none() {
            let ptr = &pointers[&t.id];
            let manual = if manual_pairs.iter().any(|(x, _)| *x == t.id) {
                manual_sum.get(&t.id).copied().unwrap_or(0)
            } else {
                0
            };
            let available = t
                .amount
                .minor
                .checked_abs()
                .and_then(|a| a.checked_sub(manual))
                .ok_or(rules::Overflow)?
                .max(0);
            let mut candidates = Vec::new();
            for inv in invoices.values() {
                let matched_now = old.iter().any(|m| m.invoice_id == inv.id);
                if !matched_now && !ptr.hits(t, inv) {
                    continue;
                }
                let (paid, written_off) = ledger[&inv.id];
                let open = inv
                    .total
                    .minor
                    .checked_sub(paid)
                    .and_then(|o| o.checked_sub(written_off))
                    .ok_or(rules::Overflow)?
                    .max(0);
                candidates.push(Candidate {
                    id: inv.id,
                    kind: inv.kind,
                    number: inv.number.clone(),
                    reference: inv
                        .structured_reference
                        .as_deref()
                        .and_then(StructuredReference::from_normalized),
                    iban: inv.counterparty_iban.clone(),
                    name: inv.counterparty_name.clone(),
                    currency: inv.total.currency,
                    open,
                    void: inv.status == InvoiceStatus::Void,
                    issue_date: inv.issue_date,
                    due_date: inv.due_date,
                    blocked: undone.contains(&(t.id, inv.id))
                        || manual_pairs.contains(&(t.id, inv.id)),
                });
            }
            candidates.sort_by_key(|c| c.id);
            let payment = Payment {
                amount: t.amount,
                available,
                text: ptr.text.clone(),
                references: ptr.references.clone(),
                near_references: ptr.near.clone(),
                counterparty_iban: t.counterpart_iban.clone(),
                counterparty_name: t.counterpart_name.clone(),
            };
            decision = rules::decide(&payment, &candidates, tolerance)?;
            // What a person matched by hand is not suggested on top.
            decision
                .suggestions
                .retain(|s| !manual_pairs.contains(&(t.id, s.invoice)));
        }
        for s in decision.suggestions {
            changes.suggestions.push(NewSuggestion {
                transaction_id: t.id,
                invoice_id: s.invoice,
                basis: s.basis,
                evidence: s.evidence,
                confidence: s.confidence,
                pending: false,
            });
        }
        if t.status == TransactionStatus::Pending {
            // Pending money never pays: what it would pay is marked "payment pending".
            for a in decision.allocations.drain(..) {
                changes.suggestions.push(NewSuggestion {
                    transaction_id: t.id,
                    invoice_id: a.invoice,
                    basis: basis_of(a.rule),
                    evidence: format!("pending: {}", a.evidence),
                    confidence: a.confidence,
                    pending: true,
                });
            }
        }
        for a in &decision.allocations {
            let e = ledger
                .get_mut(&a.invoice)
                .expect("decided on a known invoice");
            e.0 = e.0.checked_add(a.amount).ok_or(rules::Overflow)?;
            e.1 = e.1.checked_add(a.written_off).ok_or(rules::Overflow)?;
        }
        // Keep what would be made again; reverse the rest; add what is new.
        let same = |m: &PaymentMatch, a: &rules::Allocation| {
            m.invoice_id == a.invoice
                && m.amount.minor == a.amount
                && m.written_off == a.written_off
                && m.excess == a.excess
                && m.rule == a.rule
        };
        for m in &old {
            if !decision.allocations.iter().any(|a| same(m, a)) {
                let inv = invoices.get(&m.invoice_id);
                changes
                    .reversals
                    .push((m.id, m.invoice_id, reversal_reason(t, inv).to_owned()));
            }
        }
        for a in decision.allocations {
            if old.iter().any(|m| same(m, &a)) {
                continue;
            }
            changes.matches.push(NewMatch {
                invoice_id: a.invoice,
                transaction_id: t.id,
                amount: crate::domain::money::Money::new(a.amount, t.amount.currency),
                rule: a.rule,
                written_off: a.written_off,
                excess: a.excess,
                evidence: a.evidence,
                confidence: a.confidence,
                created_by: SYSTEM.to_owned(),
            });
        }
    }
    Ok(changes)
}
