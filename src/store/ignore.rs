//! Owns transactions set aside as not invoice-related: ignoring and restoring them, the
//! organization's keyword rules, and applying those rules — to new and changed transactions as
//! they are stored, to past ones when a rule is created — never to one a person restored.

use super::transactions::Transaction;
use super::{Store, WriteTx, delete_in, find_in, update_in};
use crate::domain::ids::{IgnoreRuleId, OrganizationId, TransactionId};
use crate::domain::ignore_rule::{Rule, direction_word, keyword_key, parse_direction};
use crate::domain::transaction::Direction;
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{bank_transaction, ignore_rule};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreRule {
    pub id: IgnoreRuleId,
    /// As the person typed it.
    pub keyword: String,
    /// Only money going this way; `None` for both.
    pub direction: Option<Direction>,
    /// What ignored transactions show as their reason.
    pub reason: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl IgnoreRule {
    pub fn rule(&self) -> Rule {
        Rule {
            key: keyword_key(&self.keyword),
            direction: self.direction,
        }
    }

    /// The reason a transaction it ignores carries.
    pub fn ignore_reason(&self) -> String {
        self.reason
            .clone()
            .unwrap_or_else(|| format!("keyword rule \"{}\"", self.keyword))
    }
}

impl TryFrom<ignore_rule::Model> for IgnoreRule {
    type Error = AppError;
    fn try_from(m: ignore_rule::Model) -> AppResult<Self> {
        let direction = parse_direction(&m.direction).ok_or_else(|| {
            AppError::internal(format!(
                "unknown rule direction {:?} in the database",
                m.direction
            ))
        })?;
        Ok(Self {
            id: m.id.into(),
            keyword: m.keyword,
            direction,
            reason: m.reason,
            created_by: m.created_by,
            created_at: m.created_at,
        })
    }
}

/// Who set a transaction aside, and why.
#[derive(Debug, Clone, Copy)]
pub struct Ignore<'a> {
    pub reason: Option<&'a str>,
    pub by: &'a str,
    pub rule: Option<IgnoreRuleId>,
}

/// The texts a rule looks in.
fn texts(t: &Transaction) -> [Option<&str>; 3] {
    [
        t.counterpart_name.as_deref(),
        t.remittance_information.as_deref(),
        t.description.as_deref(),
    ]
}

/// Whether a rule may set this transaction aside: live, not ignored, never restored by a person.
fn open_to_rules(t: &Transaction) -> bool {
    t.ignored_at.is_none()
        && t.restored_at.is_none()
        && t.removed_at.is_none()
        && t.superseded_by.is_none()
}

