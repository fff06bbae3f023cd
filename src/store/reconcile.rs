//! Owns the rows a reconciliation run reads and writes inside one organization's lock: the
//! lock itself, the transactions and invoices a run considers, the matches and suggestions it
//! changes, and settling invoices from their live matches (paid amount, write-off, status,
//! paid-at, payment pending) with exactly one `invoice.*` event per changed invoice.

use super::invoices::Invoice;
use super::matches::{NewMatch, PaymentMatch};
use super::transactions::Transaction;
use super::{WriteTx, find_ids_in, find_in, update_in};
use crate::domain::event::{Event, InvoiceEvent, PaymentData};
use crate::domain::ids::{InvoiceId, MatchId, OrganizationId, TransactionId};
use crate::domain::invoice::InvoiceStatus;
use crate::domain::money::Money;
use crate::domain::status::SuggestionBasis;
use crate::domain::transaction::TransactionStatus;
use crate::error::{AppError, AppResult};
use chrono::Duration;
use entity::{bank_transaction, invoice, match_suggestion, organization, payment_match};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend,
    EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};
use std::collections::{BTreeSet, HashMap, HashSet};

/// What a transaction's text and counterparty can point at, for finding invoices by index.
#[derive(Debug, Clone, Default)]
pub struct CandidateKeys {
    /// Normalized structured references (valid ones and one-slip neighbours).
    pub references: Vec<String>,
    /// Case-folded stretches of text that could be invoice numbers.
    pub number_keys: Vec<String>,
    pub ibans: Vec<String>,
    /// Counterparty names, case-folded; only open invoices are found by name.
    pub names: Vec<String>,
    pub ids: Vec<InvoiceId>,
}

#[derive(Debug, Clone)]
pub struct NewSuggestion {
    pub transaction_id: TransactionId,
    pub invoice_id: InvoiceId,
    pub basis: SuggestionBasis,
    pub evidence: String,
    pub confidence: i32,
    /// The transaction is pending and would pay the invoice once booked.
    pub pending: bool,
}

/// What one run changes.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Live matches to reverse, with the reason recorded on each.
    pub reversals: Vec<(MatchId, InvoiceId, String)>,
    pub matches: Vec<NewMatch>,
    /// The transactions whose (undismissed) suggestions are replaced by `suggestions`.
    pub suggestions_of: Vec<TransactionId>,
    pub suggestions: Vec<NewSuggestion>,
    /// Invoices to settle afterwards.
    pub invoices: BTreeSet<InvoiceId>,
}

fn chunks<T: Clone>(items: &[T]) -> impl Iterator<Item = Vec<T>> + '_ {
    items.chunks(500).map(<[T]>::to_vec)
}

/// The advisory-lock key of an organization: its id folded to 64 bits. Two organizations
/// sharing a key only wait for each other.
fn lock_key(org: OrganizationId) -> i64 {
    let b = org.0.as_u128();
    (b as i64) ^ ((b >> 64) as i64)
}

impl WriteTx {
    /// Serializes reconciliation of `org` until this transaction ends: a PostgreSQL advisory
    /// transaction lock (SQLite's write transactions are already exclusive). Taken before the
    /// transaction writes anything, so two runs never wait on each other's rows.
    pub async fn lock_organization(&mut self, org: OrganizationId) -> AppResult<()> {
        if self.conn().get_database_backend() == DbBackend::Postgres {
            let key = lock_key(org);
            self.conn()
                .execute_raw(super::stmt(
                    DbBackend::Postgres,
                    "SELECT pg_advisory_xact_lock($1)",
                    [key.into()],
                ))
                .await?;
        }
        Ok(())
    }

    /// The organization's tolerance, in minor units.
    pub async fn match_tolerance(&self, org: OrganizationId) -> AppResult<i64> {
        Ok(organization::Entity::find_by_id(org.0)
            .one(self.conn())
            .await?
            .map_or(0, |o| Ord::max(o.match_tolerance_minor, 0)))
    }

    pub async fn transactions_in(
        &self,
        org: OrganizationId,
        ids: &[TransactionId],
    ) -> AppResult<Vec<Transaction>> {
        find_ids_in::<bank_transaction::Entity>(self.conn(), org, ids.iter().map(|i| i.0))
            .await?
            .into_iter()
            .map(Transaction::try_from)
            .collect()
    }

