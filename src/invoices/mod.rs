//! Owns invoices as a service, beside `connect` and `sync`: a batch upsert (per-item validation,
//! duplicates within the batch, one transaction, currency conflicts reported per item) and
//! voiding. Knows nothing of GraphQL: problems come back as `ItemProblem`s that the API turns
//! into user errors.

mod validate;

pub use validate::{InvoiceDraft, validate};

use crate::domain::ids::{InvoiceId, OrganizationId};
use crate::error::{AppError, AppResult};
use crate::store::Store;
use crate::store::invoices::{Invoice, UpsertOutcome};
use std::collections::HashSet;

/// The most invoices one call may carry.
pub const MAX_BATCH: usize = 500;

pub use crate::domain::input::Problem;

/// One problem of one item: its index in the batch, the input field at fault, a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemProblem {
    pub index: usize,
    pub field: &'static str,
    pub problem: Problem,
    pub message: String,
}

impl ItemProblem {
    pub(crate) fn new(
        index: usize,
        field: &'static str,
        problem: Problem,
        message: impl Into<String>,
    ) -> Self {
        Self {
            index,
            field,
            problem,
            message: message.into(),
        }
    }
}

/// What a batch upsert did: the invoices written (or found unchanged), in input order, and the
/// problems of the items it refused.
#[derive(Debug, Default)]
pub struct Upserted {
    pub invoices: Vec<Invoice>,
    pub problems: Vec<ItemProblem>,
}

/// How `void` finds its invoice.
#[derive(Debug, Clone)]
pub enum InvoiceRef {
    Id(InvoiceId),
    ExternalId(String),
}

/// The invoices service. Cheap to clone.
#[derive(Clone)]
pub struct Invoices {
    store: Store,
}

impl Invoices {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates or updates invoices by external id (idempotent). Valid items are written in one
    /// transaction; each invalid one is reported and nothing of it is written.
    #[tracing::instrument(skip_all, fields(organization = %org, items = drafts.len()))]
    pub async fn upsert(
        &self,
        org: OrganizationId,
        drafts: &[InvoiceDraft],
    ) -> AppResult<Upserted> {
        if drafts.len() > MAX_BATCH {
            return Err(AppError::BadUserInput {
                message: format!("at most {MAX_BATCH} invoices per call"),
                field: Some(vec!["invoices".into()]),
            });
        }
        let mut out = Upserted::default();
        let mut valid = Vec::new();
        let mut seen = HashSet::new();
        for (index, draft) in drafts.iter().enumerate() {
            match validate(index, draft) {
                Ok(u) if !seen.insert(u.external_id.clone()) => {
                    out.problems.push(ItemProblem::new(
                        index,
                        "externalId",
                        Problem::DuplicateInBatch,
                        "this externalId appears earlier in the batch",
                    ))
                }
                Ok(u) => valid.push((index, u)),
                Err(e) => out.problems.extend(e),
            }
        }
        if valid.is_empty() {
            return Ok(out);
        }
        let mut tx = self.store.begin_write().await?;
        tx.lock_organization(org).await?;
        let mut changed = Vec::new();
        for (index, u) in valid {
            match tx.upsert_invoice(org, u).await {
                Ok((invoice, outcome)) => {
                    if outcome != UpsertOutcome::Unchanged {
                        changed.push((out.invoices.len(), invoice.id));
                    }
                    out.invoices.push(invoice);
                }
                Err(AppError::Conflict(message)) => out.problems.push(ItemProblem::new(
                    index,
                    "currency",
                    Problem::Conflict,
                    message,
                )),
                Err(other) => return Err(other),
            }
        }
        let ids: Vec<InvoiceId> = changed.iter().map(|(_, id)| *id).collect();
        crate::reconcile::invoices(&mut tx, org, &ids).await?;
        // What reconciling did to them is part of the answer.
        let settled = tx.invoices_in(org, &ids).await?;
        for (slot, id) in changed {
            if let Some(inv) = settled.get(&id) {
                out.invoices[slot] = inv.clone();
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Marks an invoice VOID (its live matches are reversed, kept for the record); `None` when it is not the
    /// organization's.
    #[tracing::instrument(skip_all, fields(organization = %org))]
    pub async fn void(
        &self,
        org: OrganizationId,
        which: &InvoiceRef,
    ) -> AppResult<Option<Invoice>> {
        let id = match which {
            InvoiceRef::Id(id) => *id,
            InvoiceRef::ExternalId(ext) => match self.store.invoice_by_external_id(org, ext).await?
            {
                Some(inv) => inv.id,
                None => return Ok(None),
            },
        };
        let mut tx = self.store.begin_write().await?;
        tx.lock_organization(org).await?;
        match tx.void_invoice(org, id).await {
            Ok(_) => {
                // Its live matches are reversed and their money is free for other invoices.
                crate::reconcile::invoices(&mut tx, org, &[id]).await?;
                let invoice = tx.invoices_in(org, &[id]).await?.remove(&id);
                tx.commit().await?;
                Ok(invoice)
            }
            Err(AppError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
