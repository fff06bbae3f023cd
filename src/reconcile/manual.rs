//! Owns what people do to reconciliation by hand: allocate a transaction to an invoice, undo a
//! match, dismiss a suggestion, ignore and restore a transaction. Each runs in one write
//! transaction under the organization's lock, refuses what cannot be done with a `Refusal`
//! before writing anything, lets the engine reconsider what it changed, and records itself in
//! the audit trail — all committed together.

use super::SYSTEM;
use crate::domain::ids::{InvoiceId, MatchId, OrganizationId, TransactionId};
use crate::domain::input::{Problem, Refusal};
use crate::domain::invoice::InvoiceStatus;
use crate::domain::money::{Money, MoneyError};
use crate::domain::status::AuditAction;
use crate::domain::transaction::TransactionStatus;
use crate::error::{AppError, AppResult};
use crate::store::audit::Audit;
use crate::store::ignore::Ignore;
use crate::store::invoices::Invoice;
use crate::store::matches::{MatchRule, NewMatch, PaymentMatch};
use crate::store::reconcile::Changes;
use crate::store::transactions::Transaction;
use crate::store::{Store, WriteTx};
use serde_json::json;

/// The longest reason a person may give.
pub const MAX_REASON_CHARS: usize = 500;

/// A reason within [`MAX_REASON_CHARS`].
pub(super) fn check_reason(reason: Option<&str>) -> Result<(), Refusal> {
    match reason {
        Some(r) if r.chars().count() > MAX_REASON_CHARS => Err(Refusal::new(
            "reason",
            Problem::TooLong,
            format!("at most {MAX_REASON_CHARS} characters"),
        )),
        _ => Ok(()),
    }
}

/// Done, or refused with nothing written.
pub type Outcome<T> = AppResult<Result<T, Refusal>>;

/// A match as made or undone, with both sides as they now stand.
#[derive(Debug, Clone)]
pub struct Matched {
    pub payment_match: PaymentMatch,
    pub invoice: Invoice,
    pub transaction: Transaction,
}

async fn begin(store: &Store, org: OrganizationId) -> AppResult<WriteTx> {
    let mut tx = store.begin_write().await?;
    tx.lock_organization(org).await?;
    Ok(tx)
}

async fn transaction_of(
    tx: &WriteTx,
    org: OrganizationId,
    id: TransactionId,
) -> AppResult<Result<Transaction, Refusal>> {
    Ok(tx
        .transactions_in(org, &[id])
        .await?
        .pop()
        .ok_or_else(|| Refusal::new("transactionId", Problem::NotFound, "transaction not found")))
}

async fn invoice_of(
    tx: &WriteTx,
    org: OrganizationId,
    id: InvoiceId,
) -> AppResult<Result<Invoice, Refusal>> {
    Ok(tx
        .invoices_in(org, &[id])
        .await?
        .remove(&id)
        .ok_or_else(|| Refusal::new("invoiceId", Problem::NotFound, "invoice not found")))
}

/// The bank no longer reports it (removed, or a pending one replaced by its booked one).
fn gone(t: &Transaction) -> Option<Refusal> {
    (t.removed_at.is_some() || t.superseded_by.is_some()).then(|| {
        Refusal::new(
            "transactionId",
            Problem::Conflict,
            "the bank no longer reports this transaction",
        )
    })
}

/// Why this transaction cannot pay this invoice at all, if it cannot.
fn unfit(t: &Transaction, inv: &Invoice) -> Option<Refusal> {
    let r = |field, problem, message: &str| Some(Refusal::new(field, problem, message));
    if let Some(g) = gone(t) {
        return Some(g);
    }
    if t.status == TransactionStatus::Pending {
        return r(
            "transactionId",
            Problem::TransactionPending,
            "the transaction is pending: only booked money pays an invoice",
        );
    }
    if t.ignored_at.is_some() {
        return r(
            "transactionId",
            Problem::Conflict,
            "the transaction is ignored: restore it first",
        );
    }
    if inv.status == InvoiceStatus::Void {
        return r("invoiceId", Problem::InvoiceVoid, "the invoice is void");
    }
    if inv.total.currency != t.amount.currency {
        return Some(Refusal::new(
            "invoiceId",
            Problem::CurrencyMismatch,
            format!(
                "the transaction is in {} and the invoice in {}",
                t.amount.currency.code(),
                inv.total.currency.code()
            ),
        ));
    }
    if inv.kind.settlement_sign() != t.amount.minor.signum() {
        return r(
            "invoiceId",
            Problem::WrongDirection,
            "money going this way does not pay this kind of invoice",
        );
    }
    None
}

