//! Owns storing what a read of Ponto brought: normalizing Ponto's transaction JSON into our
//! rows, storing a page of them with their `bank_transaction.*` events, closing a read
//! (booked ones missing twice removed, pending ones no longer listed retired) — each step one
//! write transaction under the organization's lock, with reconciliation of what it changed.
//! Public so the reconciliation corpus runs through exactly this path.

use crate::domain::event::{Event, TransactionData};
use crate::domain::ids::{AccountId, OrganizationId};
use crate::domain::money::{Currency, Money};
use crate::domain::reference::StructuredReference;
use crate::domain::transaction::TransactionStatus;
use crate::error::AppError;
use crate::ponto::model::Transaction;
use crate::store::Store;
use crate::store::transactions::{Retired, Transaction as Row, TransactionUpsert, Upserted};
use chrono::NaiveDate;
use std::collections::HashSet;

/// What storing a page did.
#[derive(Debug, Default)]
pub struct Stored {
    /// The Ponto ids the page held.
    pub ponto_ids: Vec<String>,
    /// How many of them were new.
    pub inserted: u64,
}

/// Our row for a transaction Ponto sent.
fn to_upsert(t: Transaction) -> Result<TransactionUpsert, AppError> {
    let a = t.attributes;
    let currency = Currency::parse(&a.currency)
        .map_err(|e| AppError::UpstreamUnavailable(format!("Ponto sent {e}")))?;
    let amount = Money::from_decimal(a.amount, currency)
        .map_err(|e| AppError::UpstreamUnavailable(format!("Ponto sent an amount that {e}")))?;
    let structured = a.remittance_information_type.as_deref() == Some("structured");
    let reference = a
        .remittance_information
        .as_deref()
        .and_then(|r| StructuredReference::from_remittance(r, structured))
        .map(|r| r.normalized().to_owned());
    Ok(TransactionUpsert {
        ponto_id: t.id,
        status: if t.pending {
            TransactionStatus::Pending
        } else {
            TransactionStatus::Booked
        },
        amount,
        counterpart_name: a.counterpart_name,
        counterpart_reference: a.counterpart_reference,
        remittance_information: a.remittance_information,
        remittance_information_type: a.remittance_information_type,
        structured_reference: reference,
        description: a.description,
        execution_date: a.execution_date,
        value_date: a.value_date,
        bank_transaction_code: a.bank_transaction_code,
        proprietary_bank_transaction_code: a.proprietary_bank_transaction_code,
        end_to_end_id: a.end_to_end_id,
        purpose_code: a.purpose_code,
        mandate_id: a.mandate_id,
        creditor_id: a.creditor_id,
        additional_information: a.additional_information,
        card_reference: a.card_reference,
        raw_json: t.raw_json,
    })
}

/// Stores one page of an account's transactions and announces those it inserted or changed,
/// with what reconciling them did, in one transaction.
pub async fn store_page(
    store: &Store,
    org: OrganizationId,
    account: AccountId,
    page: Vec<Transaction>,
) -> Result<Stored, AppError> {
    let rows = page
        .into_iter()
        .map(to_upsert)
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<String> = rows.iter().map(|r| r.ponto_id.clone()).collect();
    let mut tx = store.begin_write().await?;
    // Reconciliation needs the organization's lock; taken before writing anything.
    tx.lock_organization(org).await?;
    let done = tx.upsert_transactions(org, account, rows.clone()).await?;
    let changed: Vec<_> = done
        .iter()
        .filter(|u| !matches!(u, Upserted::Unchanged(_)))
        .map(|u| u.id())
        .collect();
    // Keyword rules set new and changed transactions aside before the engine looks at them.
    tx.apply_ignore_rules(org, &changed).await?;
    crate::reconcile::transactions(&mut tx, org, &changed).await?;
    let data = |id: &crate::domain::ids::TransactionId, r: &TransactionUpsert| {
        let (status, name) = (r.status, r.counterpart_name.clone());
        transaction_data(*id, account, status, r.amount, name, r.value_date)
    };
    let mut inserted = 0;
    let events: Vec<(Event, Option<String>)> = rows
        .iter()
        .zip(&done)
        .filter_map(|(r, u)| match u {
            Upserted::Inserted(id) => {
                inserted += 1;
                Some((
                    Event::transaction_created(data(id, r)),
                    Some(format!(
                        "bank_transaction.created:{}:{}",
                        account, r.ponto_id
                    )),
                ))
            }
            // Only a real change is an update: a re-read of the same row is `Unchanged`.
            Upserted::Updated(id) => Some((Event::transaction_updated(data(id, r)), None)),
            Upserted::Unchanged(_) => None,
        })
        .collect();
    tx.append_fresh_events(org, events).await?;
    tx.commit().await?;
    Ok(Stored {
        ponto_ids: ids,
        inserted,
    })
}

