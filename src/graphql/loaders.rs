//! Owns the per-request data loader. It is built for one organization, so batching can never
//! mix tenants, and each batch is one SQL statement.
//!
//! A list resolver also prefetches what its selection asks for (accounts, matches, their
//! invoices and transactions) in one statement per relation and feeds the loader's cache, so a
//! page of 100 rows costs the same number of statements as a page of 10 — deterministically,
//! not only when the loader's batching window happens to catch every key.

use super::errors::GqlError;
use crate::domain::ids::{AccountId, InvoiceId, OrganizationId, TransactionId};
use crate::error::AppResult;
use crate::store::Store;
use crate::store::accounts::Account;
use crate::store::invoices::Invoice;
use crate::store::matches::PaymentMatch;
use crate::store::suggestions::Suggestion;
use crate::store::transactions::Transaction;
use async_graphql::Lookahead;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use std::collections::{HashMap, HashSet};

pub struct Scoped {
    store: Store,
    org: OrganizationId,
}

/// Matches keyed by transaction, or by invoice.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchesOf {
    Transaction(TransactionId),
    Invoice(InvoiceId),
}

/// Undismissed suggestions keyed by transaction, or by invoice.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuggestionsOf {
    Transaction(TransactionId),
    Invoice(InvoiceId),
}

pub struct Loaders {
    pub loader: DataLoader<Scoped, HashMapCache>,
    store: Store,
    org: OrganizationId,
}

/// Whether a connection's selection asks for `path` under its nodes (`edges.node` or `nodes`).
fn selected(look: &Lookahead<'_>, path: &[&str]) -> bool {
    [look.field("edges").field("node"), look.field("nodes")]
        .into_iter()
        .any(|mut l| {
            for p in path {
                l = l.field(p);
            }
            l.exists()
        })
}

impl Loaders {
    pub fn new(store: &Store, org: OrganizationId) -> Self {
        let scoped = Scoped {
            store: store.clone(),
            org,
        };
        Self {
            loader: DataLoader::with_cache(scoped, tokio::spawn, HashMapCache::default()),
            store: store.clone(),
            org,
        }
    }

    /// For a WebSocket connection: it lives for hours and resolves each subscription event
    /// afresh, so nothing is cached between reads (batching still applies).
    pub fn uncached(store: &Store, org: OrganizationId) -> Self {
        let loaders = Self::new(store, org);
        loaders.loader.enable_all_cache(false);
        loaders
    }

    /// Prefetches what a page of transactions will resolve.
    pub async fn prefetch_transactions(
        &self,
        look: &Lookahead<'_>,
        txs: &[Transaction],
    ) -> AppResult<()> {
        if selected(look, &["account"]) {
            let ids: Vec<_> = txs
                .iter()
                .map(|t| t.account_id)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            self.loader
                .feed_many(self.store.accounts_by_ids(self.org, &ids).await?)
                .await;
        }
        // The unallocated amount is what the live matches leave.
        if selected(look, &["matches"]) || selected(look, &["unallocatedAmount"]) {
            let ids: Vec<_> = txs.iter().map(|t| t.id).collect();
            let matches = self.store.matches_by_transactions(self.org, &ids).await?;
            self.feed_matches(
                look,
                ids.into_iter().map(MatchesOf::Transaction),
                |k| match k {
                    MatchesOf::Transaction(t) => matches.get(t).cloned(),
                    MatchesOf::Invoice(_) => None,
                },
            )
            .await?;
        }
        if selected(look, &["suggestions"]) {
            let ids: Vec<_> = txs.iter().map(|t| t.id).collect();
            let found = self
                .store
                .suggestions_by_transactions(self.org, &ids)
                .await?;
            let fed = ids.into_iter().map(|t| {
                let s = found.get(&t).cloned().unwrap_or_default();
                (SuggestionsOf::Transaction(t), s)
            });
            self.loader.feed_many(fed).await;
        }
        Ok(())
    }

    /// Prefetches what a page of invoices will resolve.
    pub async fn prefetch_invoices(
        &self,
        look: &Lookahead<'_>,
        invoices: &[Invoice],
    ) -> AppResult<()> {
        if selected(look, &["matches"]) {
            let ids: Vec<_> = invoices.iter().map(|i| i.id).collect();
            let matches = self.store.matches_by_invoices(self.org, &ids).await?;
            self.feed_matches(look, ids.into_iter().map(MatchesOf::Invoice), |k| match k {
                MatchesOf::Invoice(i) => matches.get(i).cloned(),
                MatchesOf::Transaction(_) => None,
            })
            .await?;
        }
        if selected(look, &["suggestions"]) {
            let ids: Vec<_> = invoices.iter().map(|i| i.id).collect();
            let found = self.store.suggestions_by_invoices(self.org, &ids).await?;
            let fed = ids.into_iter().map(|i| {
                let s = found.get(&i).cloned().unwrap_or_default();
                (SuggestionsOf::Invoice(i), s)
            });
            self.loader.feed_many(fed).await;
        }
        Ok(())
    }

