//! Owns bank transactions as rows, one aggregate: filtered keyset listing for the API, lookups
//! by id for data loaders, the idempotent upsert by Ponto id used by the sync, and what happens
//! to rows Ponto stops reporting (`removal`).

mod keys;
mod removal;

pub use removal::Retired;

use crate::domain::ids::{AccountId, OrganizationId, TransactionId};
use crate::domain::money::Money;
use crate::domain::transaction::{Direction, TransactionStatus};
use crate::error::{AppError, AppResult};
use crate::store::page::{self, Page, PageArgs};
use crate::store::{Store, WriteTx};
use crate::store::{find_ids_in, find_in, owned_by};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{bank_transaction, payment_match};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, IntoActiveModel,
    QueryFilter,
};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub id: TransactionId,
    pub account_id: AccountId,
    pub ponto_id: String,
    pub status: TransactionStatus,
    pub amount: Money,
    pub counterpart_name: Option<String>,
    pub counterpart_reference: Option<String>,
    pub remittance_information: Option<String>,
    pub remittance_information_type: Option<String>,
    pub structured_reference: Option<String>,
    pub description: Option<String>,
    pub execution_date: Option<NaiveDate>,
    pub value_date: Option<NaiveDate>,
    pub sort_date: NaiveDate,
    pub bank_transaction_code: Option<String>,
    pub proprietary_bank_transaction_code: Option<String>,
    pub end_to_end_id: Option<String>,
    pub purpose_code: Option<String>,
    pub mandate_id: Option<String>,
    pub creditor_id: Option<String>,
    pub additional_information: Option<String>,
    pub card_reference: Option<String>,
    pub removed_at: Option<DateTime<Utc>>,
    pub superseded_by: Option<TransactionId>,
    /// `counterpart_reference` when it is a valid IBAN, normalized.
    pub counterpart_iban: Option<String>,
    pub ignored_at: Option<DateTime<Utc>>,
    pub ignored_reason: Option<String>,
    pub ignored_by: Option<String>,
    /// The keyword rule that ignored it (none when a person did).
    pub ignore_rule_id: Option<crate::domain::ids::IgnoreRuleId>,
    /// A person restored it: no keyword rule ignores it again.
    pub restored_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<bank_transaction::Model> for Transaction {
    type Error = AppError;
    fn try_from(m: bank_transaction::Model) -> AppResult<Self> {
        let currency = super::accounts::parse_currency(&m.currency)?;
        let status = TransactionStatus::parse(&m.status)
            .ok_or_else(|| AppError::internal(format!("stored transaction status {}", m.status)))?;
        Ok(Self {
            id: m.id.into(),
            account_id: m.account_id.into(),
            ponto_id: m.ponto_id,
            status,
            amount: Money::new(m.amount_minor, currency),
            counterpart_name: m.counterpart_name,
            counterpart_reference: m.counterpart_reference,
            remittance_information: m.remittance_information,
            remittance_information_type: m.remittance_information_type,
            structured_reference: m.structured_reference,
            description: m.description,
            execution_date: m.execution_date,
            value_date: m.value_date,
            sort_date: m.sort_date,
            bank_transaction_code: m.bank_transaction_code,
            proprietary_bank_transaction_code: m.proprietary_bank_transaction_code,
            end_to_end_id: m.end_to_end_id,
            purpose_code: m.purpose_code,
            mandate_id: m.mandate_id,
            creditor_id: m.creditor_id,
            additional_information: m.additional_information,
            card_reference: m.card_reference,
            removed_at: m.removed_at,
            superseded_by: m.superseded_by_id.map(Into::into),
            counterpart_iban: m.counterpart_iban,
            ignored_at: m.ignored_at,
            ignored_reason: m.ignored_reason,
            ignored_by: m.ignored_by,
            ignore_rule_id: m.ignore_rule_id.map(Into::into),
            restored_at: m.restored_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

/// Filters of the `transactions` listing; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct TransactionFilter {
    pub account_id: Option<AccountId>,
    /// Inclusive bounds on the booking date (value date, else execution date).
    pub date_from: Option<NaiveDate>,
    pub date_to: Option<NaiveDate>,
    /// Inclusive bounds on the absolute amount, in the transaction's currency.
    pub amount_min: Option<Decimal>,
    pub amount_max: Option<Decimal>,
    pub direction: Option<Direction>,
    pub status: Option<TransactionStatus>,
    /// Case-insensitive text in the counterparty name or the remittance information.
    pub text: Option<String>,
    pub matched: Option<bool>,
    /// Booked, not ignored, with an amount left to allocate (or the opposite).
    pub unallocated: Option<bool>,
    pub ignored: Option<bool>,
    /// Removed or superseded transactions are hidden unless asked for.
    pub include_removed: bool,
}

/// What Ponto says about a transaction. `raw_json` is the exact JSON received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionUpsert {
    pub ponto_id: String,
    pub status: TransactionStatus,
    pub amount: Money,
    pub counterpart_name: Option<String>,
    pub counterpart_reference: Option<String>,
    pub remittance_information: Option<String>,
    pub remittance_information_type: Option<String>,
    pub structured_reference: Option<String>,
    pub description: Option<String>,
    pub execution_date: Option<NaiveDate>,
    pub value_date: Option<NaiveDate>,
    pub bank_transaction_code: Option<String>,
    pub proprietary_bank_transaction_code: Option<String>,
    pub end_to_end_id: Option<String>,
    pub purpose_code: Option<String>,
    pub mandate_id: Option<String>,
    pub creditor_id: Option<String>,
    pub additional_information: Option<String>,
    pub card_reference: Option<String>,
    pub raw_json: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Inserted(TransactionId),
    Updated(TransactionId),
    Unchanged(TransactionId),
}

impl Upserted {
    pub fn id(self) -> TransactionId {
        match self {
            Self::Inserted(id) | Self::Updated(id) | Self::Unchanged(id) => id,
        }
    }
}

/// `|amount| >= min` (or `<= max`) for every currency exponent, so one decimal bound compares
/// correctly with EUR cents, JPY yen and KWD fils alike.
fn amount_bound(bound: Decimal, lower: bool) -> Condition {
    let col = || Func::abs(Expr::col(bank_transaction::Column::AmountMinor));
    let mut any = Condition::any();
    let groups = crate::domain::money::currencies_by_exponent();
    let non_two: Vec<&str> = groups
        .iter()
        .filter(|(e, _)| *e != 2)
        .flat_map(|(_, c)| c.iter().copied())
        .collect();
    for (exponent, codes) in groups {
        // The API bounds `bound` (`MAX_AMOUNT`); beyond what minor units hold it saturates, which
        // compares the same way.
        let minor = bound
            .abs()
            .checked_mul(Decimal::from(10i64.pow(u32::from(exponent))))
            // A bound with more decimals than the currency has rounds inward.
            .map(|scaled| if lower { scaled.ceil() } else { scaled.floor() })
            .and_then(|m| m.to_i64())
            .unwrap_or(i64::MAX);
        let cmp = if lower {
            col().gte(minor)
        } else {
            col().lte(minor)
        };
        let currency = if exponent == 2 {
            bank_transaction::Column::Currency.is_not_in(non_two.iter().copied())
        } else {
            bank_transaction::Column::Currency.is_in(codes.iter().copied())
        };
        any = any.add(Condition::all().add(currency).add(cmp));
    }
    any
}

fn live_match_exists() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .expr(Expr::val(1))
        .from(payment_match::Entity)
        .and_where(
            Expr::col((payment_match::Entity, payment_match::Column::TransactionId))
                .equals((bank_transaction::Entity, bank_transaction::Column::Id)),
        )
        .and_where(Expr::col((payment_match::Entity, payment_match::Column::ReversedAt)).is_null())
        .to_owned()
}

/// The transaction's absolute amount exceeds what its live matches took. The subquery names
/// the organization so it seeks the match table's `(organization_id, transaction_id)` index.
const UNALLOCATED_LEFT: &str = "ABS(bank_transaction.amount_minor) > (SELECT COALESCE(SUM(pm.amount_minor), 0) \
     FROM payment_match pm WHERE pm.organization_id = bank_transaction.organization_id \
     AND pm.transaction_id = bank_transaction.id AND pm.reversed_at IS NULL)";

fn filter_condition(org: OrganizationId, f: &TransactionFilter) -> Condition {
    use bank_transaction::Column as C;
    let mut c = Condition::all().add(owned_by::<bank_transaction::Entity>(org));
    if let Some(a) = f.account_id {
        c = c.add(C::AccountId.eq(a.0));
    }
    if let Some(d) = f.date_from {
        c = c.add(C::SortDate.gte(d));
    }
    if let Some(d) = f.date_to {
        c = c.add(C::SortDate.lte(d));
    }
    if let Some(min) = f.amount_min {
        c = c.add(amount_bound(min, true));
    }
    if let Some(max) = f.amount_max {
        c = c.add(amount_bound(max, false));
    }
    match f.direction {
        Some(Direction::Incoming) => c = c.add(C::AmountMinor.gt(0)),
        Some(Direction::Outgoing) => c = c.add(C::AmountMinor.lt(0)),
        None => {}
    }
    if let Some(s) = f.status {
        c = c.add(C::Status.eq(s.as_str()));
    }
    if let Some(text) = f.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = || LikeExpr::new(format!("%{escaped}%")).escape('\\');
        c = c.add(
            Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(C::CounterpartName))).like(pattern()))
                .add(Expr::expr(Func::lower(Expr::col(C::RemittanceInformation))).like(pattern())),
        );
    }
    match f.matched {
        Some(true) => c = c.add(Expr::exists(live_match_exists())),
        Some(false) => c = c.add(Expr::not_exists(live_match_exists())),
        None => {}
    }
    if let Some(wanted) = f.unallocated {
        let open = Condition::all()
            .add(C::Status.eq(TransactionStatus::Booked.as_str()))
            .add(C::IgnoredAt.is_null())
            .add(Expr::cust(UNALLOCATED_LEFT));
        c = c.add(if wanted { open } else { open.not() });
    }
    match f.ignored {
        Some(true) => c = c.add(C::IgnoredAt.is_not_null()),
        Some(false) => c = c.add(C::IgnoredAt.is_null()),
        None => {}
    }
    if !f.include_removed {
        c = c
            .add(C::RemovedAt.is_null())
            .add(C::SupersededById.is_null());
    }
    c
}

