//! Owns the simulator's control API under `/_sandbox` — the stable contract tests, `demo` and
//! integrators use to play "the real world": create organizations, accounts and transactions,
//! revoke an integration, inject faults, read counters. Documented in the README.

use super::SandboxState;
use super::control_tx::{bad, missing};
use super::state::{Account, Fault, Org};
use crate::wire::exact_decimal_opt;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rand::Rng;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// A random, valid Belgian IBAN.
pub fn random_iban() -> String {
    let account: u64 = rand::rng().random_range(0..1_000_000_000_000);
    let bban = format!("{account:012}");
    let check = 98 - crate::wire::mod97(&format!("{bban}111400"));
    format!("BE{check:02}{bban}")
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct NewOrg {
    name: Option<String>,
}

pub async fn create_org(State(s): State<SandboxState>, body: Option<Json<NewOrg>>) -> Response {
    let name = body
        .and_then(|b| b.0.name)
        .unwrap_or_else(|| "Sandbox Company".into());
    let id = Uuid::new_v4();
    let mut world = s.world.lock().expect("sandbox state");
    world.orgs.insert(
        id,
        Org {
            id,
            name: name.clone(),
            blocked: false,
            integration: None,
        },
    );
    (
        StatusCode::CREATED,
        Json(json!({"id": id.to_string(), "name": name})),
    )
        .into_response()
}

pub async fn get_org(State(s): State<SandboxState>, Path(org): Path<Uuid>) -> Response {
    let world = s.world.lock().expect("sandbox state");
    let Some(o) = world.orgs.get(&org) else {
        return missing("organization");
    };
    let accounts: Vec<String> = world
        .org_accounts(org)
        .iter()
        .map(|a| a.id.to_string())
        .collect();
    let integration = o.integration.as_ref().map(|i| {
        json!({"id": i.id.to_string(), "revoked": i.revoked, "accounts": i.accounts.iter().map(Uuid::to_string).collect::<Vec<_>>()})
    });
    Json(json!({"id": o.id.to_string(), "name": o.name, "blocked": o.blocked, "accounts": accounts, "integration": integration})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAccount {
    reference: Option<String>,
    #[serde(default = "eur")]
    currency: String,
    description: Option<String>,
    holder_name: Option<String>,
    product: Option<String>,
    subtype: Option<String>,
    #[serde(default, deserialize_with = "exact_decimal_opt")]
    current_balance: Option<Decimal>,
    #[serde(default, deserialize_with = "exact_decimal_opt")]
    available_balance: Option<Decimal>,
    authorized_at: Option<DateTime<Utc>>,
    authorization_expiration_expected_at: Option<DateTime<Utc>>,
}

fn eur() -> String {
    "EUR".into()
}

pub async fn create_account(
    State(s): State<SandboxState>,
    Path(org): Path<Uuid>,
    Json(a): Json<NewAccount>,
) -> Response {
    if a.currency.len() != 3 || !a.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return bad("currency must be an ISO-4217 code");
    }
    let mut world = s.world.lock().expect("sandbox state");
    if !world.orgs.contains_key(&org) {
        return missing("organization");
    }
    let now = world.now();
    let id = Uuid::new_v4();
    let authorized_at = a.authorized_at.unwrap_or(now);
    let current = a.current_balance.unwrap_or_default();
    let account = Account {
        id,
        org,
        reference: a.reference.unwrap_or_else(random_iban),
        reference_type: "IBAN".into(),
        currency: a.currency,
        description: a.description.unwrap_or_else(|| "Current account".into()),
        holder_name: a.holder_name,
        product: a.product,
        subtype: a.subtype.unwrap_or_else(|| "checking".into()),
        current_balance: current,
        available_balance: a.available_balance.unwrap_or(current),
        bank_current_balance: current,
        bank_available_balance: a.available_balance.unwrap_or(current),
        balance_changed_at: now,
        balance_reference_date: now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc(),
        authorized_at,
        authorization_expires_at: a
            .authorization_expiration_expected_at
            .unwrap_or(authorized_at + chrono::Duration::days(180)),
        authorization_invalid: false,
        internal_reference: Uuid::new_v4(),
        created_at: now,
        synchronized_at: now,
        latest_sync: {
            let mut first = world.new_sync(id, "accountDetails", None, false, now);
            first.status = "success".into();
            first
        },
    };
    let body =
        json!({"id": id.to_string(), "reference": account.reference, "currency": account.currency});
    world.accounts.insert(id, account);
    world.txs.entry(id).or_default();
    (StatusCode::CREATED, Json(body)).into_response()
}

pub async fn revoke_integration(State(s): State<SandboxState>, Path(org): Path<Uuid>) -> Response {
    let mut world = s.world.lock().expect("sandbox state");
    match world.revoke_integration(org) {
        Some(id) => Json(json!({"integration": id.to_string(), "revoked": true})).into_response(),
        None => missing("integration"),
    }
}

/// Queues faults: the next matching Ponto API requests answer with them.
pub async fn add_fault(State(s): State<SandboxState>, Json(mut f): Json<Fault>) -> Response {
    if f.count == 0 || !(100..600).contains(&f.status) {
        return bad("count must be ≥ 1 and status a valid HTTP status");
    }
    if let Some(ms) = f.for_ms {
        if ms == 0 || ms > 3_600_000 {
            return bad("forMs is 1 to 3,600,000");
        }
        f.until = Some(std::time::Instant::now() + std::time::Duration::from_millis(ms));
    }
    s.world.lock().expect("sandbox state").faults.push_back(f);
    StatusCode::NO_CONTENT.into_response()
}

pub async fn clear_faults(State(s): State<SandboxState>) -> Response {
    s.world.lock().expect("sandbox state").faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

pub async fn stats(State(s): State<SandboxState>) -> Response {
    let stats = s.world.lock().expect("sandbox state").stats.clone();
    Json(stats).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountChange {
    authorized_at: Option<DateTime<Utc>>,
    authorization_expiration_expected_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "exact_decimal_opt")]
    current_balance: Option<Decimal>,
    #[serde(default, deserialize_with = "exact_decimal_opt")]
    available_balance: Option<Decimal>,
    description: Option<String>,
}

/// `PATCH /_sandbox/accounts/{id}`: the bank changes an account (authorization dates, balances).
pub async fn change_account(
    State(s): State<SandboxState>,
    Path(id): Path<Uuid>,
    Json(c): Json<AccountChange>,
) -> Response {
    let mut world = s.world.lock().expect("sandbox state");
    let Some(a) = world.accounts.get_mut(&id) else {
        return missing("account");
    };
    if let Some(t) = c.authorized_at {
        a.authorized_at = t;
    }
    if let Some(t) = c.authorization_expiration_expected_at {
        a.authorization_expires_at = t;
    }
    if let Some(b) = c.current_balance {
        a.bank_current_balance = b;
    }
    if let Some(b) = c.available_balance {
        a.bank_available_balance = b;
    }
    if let Some(d) = c.description {
        a.description = d;
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
pub struct AuthorizationState {
    /// `expired` (the consent ran out now), `invalid` (the bank refuses it), or `valid`.
    state: String,
}

/// `POST /_sandbox/accounts/{id}/authorization`: what the bank thinks of the consent.
pub async fn set_authorization(
    State(s): State<SandboxState>,
    Path(id): Path<Uuid>,
    Json(b): Json<AuthorizationState>,
) -> Response {
    let mut world = s.world.lock().expect("sandbox state");
    let now = world.now();
    let Some(a) = world.accounts.get_mut(&id) else {
        return missing("account");
    };
    match b.state.as_str() {
        "expired" => a.authorization_expires_at = now - chrono::Duration::seconds(1),
        "invalid" => a.authorization_invalid = true,
        "valid" => {
            a.authorization_invalid = false;
            a.authorized_at = now;
            a.authorization_expires_at = now + chrono::Duration::days(180);
        }
        _ => return bad("state is expired, invalid or valid"),
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `PUT|DELETE /_sandbox/organizations/{org}/integration/accounts/{id}`: the user switches an
/// account's slider on (Ponto synchronizes it at once) or off.
pub async fn activate(
    State(s): State<SandboxState>,
    Path((org, id)): Path<(Uuid, Uuid)>,
) -> Response {
    set_active(&s, org, id, true)
}

pub async fn deactivate(
    State(s): State<SandboxState>,
    Path((org, id)): Path<(Uuid, Uuid)>,
) -> Response {
    set_active(&s, org, id, false)
}

fn set_active(s: &SandboxState, org: Uuid, id: Uuid, on: bool) -> Response {
    let mut world = s.world.lock().expect("sandbox state");
    if world.accounts.get(&id).is_none_or(|a| a.org != org) {
        return missing("account");
    }
    let Some(i) = world
        .orgs
        .get_mut(&org)
        .and_then(|o| o.integration.as_mut())
        .filter(|i| !i.revoked)
    else {
        return missing("integration");
    };
    let changed = if on {
        i.accounts.insert(id)
    } else {
        i.accounts.remove(&id)
    };
    if changed {
        let event = if on {
            "pontoConnect.integration.accountAdded"
        } else {
            "pontoConnect.integration.accountRevoked"
        };
        world.emit_account(event, org, id);
    }
    if on && changed {
        world.sync_account_now(id);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /_sandbox/organizations/{org}/block` and `/unblock`.
pub async fn block(State(s): State<SandboxState>, Path(org): Path<Uuid>) -> Response {
    set_blocked(&s, org, true)
}

pub async fn unblock(State(s): State<SandboxState>, Path(org): Path<Uuid>) -> Response {
    set_blocked(&s, org, false)
}

fn set_blocked(s: &SandboxState, org: Uuid, blocked: bool) -> Response {
    let mut world = s.world.lock().expect("sandbox state");
    let Some(o) = world.orgs.get_mut(&org) else {
        return missing("organization");
    };
    if std::mem::replace(&mut o.blocked, blocked) != blocked {
        let event = if blocked {
            "pontoConnect.organization.blocked"
        } else {
            "pontoConnect.organization.unblocked"
        };
        world.emit_org(event, org);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /_sandbox/organizations/{org}/synchronize`: a Ponto-side synchronization (as Ponto runs
/// four times a day) of every shared account, every subtype.
pub async fn synchronize(State(s): State<SandboxState>, Path(org): Path<Uuid>) -> Response {
    let mut world = s.world.lock().expect("sandbox state");
    if !world.orgs.contains_key(&org) {
        return missing("organization");
    }
    let ids: Vec<String> = world
        .ponto_side_sync(org)
        .iter()
        .map(Uuid::to_string)
        .collect();
    Json(json!({"synchronizations": ids})).into_response()
}