/// What a person asked to allocate, checked against what is left on the transaction; without
/// an amount, what is left up to the invoice's open amount.
fn allocation(
    requested: Option<rust_decimal::Decimal>,
    t: &Transaction,
    inv: &Invoice,
    unallocated: i64,
) -> Result<i64, Refusal> {
    let exceeds = || {
        Refusal::new(
            "amount",
            Problem::AllocationExceedsUnallocated,
            format!(
                "only {} {} of the transaction is left to allocate",
                Money::new(unallocated, t.amount.currency),
                t.amount.currency.code()
            ),
        )
    };
    match requested {
        Some(d) => {
            let m = Money::from_client_decimal(d, t.amount.currency).map_err(|e| {
                let problem = match e {
                    MoneyError::TooManyDecimals { .. } => Problem::TooManyDecimals,
                    _ => Problem::OutOfRange,
                };
                Refusal::new("amount", problem, e.to_string())
            })?;
            if m.minor <= 0 {
                return Err(Refusal::new(
                    "amount",
                    Problem::NotPositive,
                    "the amount must be positive",
                ));
            }
            if m.minor > unallocated {
                return Err(exceeds());
            }
            Ok(m.minor)
        }
        None if unallocated <= 0 => Err(exceeds()),
        None if inv.open_amount().minor <= 0 => Err(Refusal::new(
            "invoiceId",
            Problem::Conflict,
            "the invoice has nothing left to pay: pass `amount` to allocate anyway",
        )),
        None => Ok(unallocated.min(inv.open_amount().minor)),
    }
}

/// The live matches of a transaction, and what is left of it to allocate.
async fn allocated(
    tx: &WriteTx,
    org: OrganizationId,
    t: &Transaction,
) -> AppResult<(Vec<PaymentMatch>, i64)> {
    let (live, _) = tx.matches_of(org, &[t.id]).await?;
    let taken = live
        .iter()
        .try_fold(0i64, |s, m| s.checked_add(m.amount.minor))
        .ok_or_else(|| AppError::internal("a transaction's matches overflowed 64 bits"))?;
    let whole = t.amount.minor.checked_abs().unwrap_or(i64::MAX);
    Ok((live, whole.saturating_sub(taken)))
}

/// Both sides of a match as they stand in `tx`.
async fn matched(tx: &WriteTx, org: OrganizationId, m: PaymentMatch) -> AppResult<Matched> {
    let missing = || AppError::internal("a match's side vanished inside its transaction");
    let invoice = tx
        .invoices_in(org, &[m.invoice_id])
        .await?
        .remove(&m.invoice_id)
        .ok_or_else(missing)?;
    let transaction = tx
        .transactions_in(org, &[m.transaction_id])
        .await?
        .pop()
        .ok_or_else(missing)?;
    Ok(Matched {
        payment_match: m,
        invoice,
        transaction,
    })
}

