//! Owns what happens to transactions at the sandbox bank: created (control API and the real
//! sandbox data API), a pending one booked under a new id, a booked one changed or deleted.
//! Ponto's API shows each change only after the next synchronization.

use super::SandboxState;
use super::api::json_response;
use super::state::TxData;
use crate::wire::{date_opt, exact_decimal, exact_decimal_opt};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

pub fn bad(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"code": "BAD_REQUEST", "message": message.into()}})),
    )
        .into_response()
}

pub fn missing(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": {"code": "NOT_FOUND", "message": format!("{what} not found")}})),
    )
        .into_response()
}

/// A transaction to create at the bank (control API and sandbox data API attributes).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTransaction {
    #[serde(deserialize_with = "exact_decimal")]
    pub amount: Decimal,
    pub currency: Option<String>,
    #[serde(default)]
    pub pending: bool,
    pub description: Option<String>,
    pub remittance_information: Option<String>,
    pub remittance_information_type: Option<String>,
    pub counterpart_name: Option<String>,
    pub counterpart_reference: Option<String>,
    #[serde(default, deserialize_with = "date_opt")]
    pub value_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "date_opt")]
    pub execution_date: Option<NaiveDate>,
    pub bank_transaction_code: Option<String>,
    pub proprietary_bank_transaction_code: Option<String>,
    pub end_to_end_id: Option<String>,
    pub purpose_code: Option<String>,
    pub mandate_id: Option<String>,
    pub creditor_id: Option<String>,
    pub additional_information: Option<String>,
    pub card_reference: Option<String>,
    pub card_reference_type: Option<String>,
    #[serde(default, deserialize_with = "exact_decimal_opt")]
    pub fee: Option<Decimal>,
}

impl NewTransaction {
    pub fn into_data(self, account_currency: &str, now: DateTime<Utc>) -> TxData {
        let value_date = self.value_date.or(if self.pending {
            None
        } else {
            Some(now.date_naive())
        });
        TxData {
            pending: self.pending,
            amount: self.amount,
            currency: self.currency.unwrap_or_else(|| account_currency.to_owned()),
            description: self.description.unwrap_or_default(),
            remittance_information: self.remittance_information,
            remittance_information_type: self
                .remittance_information_type
                .unwrap_or_else(|| "unstructured".into()),
            counterpart_name: self.counterpart_name,
            counterpart_reference: self.counterpart_reference,
            execution_date: self.execution_date.or(value_date),
            value_date,
            bank_transaction_code: self.bank_transaction_code,
            proprietary_bank_transaction_code: self.proprietary_bank_transaction_code,
            end_to_end_id: self.end_to_end_id,
            purpose_code: self.purpose_code,
            mandate_id: self.mandate_id,
            creditor_id: self.creditor_id,
            additional_information: self.additional_information,
            card_reference: self.card_reference,
            card_reference_type: self.card_reference_type,
            fee: self.fee,
            updated_at: now,
        }
    }
}

/// `POST /_sandbox/accounts/{id}/transactions` with one transaction or an array of them.
pub async fn create_transactions(
    State(s): State<SandboxState>,
    Path(account): Path<Uuid>,
    body: axum::body::Bytes,
) -> Response {
    let parsed = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(_)) => serde_json::from_slice::<Vec<NewTransaction>>(&body),
        Ok(_) => serde_json::from_slice::<NewTransaction>(&body).map(|t| vec![t]),
        Err(e) => Err(e),
    };
    let items = match parsed {
        Ok(v) => v,
        Err(e) => return bad(e.to_string()),
    };
    let mut world = s.world.lock().expect("sandbox state");
    let Some(currency) = world.accounts.get(&account).map(|a| a.currency.clone()) else {
        return missing("account");
    };
    let now = world.now();
    let created: Vec<Value> = items
        .into_iter()
        .map(|t| {
            let pending = t.pending;
            let id = world.add_bank_tx(account, t.into_data(&currency, now));
            json!({"id": id.to_string(), "pending": pending})
        })
        .collect();
    json_response(StatusCode::CREATED, &json!({"transactions": created}))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Booking {
    #[serde(deserialize_with = "date_opt")]
    value_date: Option<NaiveDate>,
    #[serde(deserialize_with = "exact_decimal_opt")]
    amount: Option<Decimal>,
}

