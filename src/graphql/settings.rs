//! Owns how an organization steers reconciliation in the API: keyword ignore rules
//! (`ignoreRules`, `createIgnoreRule`, `deleteIgnoreRule`), the settings
//! (`reconciliationSettings`, `updateReconciliationSettings`, scope `admin`) and the audit trail
//! of what people did (`auditLog`), translated to and from `reconcile::settings`.

use super::errors::GqlResult;
use super::scalars::{Decimal, UserError, answer, connection, id_or_refuse, input_id, payloads};
use super::transactions::Direction;
use super::{ContextExt, RequireScope, ids};
use crate::domain::ids::IgnoreRuleId;
use crate::domain::money::{Currency, Money};
use crate::domain::scope::Scope;
use crate::reconcile::settings;
use crate::store::audit::AuditEntry as AuditRecord;
use crate::store::ignore::IgnoreRule as RuleRecord;
use crate::store::organizations::Organization;
use crate::store::page::{Cursor, PageArgs};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};

pub const RULE_TYPE: &str = "IgnoreRule";

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::remittance::ReferenceStyle")]
pub enum ReferenceStyle {
    /// Belgian structured communication, `+++ddd/dddd/ddddd+++`.
    Ogm,
    /// ISO 11649 creditor reference, `RFkk…`.
    Rf,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::status::AuditAction")]
pub enum AuditAction {
    TransactionMatched,
    TransactionUnmatched,
    SuggestionDismissed,
    TransactionIgnored,
    TransactionRestored,
    IgnoreRuleCreated,
    IgnoreRuleDeleted,
    SettingsChanged,
    WebhookEndpointCreated,
    WebhookEndpointUpdated,
    WebhookEndpointDeleted,
    WebhookSecretRotated,
    WebhookTestSent,
    WebhookRedelivered,
    WebhookRecovered,
}

/// How reconciliation treats this organization's invoices.
#[derive(SimpleObject)]
pub struct ReconciliationSettings {
    /// A difference up to this much between a payment and an invoice's open amount still pays
    /// it (the shortfall written off, an excess recorded), in the invoice's currency.
    match_tolerance: Decimal,
    /// The style of the references generated for sales invoices that have none.
    reference_style: ReferenceStyle,
}

impl From<Organization> for ReconciliationSettings {
    fn from(o: Organization) -> Self {
        let eur = Currency::parse("EUR").expect("EUR is a currency");
        Self {
            match_tolerance: Decimal(Money::new(o.match_tolerance_minor, eur).to_decimal()),
            reference_style: o.reference_style.into(),
        }
    }
}

/// A keyword that marks transactions as not invoice-related (bank fees, salaries, taxes).
#[derive(SimpleObject)]
pub struct IgnoreRule {
    pub id: ID,
    /// Looked for in the counterparty name, the remittance text and the description, ignoring
    /// case and spacing.
    keyword: String,
    /// Only money going this way; null for both.
    direction: Option<Direction>,
    /// What the transactions it sets aside show as `ignoredReason`.
    reason: Option<String>,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl From<RuleRecord> for IgnoreRule {
    fn from(r: RuleRecord) -> Self {
        Self {
            id: ID(ids::encode(RULE_TYPE, r.id.0)),
            keyword: r.keyword,
            direction: r.direction.map(Into::into),
            reason: r.reason,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

/// One thing a person did to reconciliation.
#[derive(SimpleObject)]
pub struct AuditEntry {
    pub id: ID,
    action: AuditAction,
    /// Who: the token's subject.
    actor: String,
    /// The global id of what was acted on (a transaction, match, rule or the organization).
    subject_id: ID,
    /// Why, when the person said.
    reason: Option<String>,
    /// What changed (amounts, counts, settings before and after).
    details: Json<serde_json::Value>,
    created_at: DateTime<Utc>,
}

impl From<AuditRecord> for AuditEntry {
    fn from(a: AuditRecord) -> Self {
        Self {
            id: ID(ids::encode("AuditEntry", a.id.0)),
            action: a.action.into(),
            actor: a.actor,
            subject_id: ID(ids::encode(&a.subject_type, a.subject_id)),
            reason: a.reason,
            details: Json(a.details),
            created_at: a.created_at,
        }
    }
}

#[derive(InputObject)]
pub struct CreateIgnoreRuleInput {
    /// 2 to 100 characters; case and spacing do not matter.
    pub keyword: String,
    /// Only money going this way; omit for both.
    pub direction: Option<Direction>,
    /// Shown as the ignored transactions' reason. Default: `keyword rule "<keyword>"`.
    pub reason: Option<String>,
}

#[derive(SimpleObject, Default)]
pub struct CreateIgnoreRulePayload {
    pub ignore_rule: Option<IgnoreRule>,
    /// How many transactions it set aside at once (past ones included).
    pub ignored_count: i32,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct DeleteIgnoreRuleInput {
    pub id: ID,
}

#[derive(SimpleObject, Default)]
pub struct DeleteIgnoreRulePayload {
    pub deleted_ignore_rule_id: Option<ID>,
    /// How many transactions it had set aside came back (those no other rule covers).
    pub restored_count: i32,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct UpdateReconciliationSettingsInput {
    /// 0 to 100.00, at most two decimals. Omit to keep.
    pub match_tolerance: Option<Decimal>,
    /// Omit to keep.
    pub reference_style: Option<ReferenceStyle>,
}

#[derive(SimpleObject, Default)]
pub struct UpdateReconciliationSettingsPayload {
    pub settings: Option<ReconciliationSettings>,
    pub user_errors: Vec<UserError>,
}

payloads!(
    CreateIgnoreRulePayload,
    DeleteIgnoreRulePayload,
    UpdateReconciliationSettingsPayload,
);

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[derive(Default)]
pub struct SettingsQuery;

#[Object]
impl SettingsQuery {
    /// The organization's tolerance and reference style.
    #[graphql(guard = "RequireScope(Scope::Read)")]
    async fn reconciliation_settings(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<ReconciliationSettings> {
        let org = ctx.principal()?.organization_id;
        Ok(ctx.store()?.organization(org).await?.into())
    }

    /// The organization's keyword ignore rules, oldest first.
    #[graphql(guard = "RequireScope(Scope::Read)")]
    async fn ignore_rules(&self, ctx: &Context<'_>) -> GqlResult<Vec<IgnoreRule>> {
        let org = ctx.principal()?.organization_id;
        let rules = ctx.store()?.ignore_rules(org).await?;
        Ok(rules.into_iter().map(IgnoreRule::from).collect())
    }

    /// What people did to reconciliation, newest first.
    #[graphql(
        guard = "RequireScope(Scope::Read)",
        complexity = "super::page_complexity(first, last, child_complexity)"
    )]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, AuditEntry>> {
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?;
        let org = ctx.principal()?.organization_id;
        let page = ctx.store()?.audit_entries(org, &args).await?;
        Ok(connection(
            page,
            |a| Cursor {
                date: None,
                id: a.id.0,
            },
            AuditEntry::from,
        ))
    }
}

#[derive(Default)]
pub struct SettingsMutation;

#[Object]
impl SettingsMutation {
    /// Creates a keyword rule and sets aside every transaction it covers, past ones included
    /// (except those a person restored). Refused: `REQUIRED`, `INVALID` (too short),
    /// `TOO_LONG`, `CONFLICT` (same keyword and direction, or 200 rules already).
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn create_ignore_rule(
        &self,
        ctx: &Context<'_>,
        input: CreateIgnoreRuleInput,
    ) -> GqlResult<CreateIgnoreRulePayload> {
        let p = ctx.principal()?;
        let done = settings::create_ignore_rule(
            ctx.store()?,
            p.organization_id,
            &p.actor(),
            &input.keyword,
            input.direction.map(Into::into),
            input.reason.as_deref(),
        )
        .await?;
        Ok(answer(done, |(rule, n)| CreateIgnoreRulePayload {
            ignore_rule: Some(rule.into()),
            ignored_count: count(n),
            user_errors: vec![],
        }))
    }

    /// Deletes a keyword rule; the transactions it set aside come back and are reconsidered.
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn delete_ignore_rule(
        &self,
        ctx: &Context<'_>,
        input: DeleteIgnoreRuleInput,
    ) -> GqlResult<DeleteIgnoreRulePayload> {
        let p = ctx.principal()?;
        let id = id_or_refuse!(input_id(
            RULE_TYPE,
            &input.id,
            "id",
            "ignore rule",
            IgnoreRuleId
        ));
        let done =
            settings::delete_ignore_rule(ctx.store()?, p.organization_id, &p.actor(), id).await?;
        Ok(answer(done, |(rule, n)| DeleteIgnoreRulePayload {
            deleted_ignore_rule_id: Some(ID(ids::encode(RULE_TYPE, rule.id.0))),
            restored_count: count(n),
            user_errors: vec![],
        }))
    }

    /// Sets the tolerance and/or the reference style. They apply to reconciliation runs that
    /// follow; matches already made stay.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn update_reconciliation_settings(
        &self,
        ctx: &Context<'_>,
        input: UpdateReconciliationSettingsInput,
    ) -> GqlResult<UpdateReconciliationSettingsPayload> {
        let p = ctx.principal()?;
        let done = settings::update(
            ctx.store()?,
            p.organization_id,
            &p.actor(),
            input.match_tolerance.map(|d| d.0),
            input.reference_style.map(Into::into),
        )
        .await?;
        Ok(answer(done, |org| UpdateReconciliationSettingsPayload {
            settings: Some(org.into()),
            user_errors: vec![],
        }))
    }
}