/// Allocates (part of) a booked transaction to an invoice by hand. Without `amount`, what is
/// left of the transaction up to the invoice's open amount. Accepting a suggestion is this call.
pub async fn match_transaction(
    store: &Store,
    org: OrganizationId,
    by: &str,
    transaction: TransactionId,
    invoice: InvoiceId,
    amount: Option<rust_decimal::Decimal>,
) -> Outcome<Matched> {
    let mut tx = begin(store, org).await?;
    let t = match transaction_of(&tx, org, transaction).await? {
        Ok(t) => t,
        Err(r) => return Ok(Err(r)),
    };
    let inv = match invoice_of(&tx, org, invoice).await? {
        Ok(i) => i,
        Err(r) => return Ok(Err(r)),
    };
    if let Some(r) = unfit(&t, &inv) {
        return Ok(Err(r));
    }
    let (live, unallocated) = allocated(&tx, org, &t).await?;
    if live.iter().any(|m| m.invoice_id == inv.id) {
        return Ok(Err(Refusal::new(
            "invoiceId",
            Problem::Conflict,
            "the transaction already pays this invoice: unmatch that match first",
        )));
    }
    let minor = match allocation(amount, &t, &inv, unallocated) {
        Ok(m) => m,
        Err(r) => return Ok(Err(r)),
    };
    let evidence = match tx.suggestion_of(org, t.id, inv.id).await? {
        Some(s) => format!("accepted suggestion: {}", s.evidence),
        None => format!("allocated by {by}"),
    };
    let changes = Changes {
        matches: vec![NewMatch {
            invoice_id: inv.id,
            transaction_id: t.id,
            amount: Money::new(minor, t.amount.currency),
            rule: MatchRule::Manual,
            written_off: 0,
            excess: 0,
            evidence,
            confidence: 100,
            created_by: by.to_owned(),
        }],
        ..Default::default()
    };
    tx.apply_changes(org, changes, by).await?;
    // The rest of the transaction is reconsidered with this allocation fixed.
    super::transactions(&mut tx, org, &[t.id]).await?;
    let made = tx
        .matches_of(org, &[t.id])
        .await?
        .0
        .into_iter()
        .find(|m| m.invoice_id == inv.id && m.rule == MatchRule::Manual)
        .ok_or_else(|| AppError::internal("a manual match vanished inside its transaction"))?;
    tx.audit(
        org,
        Audit {
            action: AuditAction::TransactionMatched,
            actor: by,
            subject_type: "PaymentMatch",
            subject_id: made.id.0,
            reason: None,
            details: json!({
                "transactionId": t.id.to_string(),
                "invoiceId": inv.id.to_string(),
                "amount": made.amount.to_string(),
                "currency": made.amount.currency.code(),
            }),
        },
    )
    .await?;
    let out = matched(&tx, org, made).await?;
    tx.commit().await?;
    Ok(Ok(out))
}

/// Reverses a live match (kept for the record). A pair a person reversed is never applied
/// automatically again; it may still be suggested.
pub async fn unmatch(
    store: &Store,
    org: OrganizationId,
    by: &str,
    id: MatchId,
    reason: Option<&str>,
) -> Outcome<Matched> {
    if let Err(r) = check_reason(reason) {
        return Ok(Err(r));
    }
    let mut tx = begin(store, org).await?;
    let Some(m) = tx.payment_match_in(org, id).await? else {
        return Ok(Err(Refusal::new(
            "matchId",
            Problem::NotFound,
            "match not found",
        )));
    };
    if m.reversed_at.is_some() {
        return Ok(Err(Refusal::new(
            "matchId",
            Problem::Conflict,
            "the match is already reversed",
        )));
    }
    let why = reason.map_or_else(|| format!("reversed by {by}"), str::to_owned);
    let changes = Changes {
        reversals: vec![(m.id, m.invoice_id, why)],
        ..Default::default()
    };
    tx.apply_changes(org, changes, by).await?;
    super::transactions(&mut tx, org, &[m.transaction_id]).await?;
    tx.audit(
        org,
        Audit {
            action: AuditAction::TransactionUnmatched,
            actor: by,
            subject_type: "PaymentMatch",
            subject_id: m.id.0,
            reason,
            details: json!({
                "transactionId": m.transaction_id.to_string(),
                "invoiceId": m.invoice_id.to_string(),
                "amount": m.amount.to_string(),
                "currency": m.amount.currency.code(),
                "method": m.method.as_str(),
            }),
        },
    )
    .await?;
    let undone = tx
        .payment_match_in(org, id)
        .await?
        .ok_or_else(|| AppError::internal("a reversed match vanished"))?;
    let out = matched(&tx, org, undone).await?;
    tx.commit().await?;
    Ok(Ok(out))
}

