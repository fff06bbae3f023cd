//! Owns importing one account's transactions: booked ones page by page (≤ 100 rows, each page
//! committed with its `bank_transaction.created` events), the whole history the first time and
//! the read window afterwards (missing ones marked removed); then the pending ones, retiring
//! those Ponto no longer lists.

use super::Puller;
use crate::domain::event::{Event, TransactionData};
use crate::domain::ids::OrganizationId;
use crate::domain::money::{Currency, Money};
use crate::domain::reference::StructuredReference;
use crate::domain::transaction::TransactionStatus;
use crate::error::AppError;
use crate::ponto::PontoError;
use crate::ponto::model::Transaction;
use crate::secret::Secret;
use crate::store::accounts::Account;
use crate::store::transactions::{Retired, Transaction as Row, TransactionUpsert, Upserted};
use chrono::Duration;
use std::collections::HashSet;

pub(super) enum ImportError {
    Ponto(PontoError),
    App(AppError),
}

impl From<PontoError> for ImportError {
    fn from(e: PontoError) -> Self {
        ImportError::Ponto(e)
    }
}

impl From<AppError> for ImportError {
    fn from(e: AppError) -> Self {
        ImportError::App(e)
    }
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

impl Puller {
    /// Stores one page and announces the transactions it inserted or changed, in one
    /// transaction. Returns the Ponto ids it held.
    pub(super) async fn store_page(
        &self,
        org: OrganizationId,
        account: &Account,
        page: Vec<Transaction>,
    ) -> Result<Vec<String>, AppError> {
        let rows = page
            .into_iter()
            .map(to_upsert)
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<String> = rows.iter().map(|r| r.ponto_id.clone()).collect();
        let mut tx = self.store.begin_write().await?;
        // Reconciliation needs the organization's lock; taken before writing anything.
        tx.lock_organization(org).await?;
        let done = tx
            .upsert_transactions(org, account.id, rows.clone())
            .await?;
        let changed: Vec<_> = done
            .iter()
            .filter(|u| !matches!(u, Upserted::Unchanged(_)))
            .map(|u| u.id())
            .collect();
        crate::reconcile::transactions(&mut tx, org, &changed).await?;
        let data = |id: &crate::domain::ids::TransactionId, r: &TransactionUpsert| {
            let (status, name) = (r.status, r.counterpart_name.clone());
            transaction_data(*id, account.id, status, r.amount, name, r.value_date)
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
                            account.id, r.ponto_id
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
        self.metrics.transactions_imported.inc_by(inserted);
        Ok(ids)
    }

    /// Reads an account's booked transactions (the whole history the first time, the window
    /// afterwards) and then its pending ones, under the account's pull lease.
    pub(super) async fn import_account(
        &self,
        org: OrganizationId,
        token: &Secret,
        account: &Account,
    ) -> Result<(), ImportError> {
        let _lease = self.account_lease(org, account.id).await?;
        self.import_booked(org, token, account).await?;
        self.import_pending(org, token, account).await
    }

    async fn import_booked(
        &self,
        org: OrganizationId,
        token: &Secret,
        account: &Account,
    ) -> Result<(), ImportError> {
        let ponto = self.connect.ponto()?;
        // Until one import of the account completed, read its whole history.
        let first_import = account.last_synced_at.is_none();
        let window_start =
            self.store.clock().now().date_naive() - Duration::days(self.cfg.window_days);

        // Booked, newest first: everything the first time, the window afterwards. The next page
        // is fetched while the current one is stored, so Ponto's latency and our commit overlap.
        let mut reported = HashSet::new();
        let mut cursor: Option<String> = None;
        let mut page = ponto
            .transactions_page(token, &account.ponto_id, false, None)
            .await?;
        loop {
            let oldest = page
                .items
                .iter()
                .filter_map(|t| t.attributes.value_date.or(t.attributes.execution_date))
                .min();
            let covered = !first_import && oldest.is_some_and(|d| d < window_start);
            let next = page
                .next
                .take()
                .filter(|n| !covered && Some(n) != cursor.as_ref());
            let fetch_next = async {
                match &next {
                    Some(n) => Some(
                        ponto
                            .transactions_page(token, &account.ponto_id, false, Some(n))
                            .await,
                    ),
                    None => None,
                }
            };
            let (stored, fetched) =
                tokio::join!(self.store_page(org, account, page.items), fetch_next);
            reported.extend(stored?);
            match fetched {
                Some(p) => {
                    page = p?;
                    cursor = next;
                }
                None => break,
            }
        }
        let mut tx = self.store.begin_write().await?;
        tx.lock_organization(org).await?;
        let removed = tx
            .mark_missing_removed(org, account.id, window_start, &reported)
            .await?;
        let ids: Vec<_> = removed.iter().map(|t| t.id).collect();
        crate::reconcile::transactions(&mut tx, org, &ids).await?;
        tx.append_fresh_events(org, removed_events(&removed))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Pending: Ponto lists them all; the ones it stopped listing are retired (a delta cannot
    /// show an absence, so a webhook about pending transactions re-reads the account).
    async fn import_pending(
        &self,
        org: OrganizationId,
        token: &Secret,
        account: &Account,
    ) -> Result<(), ImportError> {
        let ponto = self.connect.ponto()?;
        let pending = ponto
            .all_transactions(token, &account.ponto_id, true)
            .await?;
        let mut listed = HashSet::new();
        for chunk in pending.chunks(100) {
            listed.extend(self.store_page(org, account, chunk.to_vec()).await?);
        }
        let mut tx = self.store.begin_write().await?;
        tx.lock_organization(org).await?;
        let retired = tx.retire_pending(org, account.id, &listed).await?;
        let ids: Vec<_> = retired.iter().map(|(t, _)| t.id).collect();
        crate::reconcile::transactions(&mut tx, org, &ids).await?;
        let removed: Vec<Row> = retired
            .into_iter()
            .filter(|(_, r)| *r == Retired::Removed)
            .map(|(t, _)| t)
            .collect();
        tx.append_fresh_events(org, removed_events(&removed))
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// `bank_transaction.removed` for rows Ponto stopped reporting, once per row.
fn removed_events(removed: &[Row]) -> Vec<(Event, Option<String>)> {
    removed
        .iter()
        .map(|t| {
            let name = t.counterpart_name.clone();
            let data = transaction_data(t.id, t.account_id, t.status, t.amount, name, t.value_date);
            let key = format!("bank_transaction.removed:{}:{}", t.account_id, t.ponto_id);
            (Event::transaction_removed(data), Some(key))
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
    }
}
