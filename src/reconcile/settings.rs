//! Owns how an organization steers reconciliation: keyword rules that set transactions aside as
//! not invoice-related (applied to past transactions when created; deleting one takes back what
//! it set aside), and the tolerance and reference style. Each change is one audited write
//! transaction under the organization's lock.

use super::manual::{Outcome, check_reason};
use crate::domain::ids::{IgnoreRuleId, OrganizationId, TransactionId};
use crate::domain::ignore_rule::{KEYWORD_CHARS, MAX_RULES, direction_word, keyword_key};
use crate::domain::input::{Problem, Refusal};
use crate::domain::money::{Currency, Money};
use crate::domain::remittance::ReferenceStyle;
use crate::domain::status::AuditAction;
use crate::domain::transaction::Direction;
use crate::store::audit::Audit;
use crate::store::ignore::{Ignore, IgnoreRule};
use crate::store::organizations::Organization;
use crate::store::{Store, WriteTx};
use rust_decimal::Decimal;
use serde_json::json;

/// The largest tolerance an organization may set: beyond it, "within tolerance" stops meaning
/// a rounding or bank-fee difference.
pub const MAX_TOLERANCE: Decimal = Decimal::from_parts(10_000, 0, 0, false, 2);

async fn begin(store: &Store, org: OrganizationId) -> crate::error::AppResult<WriteTx> {
    let mut tx = store.begin_write().await?;
    tx.lock_organization(org).await?;
    Ok(tx)
}

/// Creates a keyword rule and sets aside every live transaction it covers, past ones included
/// (except those a person restored). Returns the rule and how many it set aside.
pub async fn create_ignore_rule(
    store: &Store,
    org: OrganizationId,
    by: &str,
    keyword: &str,
    direction: Option<Direction>,
    reason: Option<&str>,
) -> Outcome<(IgnoreRule, usize)> {
    // Counted as typed too (trimmed): the keyword is stored and shown that way.
    let chars = keyword_key(keyword)
        .chars()
        .count()
        .max(keyword.trim().chars().count());
    if chars == 0 {
        return Ok(Err(Refusal::new(
            "keyword",
            Problem::Required,
            "a keyword is required",
        )));
    }
    if !KEYWORD_CHARS.contains(&chars) {
        return Ok(Err(Refusal::new(
            "keyword",
            if chars > *KEYWORD_CHARS.end() {
                Problem::TooLong
            } else {
                Problem::Invalid
            },
            format!(
                "a keyword has {} to {} characters",
                KEYWORD_CHARS.start(),
                KEYWORD_CHARS.end()
            ),
        )));
    }
    if let Err(r) = check_reason(reason) {
        return Ok(Err(r));
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let mut tx = begin(store, org).await?;
    if tx.ignore_rules_in(org).await?.len() >= MAX_RULES {
        return Ok(Err(Refusal::new(
            "keyword",
            Problem::Conflict,
            format!("an organization keeps at most {MAX_RULES} rules"),
        )));
    }
    let Some(rule) = tx
        .insert_ignore_rule(org, keyword, direction, reason, by)
        .await?
    else {
        return Ok(Err(Refusal::new(
            "keyword",
            Problem::Conflict,
            "a rule with this keyword and direction exists",
        )));
    };
    let covered = tx.transactions_covered(org, &rule.rule()).await?;
    let why = rule.ignore_reason();
    let how = Ignore {
        reason: Some(&why),
        by,
        rule: Some(rule.id),
    };
    tx.ignore_transactions(org, &covered, how).await?;
    super::transactions(&mut tx, org, &covered).await?;
    tx.audit(
        org,
        Audit {
            action: AuditAction::IgnoreRuleCreated,
            actor: by,
            subject_type: "IgnoreRule",
            subject_id: rule.id.0,
            reason,
            details: json!({
                "keyword": rule.keyword,
                "direction": direction_word(direction),
                "ignoredTransactions": covered.len(),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Ok((rule, covered.len())))
}

/// Deletes a keyword rule. The transactions it set aside come back (unless another rule covers
/// them) and are reconsidered. Returns the rule and how many came back.
pub async fn delete_ignore_rule(
    store: &Store,
    org: OrganizationId,
    by: &str,
    id: IgnoreRuleId,
) -> Outcome<(IgnoreRule, usize)> {
    let mut tx = begin(store, org).await?;
    let ids: Vec<TransactionId> = tx.ignored_by_rule(org, id).await?;
    let Some(rule) = tx.delete_ignore_rule(org, id).await? else {
        return Ok(Err(Refusal::new(
            "id",
            Problem::NotFound,
            "ignore rule not found",
        )));
    };
    tx.restore_transactions(org, &ids, None).await?;
    let still = tx.apply_ignore_rules(org, &ids).await?;
    super::transactions(&mut tx, org, &ids).await?;
    let back = ids.len() - still.len();
    tx.audit(
        org,
        Audit {
            action: AuditAction::IgnoreRuleDeleted,
            actor: by,
            subject_type: "IgnoreRule",
            subject_id: rule.id.0,
            reason: None,
            details: json!({
                "keyword": rule.keyword,
                "direction": direction_word(rule.direction),
                "restoredTransactions": back,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Ok((rule, back)))
}

/// Changes the tolerance (an amount with at most two decimals, applied in hundredths of the
/// invoice's currency) and/or the reference style generated for new sales invoices. They apply
/// to the runs that follow; matches already made stay.
pub async fn update(
    store: &Store,
    org: OrganizationId,
    by: &str,
    tolerance: Option<Decimal>,
    style: Option<ReferenceStyle>,
) -> Outcome<Organization> {
    let tolerance_minor = match tolerance {
        None => None,
        Some(t) if t.is_sign_negative() && !t.is_zero() => {
            return Ok(Err(Refusal::new(
                "matchTolerance",
                Problem::OutOfRange,
                "the tolerance cannot be negative",
            )));
        }
        Some(t) if t > MAX_TOLERANCE => {
            return Ok(Err(Refusal::new(
                "matchTolerance",
                Problem::OutOfRange,
                format!("the tolerance is at most {MAX_TOLERANCE}"),
            )));
        }
        Some(t) => {
            let eur = Currency::parse("EUR").expect("EUR is a currency");
            match Money::from_client_decimal(t, eur) {
                Ok(m) => Some(m.minor),
                Err(_) => {
                    return Ok(Err(Refusal::new(
                        "matchTolerance",
                        Problem::TooManyDecimals,
                        "the tolerance has at most two decimals",
                    )));
                }
            }
        }
    };
    let mut tx = begin(store, org).await?;
    let before = tx.organization_in(org).await?;
    let new_tolerance = tolerance_minor.unwrap_or(before.match_tolerance_minor);
    let new_style = style.unwrap_or(before.reference_style);
    tx.set_reconciliation_settings(org, new_tolerance, new_style)
        .await?;
    let after = tx.organization_in(org).await?;
    tx.audit(
        org,
        Audit {
            action: AuditAction::SettingsChanged,
            actor: by,
            subject_type: "Organization",
            subject_id: org.0,
            reason: None,
            details: json!({
                "before": {
                    "matchToleranceMinor": before.match_tolerance_minor,
                    "referenceStyle": before.reference_style.as_str(),
                },
                "after": {
                    "matchToleranceMinor": after.match_tolerance_minor,
                    "referenceStyle": after.reference_style.as_str(),
                },
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(after))
}