/// Dismisses a suggestion so it never comes back; the invoice's "payment pending" is settled
/// again when the suggestion was a pending transaction's.
pub async fn dismiss(
    store: &Store,
    org: OrganizationId,
    by: &str,
    transaction: TransactionId,
    invoice: InvoiceId,
) -> Outcome<(Transaction, Invoice)> {
    let mut tx = begin(store, org).await?;
    let t = match transaction_of(&tx, org, transaction).await? {
        Ok(t) => t,
        Err(r) => return Ok(Err(r)),
    };
    if let Err(r) = invoice_of(&tx, org, invoice).await? {
        return Ok(Err(r));
    }
    if !tx.dismiss_suggestion(org, t.id, invoice, by).await? {
        return Ok(Err(Refusal::new(
            "invoiceId",
            Problem::NotFound,
            "no suggestion pairs this transaction with this invoice",
        )));
    }
    let inv = tx
        .settle_invoices(org, &[invoice], &Default::default())
        .await?
        .remove(0);
    tx.audit(
        org,
        Audit {
            action: AuditAction::SuggestionDismissed,
            actor: by,
            subject_type: "BankTransaction",
            subject_id: t.id.0,
            reason: None,
            details: json!({ "invoiceId": invoice.to_string() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Ok((t, inv)))
}

/// Sets a transaction aside as not invoice-related: its matches are reversed and its
/// suggestions dropped, and it is left out of reconciliation until restored.
pub async fn ignore(
    store: &Store,
    org: OrganizationId,
    by: &str,
    transaction: TransactionId,
    reason: Option<&str>,
) -> Outcome<Transaction> {
    if let Err(r) = check_reason(reason) {
        return Ok(Err(r));
    }
    let mut tx = begin(store, org).await?;
    let t = match transaction_of(&tx, org, transaction).await? {
        Ok(t) => t,
        Err(r) => return Ok(Err(r)),
    };
    if t.ignored_at.is_some() {
        return Ok(Err(Refusal::new(
            "transactionId",
            Problem::Conflict,
            "the transaction is already ignored",
        )));
    }
    let how = Ignore {
        reason,
        by,
        rule: None,
    };
    tx.ignore_transactions(org, &[t.id], how).await?;
    finish_flag(tx, org, by, t.id, AuditAction::TransactionIgnored, reason).await
}

/// Takes an ignored transaction back: the engine reconsiders it, and no keyword rule ignores
/// it again.
pub async fn restore(
    store: &Store,
    org: OrganizationId,
    by: &str,
    transaction: TransactionId,
) -> Outcome<Transaction> {
    let mut tx = begin(store, org).await?;
    let t = match transaction_of(&tx, org, transaction).await? {
        Ok(t) => t,
        Err(r) => return Ok(Err(r)),
    };
    if t.ignored_at.is_none() {
        return Ok(Err(Refusal::new(
            "transactionId",
            Problem::Conflict,
            "the transaction is not ignored",
        )));
    }
    tx.restore_transactions(org, &[t.id], Some(by)).await?;
    finish_flag(tx, org, by, t.id, AuditAction::TransactionRestored, None).await
}

/// Reconsiders a transaction whose ignored flag changed, audits it and commits.
async fn finish_flag(
    mut tx: WriteTx,
    org: OrganizationId,
    by: &str,
    id: TransactionId,
    action: AuditAction,
    reason: Option<&str>,
) -> Outcome<Transaction> {
    super::transactions(&mut tx, org, &[id]).await?;
    tx.audit(
        org,
        Audit {
            action,
            actor: by,
            subject_type: "BankTransaction",
            subject_id: id.0,
            reason,
            details: json!({}),
        },
    )
    .await?;
    let t = match transaction_of(&tx, org, id).await? {
        Ok(t) => t,
        Err(_) => {
            return Err(AppError::internal(
                "a transaction vanished inside its write",
            ));
        }
    };
    tx.commit().await?;
    Ok(Ok(t))
}

/// Who a person is in matches and the audit trail: never the engine's own name, which marks
/// reversals the engine may undo.
pub fn actor_name(subject: &str) -> String {
    if subject == SYSTEM {
        format!("user:{subject}")
    } else {
        subject.to_owned()
    }
}