/// The organization's rules, oldest first (the first that covers a transaction names why).
async fn rules_of(conn: &impl ConnectionTrait, org: OrganizationId) -> AppResult<Vec<IgnoreRule>> {
    find_in::<ignore_rule::Entity>(org)
        .order_by_asc(ignore_rule::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(IgnoreRule::try_from)
        .collect()
}

impl WriteTx {
    /// Marks these transactions ignored (those not ignored already). A person ignoring one
    /// clears an earlier restore; a rule never reaches a restored one (`open_to_rules`).
    pub async fn ignore_transactions(
        &mut self,
        org: OrganizationId,
        ids: &[TransactionId],
        how: Ignore<'_>,
    ) -> AppResult<()> {
        use bank_transaction::Column as C;
        let now = self.now();
        for chunk in ids.chunks(500) {
            update_in::<bank_transaction::Entity>(org)
                .col_expr(C::IgnoredAt, Expr::value(Some(now)))
                .col_expr(C::IgnoredReason, Expr::value(how.reason.map(str::to_owned)))
                .col_expr(C::IgnoredBy, Expr::value(Some(how.by.to_owned())))
                .col_expr(C::IgnoreRuleId, Expr::value(how.rule.map(|r| r.0)))
                .col_expr(C::RestoredAt, Expr::value(None::<DateTime<Utc>>))
                .col_expr(C::RestoredBy, Expr::value(None::<String>))
                .col_expr(C::UpdatedAt, Expr::value(now))
                .filter(C::Id.is_in(chunk.iter().map(|i| i.0)))
                .filter(C::IgnoredAt.is_null())
                .exec(self.conn())
                .await?;
        }
        Ok(())
    }

    /// Takes these transactions back into reconciliation. `by` is the person who restored them
    /// (no rule ignores them again); `None` when the rule that ignored them was deleted.
    pub async fn restore_transactions(
        &mut self,
        org: OrganizationId,
        ids: &[TransactionId],
        by: Option<&str>,
    ) -> AppResult<()> {
        use bank_transaction::Column as C;
        let now = self.now();
        for chunk in ids.chunks(500) {
            update_in::<bank_transaction::Entity>(org)
                .col_expr(C::IgnoredAt, Expr::value(None::<DateTime<Utc>>))
                .col_expr(C::IgnoredReason, Expr::value(None::<String>))
                .col_expr(C::IgnoredBy, Expr::value(None::<String>))
                .col_expr(C::IgnoreRuleId, Expr::value(None::<uuid::Uuid>))
                .col_expr(C::RestoredAt, Expr::value(by.map(|_| now)))
                .col_expr(C::RestoredBy, Expr::value(by.map(str::to_owned)))
                .col_expr(C::UpdatedAt, Expr::value(now))
                .filter(C::Id.is_in(chunk.iter().map(|i| i.0)))
                .filter(C::IgnoredAt.is_not_null())
                .exec(self.conn())
                .await?;
        }
        Ok(())
    }

    /// Carries what a person decided about a pending transaction over to the booked one that
    /// supersedes it: restored (no rule sets it aside, whatever a rule did on its import) or
    /// ignored by hand. A person's own decision on the booked row wins. Whether it changed.
    pub async fn carry_person_flags(
        &mut self,
        org: OrganizationId,
        pending: &bank_transaction::Model,
        booked: TransactionId,
    ) -> AppResult<bool> {
        use bank_transaction::Column as C;
        let now = self.now();
        // Not decided by a person: not ignored, or ignored by a rule, and never restored.
        let undecided = sea_orm::Condition::all().add(C::RestoredAt.is_null()).add(
            sea_orm::Condition::any()
                .add(C::IgnoredAt.is_null())
                .add(C::IgnoreRuleId.is_not_null()),
        );
        let q = update_in::<bank_transaction::Entity>(org)
            .filter(C::Id.eq(booked.0))
            .filter(undecided)
            .col_expr(C::UpdatedAt, Expr::value(now));
        let q = if let Some(at) = pending.restored_at {
            q.col_expr(C::IgnoredAt, Expr::value(None::<DateTime<Utc>>))
                .col_expr(C::IgnoredReason, Expr::value(None::<String>))
                .col_expr(C::IgnoredBy, Expr::value(None::<String>))
                .col_expr(C::IgnoreRuleId, Expr::value(None::<uuid::Uuid>))
                .col_expr(C::RestoredAt, Expr::value(Some(at)))
                .col_expr(C::RestoredBy, Expr::value(pending.restored_by.clone()))
        } else if pending.ignored_at.is_some() && pending.ignore_rule_id.is_none() {
            q.col_expr(C::IgnoredAt, Expr::value(pending.ignored_at))
                .col_expr(
                    C::IgnoredReason,
                    Expr::value(pending.ignored_reason.clone()),
                )
                .col_expr(C::IgnoredBy, Expr::value(pending.ignored_by.clone()))
                .col_expr(C::IgnoreRuleId, Expr::value(None::<uuid::Uuid>))
        } else {
            return Ok(false);
        };
        Ok(q.exec(self.conn()).await?.rows_affected == 1)
    }

    pub async fn ignore_rules_in(&self, org: OrganizationId) -> AppResult<Vec<IgnoreRule>> {
        rules_of(self.conn(), org).await
    }

    /// Writes a rule, or returns `None` when the organization has one with the same keyword
    /// (compared as `keyword_key`) and direction.
    pub async fn insert_ignore_rule(
        &mut self,
        org: OrganizationId,
        keyword: &str,
        direction: Option<Direction>,
        reason: Option<&str>,
        by: &str,
    ) -> AppResult<Option<IgnoreRule>> {
        let key = keyword_key(keyword);
        let word = direction_word(direction);
        let exists = find_in::<ignore_rule::Entity>(org)
            .filter(ignore_rule::Column::KeywordKey.eq(key.as_str()))
            .filter(ignore_rule::Column::Direction.eq(word))
            .one(self.conn())
            .await?;
        if exists.is_some() {
            return Ok(None);
        }
        let row = ignore_rule::ActiveModel {
            id: Set(IgnoreRuleId::new().0),
            organization_id: Set(org.0),
            keyword: Set(keyword.trim().to_owned()),
            keyword_key: Set(key),
            direction: Set(word.to_owned()),
            reason: Set(reason.map(str::to_owned)),
            created_by: Set(by.to_owned()),
            created_at: Set(self.now()),
        }
        .insert(self.conn())
        .await?;
        IgnoreRule::try_from(row).map(Some)
    }

    /// Deletes a rule; `None` when the organization has no such rule.
    pub async fn delete_ignore_rule(
        &mut self,
        org: OrganizationId,
        id: IgnoreRuleId,
    ) -> AppResult<Option<IgnoreRule>> {
        let Some(row) = find_in::<ignore_rule::Entity>(org)
            .filter(ignore_rule::Column::Id.eq(id.0))
            .one(self.conn())
            .await?
        else {
            return Ok(None);
        };
        delete_in::<ignore_rule::Entity>(org)
            .filter(ignore_rule::Column::Id.eq(row.id))
            .exec(self.conn())
            .await?;
        IgnoreRule::try_from(row).map(Some)
    }

    /// The transactions a rule set aside.
    pub async fn ignored_by_rule(
        &self,
        org: OrganizationId,
        id: IgnoreRuleId,
    ) -> AppResult<Vec<TransactionId>> {
        let ids: Vec<uuid::Uuid> = find_in::<bank_transaction::Entity>(org)
            .select_only()
            .column(bank_transaction::Column::Id)
            .filter(bank_transaction::Column::IgnoreRuleId.eq(id.0))
            .into_tuple()
            .all(self.conn())
            .await?;
        Ok(ids.into_iter().map(TransactionId::from).collect())
    }

    /// The organization's transactions `rule` covers and may set aside. Reads every live,
    /// unignored row's texts once: creating a rule is rare, and a keyword inside free text has
    /// no index to use.
    pub async fn transactions_covered(
        &self,
        org: OrganizationId,
        rule: &Rule,
    ) -> AppResult<Vec<TransactionId>> {
        use bank_transaction::Column as C;
        type Row = (
            uuid::Uuid,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = find_in::<bank_transaction::Entity>(org)
            .select_only()
            .columns([
                C::Id,
                C::AmountMinor,
                C::CounterpartName,
                C::RemittanceInformation,
                C::Description,
            ])
            .filter(C::IgnoredAt.is_null())
            .filter(C::RestoredAt.is_null())
            .filter(C::RemovedAt.is_null())
            .filter(C::SupersededById.is_null())
            .into_tuple()
            .all(self.conn())
            .await?;
        Ok(rows
            .into_iter()
            .filter(|(_, amount, name, text, description)| {
                rule.covers(
                    *amount,
                    &[name.as_deref(), text.as_deref(), description.as_deref()],
                )
            })
            .map(|(id, ..)| TransactionId::from(id))
            .collect())
    }

    /// Applies the organization's rules to these (new or changed) transactions: each one a
    /// rule covers is ignored with the first such rule's reason. Returns those it ignored.
    pub async fn apply_ignore_rules(
        &mut self,
        org: OrganizationId,
        ids: &[TransactionId],
    ) -> AppResult<Vec<TransactionId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rules = rules_of(self.conn(), org).await?;
        if rules.is_empty() {
            return Ok(Vec::new());
        }
        let compiled: Vec<Rule> = rules.iter().map(IgnoreRule::rule).collect();
        let mut by_rule: BTreeMap<usize, Vec<TransactionId>> = BTreeMap::new();
        for t in self.transactions_in(org, ids).await? {
            if !open_to_rules(&t) {
                continue;
            }
            if let Some(i) = compiled
                .iter()
                .position(|r| r.covers(t.amount.minor, &texts(&t)))
            {
                by_rule.entry(i).or_default().push(t.id);
            }
        }
        let mut ignored = Vec::new();
        for (i, ids) in by_rule {
            let rule = &rules[i];
            let reason = rule.ignore_reason();
            let how = Ignore {
                reason: Some(&reason),
                by: &rule.created_by,
                rule: Some(rule.id),
            };
            self.ignore_transactions(org, &ids, how).await?;
            ignored.extend(ids);
        }
        Ok(ignored)
    }
}

impl Store {
    /// The organization's keyword rules, oldest first.
    pub async fn ignore_rules(&self, org: OrganizationId) -> AppResult<Vec<IgnoreRule>> {
        rules_of(self.conn(), org).await
    }
}