    async fn feed_matches(
        &self,
        look: &Lookahead<'_>,
        keys: impl Iterator<Item = MatchesOf>,
        get: impl Fn(&MatchesOf) -> Option<Vec<PaymentMatch>>,
    ) -> AppResult<()> {
        let fed: Vec<(MatchesOf, Vec<PaymentMatch>)> =
            keys.map(|k| (k, get(&k).unwrap_or_default())).collect();
        let all: Vec<&PaymentMatch> = fed.iter().flat_map(|(_, ms)| ms).collect();
        if selected(look, &["matches", "invoice"]) {
            let ids: Vec<_> = all
                .iter()
                .map(|m| m.invoice_id)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            self.loader
                .feed_many(self.store.invoices_by_ids(self.org, &ids).await?)
                .await;
        }
        if selected(look, &["matches", "transaction"]) {
            let ids: Vec<_> = all
                .iter()
                .map(|m| m.transaction_id)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            self.loader
                .feed_many(self.store.transactions_by_ids(self.org, &ids).await?)
                .await;
        }
        self.loader.feed_many(fed).await;
        Ok(())
    }
}

impl Loader<AccountId> for Scoped {
    type Value = Account;
    type Error = GqlError;
    async fn load(&self, keys: &[AccountId]) -> Result<HashMap<AccountId, Account>, GqlError> {
        Ok(self.store.accounts_by_ids(self.org, keys).await?)
    }
}

impl Loader<TransactionId> for Scoped {
    type Value = Transaction;
    type Error = GqlError;
    async fn load(
        &self,
        keys: &[TransactionId],
    ) -> Result<HashMap<TransactionId, Transaction>, GqlError> {
        Ok(self.store.transactions_by_ids(self.org, keys).await?)
    }
}

impl Loader<InvoiceId> for Scoped {
    type Value = Invoice;
    type Error = GqlError;
    async fn load(&self, keys: &[InvoiceId]) -> Result<HashMap<InvoiceId, Invoice>, GqlError> {
        Ok(self.store.invoices_by_ids(self.org, keys).await?)
    }
}

impl Loader<MatchesOf> for Scoped {
    type Value = Vec<PaymentMatch>;
    type Error = GqlError;
    async fn load(
        &self,
        keys: &[MatchesOf],
    ) -> Result<HashMap<MatchesOf, Vec<PaymentMatch>>, GqlError> {
        let (mut txs, mut invs) = (Vec::new(), Vec::new());
        for k in keys {
            match k {
                MatchesOf::Transaction(t) => txs.push(*t),
                MatchesOf::Invoice(i) => invs.push(*i),
            }
        }
        let mut out = HashMap::new();
        if !txs.is_empty() {
            let by_tx = self.store.matches_by_transactions(self.org, &txs).await?;
            out.extend(txs.into_iter().map(|t| {
                (
                    MatchesOf::Transaction(t),
                    by_tx.get(&t).cloned().unwrap_or_default(),
                )
            }));
        }
        if !invs.is_empty() {
            let by_inv = self.store.matches_by_invoices(self.org, &invs).await?;
            out.extend(invs.into_iter().map(|i| {
                (
                    MatchesOf::Invoice(i),
                    by_inv.get(&i).cloned().unwrap_or_default(),
                )
            }));
        }
        Ok(out)
    }
}

impl Loader<SuggestionsOf> for Scoped {
    type Value = Vec<Suggestion>;
    type Error = GqlError;
    async fn load(
        &self,
        keys: &[SuggestionsOf],
    ) -> Result<HashMap<SuggestionsOf, Vec<Suggestion>>, GqlError> {
        let (mut txs, mut invs) = (Vec::new(), Vec::new());
        for k in keys {
            match k {
                SuggestionsOf::Transaction(t) => txs.push(*t),
                SuggestionsOf::Invoice(i) => invs.push(*i),
            }
        }
        let mut out = HashMap::new();
        if !txs.is_empty() {
            let mut found = self
                .store
                .suggestions_by_transactions(self.org, &txs)
                .await?;
            out.extend(txs.into_iter().map(|t| {
                let s = found.remove(&t).unwrap_or_default();
                (SuggestionsOf::Transaction(t), s)
            }));
        }
        if !invs.is_empty() {
            let mut found = self.store.suggestions_by_invoices(self.org, &invs).await?;
            out.extend(invs.into_iter().map(|i| {
                let s = found.remove(&i).unwrap_or_default();
                (SuggestionsOf::Invoice(i), s)
            }));
        }
        Ok(out)
    }
}