impl Store {
    /// One page of the organization's transactions, newest booking date first.
    pub async fn transactions(
        &self,
        org: OrganizationId,
        filter: &TransactionFilter,
        args: &PageArgs,
    ) -> AppResult<Page<Transaction>> {
        use bank_transaction::Column as C;
        // `filter_condition` starts from the organization (`owned_by`).
        let select = bank_transaction::Entity::find().filter(filter_condition(org, filter));
        let page = page::fetch(self.conn(), select, Some(C::SortDate), C::Id, args).await?;
        page.try_map(Transaction::try_from)
    }

    pub async fn transaction(
        &self,
        org: OrganizationId,
        id: TransactionId,
    ) -> AppResult<Option<Transaction>> {
        find_in::<bank_transaction::Entity>(org)
            .filter(bank_transaction::Column::Id.eq(id.0))
            .one(self.conn())
            .await?
            .map(Transaction::try_from)
            .transpose()
    }

    /// Transactions by id, in one statement (data loader).
    pub async fn transactions_by_ids(
        &self,
        org: OrganizationId,
        ids: &[TransactionId],
    ) -> AppResult<HashMap<TransactionId, Transaction>> {
        find_ids_in::<bank_transaction::Entity>(self.conn(), org, ids.iter().map(|i| i.0))
            .await?
            .into_iter()
            .map(|m| Transaction::try_from(m).map(|t| (t.id, t)))
            .collect()
    }
}

