//! Owns reconciliation: deciding which bank transactions pay which invoices (`rules`), running
//! those rules over a batch against everything else the invoices received (`plan`), and the
//! entry points every change calls inside its own write transaction, under the organization's
//! lock — so a change and what it does to invoices commit together, or not at all.

pub mod manual;
pub mod plan;
pub mod rules;
pub mod settings;

pub use plan::SYSTEM;

use crate::domain::ids::{InvoiceId, OrganizationId, TransactionId};
use crate::error::{AppError, AppResult};
use crate::store::WriteTx;
use crate::store::reconcile::CandidateKeys;
use plan::Pointers;
use std::collections::HashMap;

impl From<rules::Overflow> for AppError {
    fn from(e: rules::Overflow) -> Self {
        AppError::internal(e)
    }
}

/// Reconsiders these transactions (created, changed by the bank, removed, superseded): their
/// automatic matches are decided afresh, their suggestions recomputed, and every invoice that
/// changes is settled and announced, in `tx`.
pub async fn transactions(
    tx: &mut WriteTx,
    org: OrganizationId,
    ids: &[TransactionId],
) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    tx.lock_organization(org).await?;
    let tolerance = tx.match_tolerance(org).await?;
    let transactions = tx.transactions_in(org, ids).await?;
    let (live, undone) = tx.matches_of(org, ids).await?;
    let pointers: HashMap<TransactionId, Pointers> = transactions
        .iter()
        .map(|t| (t.id, Pointers::of(t)))
        .collect();
    let mut keys = CandidateKeys {
        ids: live.iter().map(|m| m.invoice_id).collect(),
        ..Default::default()
    };
    for t in &transactions {
        pointers[&t.id].add_keys(t, &mut keys);
    }
    let mut invoices: HashMap<InvoiceId, _> = tx
        .candidate_invoices(org, &keys)
        .await?
        .into_iter()
        .map(|i| (i.id, i))
        .collect();
    // Names are a weak key without an index of their own: looked up only for transactions
    // nothing stronger points at.
    let names: Vec<String> = transactions
        .iter()
        .filter(|t| {
            !invoices
                .values()
                .any(|i| pointers[&t.id].hits_strongly(t, i))
        })
        .filter_map(|t| {
            t.counterpart_name
                .as_deref()
                .and_then(crate::domain::lookup::name_key)
        })
        .collect();
    if !names.is_empty() {
        let by_name = CandidateKeys {
            names,
            ..Default::default()
        };
        for i in tx.candidate_invoices(org, &by_name).await? {
            invoices.insert(i.id, i);
        }
    }
    let changes = plan::plan(
        &transactions,
        &pointers,
        &live,
        &undone,
        &invoices,
        tolerance,
    )?;
    tx.apply_changes(org, changes, SYSTEM).await
}

/// Reconsiders the transactions that hold or could make a payment to these invoices (upserted
/// or voided), so a payment that arrived before its invoice still matches.
pub async fn invoices(tx: &mut WriteTx, org: OrganizationId, ids: &[InvoiceId]) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    tx.lock_organization(org).await?;
    let affected = tx.transactions_for_invoices(org, ids).await?;
    transactions(tx, org, &affected).await
}