    /// The live matches of these transactions, and the (transaction, invoice) pairs a person
    /// reversed: those are never applied automatically again.
    pub async fn matches_of(
        &self,
        org: OrganizationId,
        ids: &[TransactionId],
    ) -> AppResult<(Vec<PaymentMatch>, HashSet<(TransactionId, InvoiceId)>)> {
        let (mut live, mut undone) = (Vec::new(), HashSet::new());
        for chunk in chunks(ids) {
            for m in find_in::<payment_match::Entity>(org)
                .filter(payment_match::Column::TransactionId.is_in(chunk.iter().map(|i| i.0)))
                .all(self.conn())
                .await?
            {
                let m = PaymentMatch::try_from(m)?;
                match m.reversed_by.as_deref() {
                    None => live.push(m),
                    Some(by) if by != crate::reconcile::SYSTEM => {
                        undone.insert((m.transaction_id, m.invoice_id));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok((live, undone))
    }

    /// Invoices any of `keys` points at.
    pub async fn candidate_invoices(
        &self,
        org: OrganizationId,
        keys: &CandidateKeys,
    ) -> AppResult<Vec<Invoice>> {
        use invoice::Column as C;
        let open = || {
            C::Status.is_in([InvoiceStatus::Open, InvoiceStatus::PartiallyPaid].map(|s| s.as_str()))
        };
        let mut conditions: Vec<Condition> = Vec::new();
        for chunk in chunks(&keys.references) {
            conditions.push(Condition::all().add(C::StructuredReference.is_in(chunk)));
        }
        for chunk in chunks(&keys.number_keys) {
            conditions.push(Condition::all().add(C::NumberKey.is_in(chunk)));
        }
        for chunk in chunks(&keys.ibans) {
            conditions.push(Condition::all().add(C::CounterpartyIban.is_in(chunk)));
        }
        for chunk in chunks(&keys.names) {
            conditions.push(Condition::all().add(open()).add(C::NameKey.is_in(chunk)));
        }
        let mut found: HashMap<InvoiceId, Invoice> = HashMap::new();
        for m in
            find_ids_in::<invoice::Entity>(self.conn(), org, keys.ids.iter().map(|i| i.0)).await?
        {
            let inv = Invoice::try_from(m)?;
            found.insert(inv.id, inv);
        }
        // One statement per kind of key, so each uses its own index.
        for c in conditions {
            for m in find_in::<invoice::Entity>(org)
                .filter(c)
                .all(self.conn())
                .await?
            {
                let inv = Invoice::try_from(m)?;
                found.insert(inv.id, inv);
            }
        }
        Ok(found.into_values().collect())
    }

    /// The transactions a run about these invoices must reconsider: those holding a live match
    /// to one of them, and live ones that could pay one — found by its reference, number or
    /// counterparty name (`transaction_key`) or IBAN, in the settling direction, dated from a
    /// year before its issue. Every lookup goes through an index.
    pub async fn transactions_for_invoices(
        &self,
        org: OrganizationId,
        ids: &[InvoiceId],
    ) -> AppResult<Vec<TransactionId>> {
        use bank_transaction::Column as C;
        let mut out: BTreeSet<TransactionId> = BTreeSet::new();
        for chunk in chunks(ids) {
            let matched: Vec<uuid::Uuid> = find_in::<payment_match::Entity>(org)
                .select_only()
                .column(payment_match::Column::TransactionId)
                .filter(payment_match::Column::InvoiceId.is_in(chunk.iter().map(|i| i.0)))
                .filter(payment_match::Column::ReversedAt.is_null())
                .into_tuple()
                .all(self.conn())
                .await?;
            out.extend(matched.into_iter().map(TransactionId::from));
        }
        let invoices = self
            .candidate_invoices(
                org,
                &CandidateKeys {
                    ids: ids.to_vec(),
                    ..Default::default()
                },
            )
            .await?;
        for inv in invoices.iter().filter(|i| i.status != InvoiceStatus::Void) {
            let keys = crate::domain::lookup::invoice_keys(
                inv.structured_reference.as_deref(),
                &inv.number,
                inv.counterparty_name.as_deref(),
            );
            let mut found = self.transactions_with_keys(org, &keys).await?;
            if let Some(iban) = &inv.counterparty_iban {
                let by_iban: Vec<uuid::Uuid> = find_in::<bank_transaction::Entity>(org)
                    .select_only()
                    .column(C::Id)
                    .filter(C::CounterpartIban.eq(iban.as_str()))
                    .into_tuple()
                    .all(self.conn())
                    .await?;
                found.extend(by_iban.into_iter().map(TransactionId::from));
            }
            let direction = if inv.kind.settlement_sign() > 0 {
                C::AmountMinor.gt(0)
            } else {
                C::AmountMinor.lt(0)
            };
            let found: Vec<TransactionId> = found.into_iter().collect();
            let mut live: Vec<(chrono::NaiveDate, uuid::Uuid)> = Vec::new();
            for chunk in chunks(&found) {
                // No ORDER BY here: it would tempt the planner into walking the organization's
                // date index instead of looking these ids up.
                let rows: Vec<(uuid::Uuid, chrono::NaiveDate)> =
                    find_in::<bank_transaction::Entity>(org)
                        .select_only()
                        .column(C::Id)
                        .column(C::SortDate)
                        .filter(C::Id.is_in(chunk.iter().map(|i| i.0)))
                        .filter(C::RemovedAt.is_null())
                        .filter(C::SupersededById.is_null())
                        .filter(C::SortDate.gte(inv.issue_date - Duration::days(365)))
                        .filter(direction.clone())
                        .into_tuple()
                        .all(self.conn())
                        .await?;
                live.extend(rows.into_iter().map(|(id, date)| (date, id)));
            }
            // A customer paying every month must not make each invoice reconsider years of
            // payments: the newest 500 are the ones that can be its.
            live.sort_unstable_by(|a, b| b.cmp(a));
            out.extend(
                live.into_iter()
                    .take(500)
                    .map(|(_, id)| TransactionId::from(id)),
            );
        }
        Ok(out.into_iter().collect())
    }

    /// Writes a run's changes, then settles every invoice they touch.
    pub async fn apply_changes(
        &mut self,
        org: OrganizationId,
        mut changes: Changes,
        by: &str,
    ) -> AppResult<()> {
        let now = self.now();
        let mut reversed: HashSet<InvoiceId> = HashSet::new();
        for (id, invoice, reason) in &changes.reversals {
            update_in::<payment_match::Entity>(org)
                .col_expr(payment_match::Column::ReversedAt, Some(now).into())
                .col_expr(
                    payment_match::Column::ReversedBy,
                    Some(by.to_owned()).into(),
                )
                .col_expr(
                    payment_match::Column::ReversalReason,
                    Some(reason.clone()).into(),
                )
                .filter(payment_match::Column::Id.eq(id.0))
                .filter(payment_match::Column::ReversedAt.is_null())
                .exec(self.conn())
                .await?;
            reversed.insert(*invoice);
            changes.invoices.insert(*invoice);
        }
        // Suggestions are recomputed; dismissed ones stay, and are not suggested again.
        let mut dismissed: HashSet<(TransactionId, InvoiceId)> = HashSet::new();
        for chunk in chunks(&changes.suggestions_of) {
            let old = find_in::<match_suggestion::Entity>(org)
                .filter(match_suggestion::Column::TransactionId.is_in(chunk.iter().map(|i| i.0)))
                .all(self.conn())
                .await?;
            let mut drop = Vec::new();
            for s in old {
                if s.dismissed_at.is_some() {
                    dismissed.insert((s.transaction_id.into(), s.invoice_id.into()));
                } else {
                    changes.invoices.insert(s.invoice_id.into());
                    drop.push(s.id);
                }
            }
            if !drop.is_empty() {
                match_suggestion::Entity::delete_many()
                    .filter(match_suggestion::Column::OrganizationId.eq(org.0))
                    .filter(match_suggestion::Column::Id.is_in(drop))
                    .exec(self.conn())
                    .await?;
            }
        }
        let matches: Vec<payment_match::ActiveModel> = changes
            .matches
            .into_iter()
            .map(|m| {
                changes.invoices.insert(m.invoice_id);
                m.into_row(org, now)
            })
            .collect();
        for chunk in chunks(&matches) {
            payment_match::Entity::insert_many(chunk)
                .exec_without_returning(self.conn())
                .await?;
        }
        let suggestions: Vec<match_suggestion::ActiveModel> = changes
            .suggestions
            .into_iter()
            .filter(|s| !dismissed.contains(&(s.transaction_id, s.invoice_id)))
            .map(|s| {
                changes.invoices.insert(s.invoice_id);
                match_suggestion::ActiveModel {
                    id: Set(uuid::Uuid::now_v7()),
                    organization_id: Set(org.0),
                    transaction_id: Set(s.transaction_id.0),
                    invoice_id: Set(s.invoice_id.0),
                    basis: Set(s.basis.as_str().to_owned()),
                    evidence: Set(s.evidence),
                    confidence: Set(s.confidence.clamp(0, 100)),
                    pending: Set(s.pending),
                    created_at: Set(now),
                    dismissed_at: Set(None),
                    dismissed_by: Set(None),
                }
            })
            .collect();
        for chunk in chunks(&suggestions) {
            match_suggestion::Entity::insert_many(chunk)
                .exec_without_returning(self.conn())
                .await?;
        }
        let ids: Vec<InvoiceId> = changes.invoices.into_iter().collect();
        self.settle_invoices(org, &ids, &reversed).await?;
        Ok(())
    }

    /// Sets each invoice's paid amount, write-off, status, paid-at and payment-pending flag from
    /// its live matches and pending suggestions, and announces a change with one event: only
    /// `invoice.payment_reversed` when one of its matches was reversed, else the new payment
    /// status, else `invoice.payment_pending`. Returns the invoices as settled, in `ids` order.
    pub(crate) async fn settle_invoices(
        &mut self,
        org: OrganizationId,
        ids: &[InvoiceId],
        reversed: &HashSet<InvoiceId>,
    ) -> AppResult<Vec<Invoice>> {
        let mut models: HashMap<InvoiceId, invoice::Model> = HashMap::new();
        let mut live: HashMap<InvoiceId, Vec<payment_match::Model>> = HashMap::new();
        let mut pending_by: HashMap<InvoiceId, Vec<uuid::Uuid>> = HashMap::new();
        for chunk in chunks(ids) {
            let uuids = || chunk.iter().map(|i| i.0);
            for m in find_ids_in::<invoice::Entity>(self.conn(), org, uuids()).await? {
                models.insert(m.id.into(), m);
            }
            for m in find_in::<payment_match::Entity>(org)
                .filter(payment_match::Column::InvoiceId.is_in(uuids()))
                .filter(payment_match::Column::ReversedAt.is_null())
                .all(self.conn())
                .await?
            {
                live.entry(m.invoice_id.into()).or_default().push(m);
            }
            for s in find_in::<match_suggestion::Entity>(org)
                .filter(match_suggestion::Column::InvoiceId.is_in(uuids()))
                .filter(match_suggestion::Column::Pending.eq(true))
                .filter(match_suggestion::Column::DismissedAt.is_null())
                .all(self.conn())
                .await?
            {
                pending_by
                    .entry(s.invoice_id.into())
                    .or_default()
                    .push(s.transaction_id);
            }
        }
        let mut tx_ids: Vec<TransactionId> = live
            .values()
            .flatten()
            .map(|m| m.transaction_id.into())
            .chain(pending_by.values().flatten().map(|t| (*t).into()))
            .collect();
        tx_ids.sort();
        tx_ids.dedup();
        let transactions: HashMap<TransactionId, Transaction> = self
            .transactions_in(org, &tx_ids)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let model = models
                .remove(id)
                .ok_or_else(|| AppError::not_found("invoice"))?;
            let before = Invoice::try_from(model.clone())?;
            let mut matches = live.remove(id).unwrap_or_default();
            matches.sort_by_key(|m| (m.created_at, m.id));
            let overflow = || AppError::internal("an invoice's payments overflowed 64 bits");
            let mut paid = 0i64;
            let mut written_off = 0i64;
            let mut payments = Vec::with_capacity(matches.len());
            let mut last_date = None;
            for m in &matches {
                paid = paid.checked_add(m.amount_minor).ok_or_else(overflow)?;
                written_off = written_off
                    .checked_add(m.written_off_minor)
                    .ok_or_else(overflow)?;
                let t = transactions.get(&m.transaction_id.into());
                let value_date = t.and_then(|t| t.value_date.or(t.execution_date));
                last_date = Ord::max(last_date, t.map(|t| t.value_date.unwrap_or(t.sort_date)));
                payments.push(PaymentData {
                    transaction_id: TransactionId::from(m.transaction_id).to_string(),
                    amount: Money::new(m.amount_minor, before.total.currency).to_string(),
                    value_date,
                });
            }
            let status = if before.status == InvoiceStatus::Void {
                InvoiceStatus::Void
            } else {
                InvoiceStatus::from_amounts(before.total.minor, paid, written_off)
            };
            let paid_at = matches!(status, InvoiceStatus::Paid | InvoiceStatus::Overpaid)
                .then_some(last_date)
                .flatten();
            let looks_pending = pending_by.get(id).is_some_and(|ts| {
                ts.iter().any(|t| {
                    transactions.get(&(*t).into()).is_some_and(|t| {
                        t.status == TransactionStatus::Pending
                            && t.removed_at.is_none()
                            && t.superseded_by.is_none()
                    })
                })
            });
            let payment_pending = looks_pending
                && matches!(status, InvoiceStatus::Open | InvoiceStatus::PartiallyPaid);
            let mut am = model.into_active_model();
            am.paid_minor.set_ne(paid);
            am.written_off_minor.set_ne(written_off);
            am.status.set_ne(status.as_str().to_owned());
            am.paid_at.set_ne(paid_at);
            am.payment_pending.set_ne(payment_pending);
            if !am.is_changed() && !reversed.contains(id) {
                out.push(before);
                continue;
            }
            am.updated_at = Set(self.now());
            let after = Invoice::try_from(am.update(self.conn()).await?)?;
            let event = if reversed.contains(id) {
                Some(InvoiceEvent::PaymentReversed)
            } else if after.status != before.status {
                super::invoices::payment_event(after.status)
            } else if after.payment_pending != before.payment_pending {
                Some(InvoiceEvent::PaymentPending)
            } else {
                None
            };
            if let Some(kind) = event {
                self.append_event(org, &Event::invoice(kind, after.event_data(payments)), None)
                    .await?;
            }
            out.push(after);
        }
        Ok(out)
    }
}