/// Writes Ponto's view of a transaction into a row; equal values stay untouched, so an
/// unchanged transaction is not written. `now` dates a transaction that has no date yet.
fn apply(
    am: &mut bank_transaction::ActiveModel,
    t: TransactionUpsert,
    now: DateTime<Utc>,
    is_new: bool,
) {
    let iban = normalized_iban(t.counterpart_reference.as_deref());
    let sort_date = t
        .value_date
        .or(t.execution_date)
        .unwrap_or_else(|| now.date_naive());
    am.ponto_id.set_ne(t.ponto_id);
    am.status.set_ne(t.status.as_str().to_owned());
    am.amount_minor.set_ne(t.amount.minor);
    am.currency.set_ne(t.amount.currency.code().to_owned());
    am.counterpart_name.set_ne(t.counterpart_name);
    am.counterpart_reference.set_ne(t.counterpart_reference);
    am.remittance_information.set_ne(t.remittance_information);
    am.remittance_information_type
        .set_ne(t.remittance_information_type);
    am.structured_reference.set_ne(t.structured_reference);
    am.description.set_ne(t.description);
    am.execution_date.set_ne(t.execution_date);
    am.value_date.set_ne(t.value_date);
    if is_new || t.value_date.is_some() || t.execution_date.is_some() {
        am.sort_date.set_ne(sort_date);
    }
    am.bank_transaction_code.set_ne(t.bank_transaction_code);
    am.proprietary_bank_transaction_code
        .set_ne(t.proprietary_bank_transaction_code);
    am.end_to_end_id.set_ne(t.end_to_end_id);
    am.purpose_code.set_ne(t.purpose_code);
    am.mandate_id.set_ne(t.mandate_id);
    am.creditor_id.set_ne(t.creditor_id);
    am.additional_information.set_ne(t.additional_information);
    am.card_reference.set_ne(t.card_reference);
    am.raw_json.set_ne(t.raw_json);
    am.counterpart_iban.set_ne(iban);
    // A transaction Ponto reports again is no longer removed.
    am.removed_at.set_ne(None);
}