/// `POST /_sandbox/transactions/{id}/book`: the bank settles a pending transaction under a new
/// id (the pending one disappears at the bank).
pub async fn book(
    State(s): State<SandboxState>,
    Path(id): Path<Uuid>,
    body: Option<Json<Booking>>,
) -> Response {
    let b = body.map(|b| b.0).unwrap_or_default();
    let mut world = s.world.lock().expect("sandbox state");
    let now = world.now();
    let Some(tx) = world.tx_mut(id) else {
        return missing("transaction");
    };
    let Some(mut data) = tx.bank.clone().filter(|d| d.pending) else {
        return bad("only a pending transaction at the bank can be booked");
    };
    tx.bank = None;
    let account = tx.account;
    data.pending = false;
    data.value_date = b.value_date.or(data.value_date).or(Some(now.date_naive()));
    data.execution_date = data.execution_date.or(data.value_date);
    data.amount = b.amount.unwrap_or(data.amount);
    data.updated_at = now;
    let new = world.add_bank_tx(account, data);
    (
        StatusCode::CREATED,
        Json(json!({"id": new.to_string(), "replaces": id.to_string()})),
    )
        .into_response()
}

/// A field it does not know is refused (400), so a test cannot believe it changed something.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Change {
    #[serde(deserialize_with = "exact_decimal_opt")]
    amount: Option<Decimal>,
    remittance_information: Option<String>,
    counterpart_name: Option<String>,
    description: Option<String>,
    end_to_end_id: Option<String>,
}

/// `PATCH /_sandbox/transactions/{id}`: the bank changes a transaction (amount, remittance…).
pub async fn change(
    State(s): State<SandboxState>,
    Path(id): Path<Uuid>,
    Json(c): Json<Change>,
) -> Response {
    let mut world = s.world.lock().expect("sandbox state");
    let now = world.now();
    let Some(tx) = world.tx_mut(id) else {
        return missing("transaction");
    };
    let account = tx.account;
    let Some(data) = tx.bank.as_mut() else {
        return bad("the transaction was deleted at the bank");
    };
    let delta = c
        .amount
        .map(|a| a - data.amount)
        .filter(|_| !data.pending)
        .unwrap_or_default();
    if let Some(a) = c.amount {
        data.amount = a;
    }
    if c.remittance_information.is_some() {
        data.remittance_information = c.remittance_information;
    }
    if c.counterpart_name.is_some() {
        data.counterpart_name = c.counterpart_name;
    }
    if let Some(d) = c.description {
        data.description = d;
    }
    if c.end_to_end_id.is_some() {
        data.end_to_end_id = c.end_to_end_id;
    }
    data.updated_at = now;
    if let Some(a) = world.accounts.get_mut(&account) {
        a.bank_current_balance += delta;
        a.bank_available_balance += delta;
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /_sandbox/transactions/{id}`: the bank no longer reports the transaction.
pub async fn delete(State(s): State<SandboxState>, Path(id): Path<Uuid>) -> Response {
    let mut world = s.world.lock().expect("sandbox state");
    let Some(tx) = world.tx_mut(id) else {
        return missing("transaction");
    };
    let account = tx.account;
    let Some(data) = tx.bank.take() else {
        return missing("transaction");
    };
    if !data.pending
        && let Some(a) = world.accounts.get_mut(&account)
    {
        a.bank_current_balance -= data.amount;
        a.bank_available_balance -= data.amount;
    }
    StatusCode::NO_CONTENT.into_response()
}