/// Ends a read of an account's booked transactions: those in the window `reported` did not
/// hold are marked missing, and removed when already missing at the previous read.
pub async fn close_booked_read(
    store: &Store,
    org: OrganizationId,
    account: AccountId,
    window_start: NaiveDate,
    reported: &HashSet<String>,
) -> Result<(), AppError> {
    let mut tx = store.begin_write().await?;
    tx.lock_organization(org).await?;
    let removed = tx
        .mark_missing_removed(org, account, window_start, reported)
        .await?;
    let ids: Vec<_> = removed.iter().map(|t| t.id).collect();
    crate::reconcile::transactions(&mut tx, org, &ids).await?;
    tx.append_fresh_events(org, removed_events(&removed))
        .await?;
    tx.commit().await
}

/// Ends a read of an account's pending transactions: those Ponto no longer `listed` are
/// retired (superseded by their booked successor, or removed).
pub async fn close_pending_read(
    store: &Store,
    org: OrganizationId,
    account: AccountId,
    listed: &HashSet<String>,
) -> Result<(), AppError> {
    let mut tx = store.begin_write().await?;
    tx.lock_organization(org).await?;
    let retired = tx.retire_pending(org, account, listed).await?;
    // The booked successors too: a person's ignore or restore may have come over with them.
    let ids: Vec<_> = retired
        .iter()
        .flat_map(|(t, r)| match r {
            Retired::SupersededBy(b) => vec![t.id, *b],
            Retired::Removed => vec![t.id],
        })
        .collect();
    crate::reconcile::transactions(&mut tx, org, &ids).await?;
    let (removed, superseded): (Vec<_>, Vec<_>) = retired
        .into_iter()
        .partition(|(_, r)| *r == Retired::Removed);
    let removed: Vec<Row> = removed.into_iter().map(|(t, _)| t).collect();
    let mut events = removed_events(&removed);
    events.extend(superseded.iter().filter_map(|(t, r)| match r {
        Retired::SupersededBy(by) => Some(superseded_event(t, *by)),
        Retired::Removed => None,
    }));
    tx.append_fresh_events(org, events).await?;
    tx.commit().await
}

/// `bank_transaction.updated` for a pending transaction its booked successor `by` replaced.
/// Once: a row is retired only while it is not.
fn superseded_event(t: &Row, by: crate::domain::ids::TransactionId) -> (Event, Option<String>) {
    let name = t.counterpart_name.clone();
    let mut data = transaction_data(t.id, t.account_id, t.status, t.amount, name, t.value_date);
    data.superseded_by = Some(by.to_string());
    (Event::transaction_updated(data), None)
}

/// `bank_transaction.removed` for rows Ponto stopped reporting, once per removal.
fn removed_events(removed: &[Row]) -> Vec<(Event, Option<String>)> {
    removed
        .iter()
        .map(|t| {
            let name = t.counterpart_name.clone();
            let data = transaction_data(t.id, t.account_id, t.status, t.amount, name, t.value_date);
            // No dedupe key: rows are removed under the organization's lock and only while not
            // removed yet, so each removal is announced once — and a transaction the bank
            // brings back and removes again is news again.
            (Event::transaction_removed(data), None)
        })
        .collect()
}

/// The data of a `bank_transaction.*` event.
fn transaction_data(
    id: crate::domain::ids::TransactionId,
    account: crate::domain::ids::AccountId,
    status: TransactionStatus,
    amount: Money,
    counterpart_name: Option<String>,
    value_date: Option<chrono::NaiveDate>,
) -> TransactionData {
    TransactionData {
        transaction_id: id.to_string(),
        account_id: account.to_string(),
        status: status.as_str().to_owned(),
        amount: amount.to_string(),
        currency: amount.currency.code().to_owned(),
        counterpart_name,
        value_date,
        superseded_by: None,
    }
}