/// The counterparty account when it is a valid IBAN, normalized: what invoices are found by.
fn normalized_iban(counterpart: Option<&str>) -> Option<String> {
    counterpart
        .and_then(|c| crate::domain::iban::Iban::parse(c).ok())
        .map(|i| i.as_str().to_owned())
}

/// What reconciliation finds a transaction by (its `transaction_key` rows).
fn lookup_keys(t: &TransactionUpsert) -> Vec<String> {
    let text = Transaction::text_of(
        t.remittance_information.as_deref(),
        t.description.as_deref(),
    );
    crate::domain::lookup::transaction_keys(&text, t.counterpart_name.as_deref())
}

impl Transaction {
    /// The free text reconciliation reads: the remittance information, then the description.
    pub fn text_of(remittance: Option<&str>, description: Option<&str>) -> String {
        [remittance, description]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn text(&self) -> String {
        Self::text_of(
            self.remittance_information.as_deref(),
            self.description.as_deref(),
        )
    }
}

fn new_row(
    org: OrganizationId,
    account: AccountId,
    now: DateTime<Utc>,
) -> bank_transaction::ActiveModel {
    bank_transaction::ActiveModel {
        id: Set(TransactionId::new().0),
        organization_id: Set(org.0),
        account_id: Set(account.0),
        removed_at: Set(None),
        missing_since: Set(None),
        superseded_by_id: Set(None),
        ignored_at: Set(None),
        ignored_reason: Set(None),
        ignored_by: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

impl WriteTx {
    /// Inserts or updates one transaction of `account` by its Ponto id.
    pub async fn upsert_transaction(
        &mut self,
        org: OrganizationId,
        account: AccountId,
        t: TransactionUpsert,
    ) -> AppResult<Upserted> {
        Ok(self
            .upsert_transactions(org, account, vec![t])
            .await?
            .remove(0))
    }

    /// Inserts or updates a page of transactions of `account` by Ponto id, in input order: one
    /// lookup, one insert for the new ones, an update per changed one, nothing for the rest.
    pub async fn upsert_transactions(
        &mut self,
        org: OrganizationId,
        account: AccountId,
        rows: Vec<TransactionUpsert>,
    ) -> AppResult<Vec<Upserted>> {
        let now = self.now();
        let ids: Vec<String> = rows.iter().map(|r| r.ponto_id.clone()).collect();
        let mut existing: HashMap<String, bank_transaction::Model> = HashMap::new();
        for chunk in ids.chunks(500) {
            for m in find_in::<bank_transaction::Entity>(org)
                .filter(bank_transaction::Column::AccountId.eq(account.0))
                .filter(bank_transaction::Column::PontoId.is_in(chunk.iter().cloned()))
                .all(self.conn())
                .await?
            {
                existing.insert(m.ponto_id.clone(), m);
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        let mut inserts = Vec::new();
        // Lookup keys of the rows written, replaced wholesale for changed ones.
        let (mut keys, mut rekeyed) = (Vec::new(), Vec::new());
        for t in rows {
            let lookup = lookup_keys(&t);
            match existing.remove(&t.ponto_id) {
                Some(m) => {
                    let id: TransactionId = m.id.into();
                    let mut am = m.into_active_model();
                    apply(&mut am, t, now, false);
                    if am.is_changed() {
                        am.updated_at = Set(now);
                        am.update(self.conn()).await?;
                        out.push(Upserted::Updated(id));
                        rekeyed.push(id.0);
                        keys.extend(lookup.into_iter().map(|k| (id, k)));
                    } else {
                        out.push(Upserted::Unchanged(id));
                    }
                }
                None => {
                    let mut am = new_row(org, account, now);
                    apply(&mut am, t, now, true);
                    if let sea_orm::ActiveValue::Set(id) = am.id {
                        out.push(Upserted::Inserted(id.into()));
                        keys.extend(lookup.into_iter().map(|k| (id.into(), k)));
                    }
                    inserts.push(am);
                }
            }
        }
        for chunk in inserts.chunks(200) {
            bank_transaction::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(self.conn())
                .await?;
        }
        self.write_lookup_keys(org, &rekeyed, keys).await?;
        Ok(out)
    }
}
