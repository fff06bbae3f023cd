//! Owns the simulator's control API under `/_sandbox` — the stable contract tests, `demo` and
//! integrators use to play "the real world": create organizations, accounts and transactions,
//! revoke an integration, inject faults, read counters. Documented in the README.

use super::SandboxState;
use super::api::json_response;
use super::state::{Account, Fault, Org, SyncSummary, Tx};
use crate::ponto::model::{date_opt, exact_decimal, exact_decimal_opt};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use rand::Rng;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

fn bad(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"code": "BAD_REQUEST", "message": message.into()}})),
    )
        .into_response()
}

fn missing(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": {"code": "NOT_FOUND", "message": format!("{what} not found")}})),
    )
        .into_response()
}

/// A random, valid Belgian IBAN.
pub fn random_iban() -> String {
    let account: u64 = rand::rng().random_range(0..1_000_000_000_000);
    let bban = format!("{account:012}");
    let check = 98 - crate::domain::reference::mod97(&format!("{bban}BE00")).expect("digits only");
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
    if crate::domain::money::Currency::parse(&a.currency).is_err() {
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
        internal_reference: Uuid::new_v4(),
        created_at: now,
        synchronized_at: now,
        latest_sync: SyncSummary {
            id: Uuid::new_v4(),
            subtype: "accountDetails".into(),
            status: "success".into(),
            created_at: now,
            updated_at: now,
        },
    };
    let body =
        json!({"id": id.to_string(), "reference": account.reference, "currency": account.currency});
    world.accounts.insert(id, account);
    world.txs.entry(id).or_default();
    (StatusCode::CREATED, Json(body)).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTransaction {
    #[serde(deserialize_with = "exact_decimal")]
    amount: Decimal,
    currency: Option<String>,
    #[serde(default)]
    pending: bool,
    description: Option<String>,
    remittance_information: Option<String>,
    remittance_information_type: Option<String>,
    counterpart_name: Option<String>,
    counterpart_reference: Option<String>,
    #[serde(default, deserialize_with = "date_opt")]
    value_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "date_opt")]
    execution_date: Option<NaiveDate>,
    bank_transaction_code: Option<String>,
    proprietary_bank_transaction_code: Option<String>,
    end_to_end_id: Option<String>,
    purpose_code: Option<String>,
    mandate_id: Option<String>,
    creditor_id: Option<String>,
    additional_information: Option<String>,
    card_reference: Option<String>,
    card_reference_type: Option<String>,
    #[serde(default, deserialize_with = "exact_decimal_opt")]
    fee: Option<Decimal>,
}

/// `POST /_sandbox/accounts/{id}/transactions` with one transaction or an array of them.
pub async fn create_transactions(
    State(s): State<SandboxState>,
    Path(account): Path<Uuid>,
    body: axum::body::Bytes,
) -> Response {
    let items: Vec<NewTransaction> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(_)) => match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return bad(e.to_string()),
        },
        Ok(_) => match serde_json::from_slice(&body) {
            Ok(v) => vec![v],
            Err(e) => return bad(e.to_string()),
        },
        Err(e) => return bad(e.to_string()),
    };
    let mut world = s.world.lock().expect("sandbox state");
    let Some(currency) = world.accounts.get(&account).map(|a| a.currency.clone()) else {
        return missing("account");
    };
    let now = world.now();
    let mut created = Vec::with_capacity(items.len());
    for t in items {
        let id = Uuid::new_v4();
        world.next_seq += 1;
        let value_date = t.value_date.or(if t.pending {
            None
        } else {
            Some(now.date_naive())
        });
        let tx = Tx {
            id,
            account,
            pending: t.pending,
            seq: world.next_seq,
            amount: t.amount,
            currency: t.currency.unwrap_or_else(|| currency.clone()),
            description: t.description.unwrap_or_default(),
            remittance_information: t.remittance_information,
            remittance_information_type: t
                .remittance_information_type
                .unwrap_or_else(|| "unstructured".into()),
            counterpart_name: t.counterpart_name,
            counterpart_reference: t.counterpart_reference,
            execution_date: t.execution_date.or(value_date),
            value_date,
            bank_transaction_code: t.bank_transaction_code,
            proprietary_bank_transaction_code: t.proprietary_bank_transaction_code,
            end_to_end_id: t.end_to_end_id,
            purpose_code: t.purpose_code,
            mandate_id: t.mandate_id,
            creditor_id: t.creditor_id,
            additional_information: t.additional_information,
            card_reference: t.card_reference,
            card_reference_type: t.card_reference_type,
            fee: t.fee,
            internal_reference: Uuid::new_v4(),
            digest: hex(&Sha256::digest(id.as_bytes())),
            created_at: now,
            updated_at: now,
        };
        created.push(json!({"id": id.to_string(), "pending": tx.pending}));
        world.txs.entry(account).or_default().push(tx);
    }
    json_response(StatusCode::CREATED, &json!({"transactions": created}))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn revoke_integration(State(s): State<SandboxState>, Path(org): Path<Uuid>) -> Response {
    let mut world = s.world.lock().expect("sandbox state");
    match world.revoke_integration(org) {
        Some(id) => Json(json!({"integration": id.to_string(), "revoked": true})).into_response(),
        None => missing("integration"),
    }
}

/// Queues faults: the next matching Ponto API requests answer with them.
pub async fn add_fault(State(s): State<SandboxState>, Json(f): Json<Fault>) -> Response {
    if f.count == 0 || !(100..600).contains(&f.status) {
        return bad("count must be ≥ 1 and status a valid HTTP status");
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
