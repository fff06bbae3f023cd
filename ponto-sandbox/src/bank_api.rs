//! Owns Ponto's real sandbox data API (`/ponto-connect/sandbox/financial-institutions/{bank}/
//! financial-institution-accounts/…`): the caller's accounts as the bank holds them, and their
//! transactions — list, read, create and patch. Ponto shows new or changed bank transactions
//! only after the next synchronization. Financial-institution account ids equal account ids here.

use super::SandboxState;
use super::api::{Reject, error, json_response, json_single, not_found, user};
use super::control_tx::NewTransaction;
use super::render::{self, CollectionDoc, PageQuery};
use super::state::{SANDBOX_BANK_ID, World};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

/// The caller's organization's account at the sandbox bank.
fn bank_account(
    world: &World,
    headers: &HeaderMap,
    bank: &str,
    account: &str,
) -> Result<Uuid, Reject> {
    let (org, _) = user(world, headers)?;
    if bank != SANDBOX_BANK_ID {
        return Err(not_found("financialInstitution"));
    }
    Uuid::parse_str(account)
        .ok()
        .filter(|id| world.accounts.get(id).is_some_and(|a| a.org == org))
        .ok_or_else(|| not_found("financialInstitutionAccount"))
}

pub async fn accounts(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path(bank): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, Reject> {
    let world = s.world.lock().expect("sandbox state");
    let (org, _) = user(&world, &headers)?;
    if bank != SANDBOX_BANK_ID {
        return Err(not_found("financialInstitution"));
    }
    let accounts = world.org_accounts(org);
    let ids: Vec<String> = accounts.iter().map(|a| a.id.to_string()).collect();
    let url = format!(
        "{}/ponto-connect/sandbox/financial-institutions/{bank}/financial-institution-accounts",
        s.base_url
    );
    Ok(match render::paginate(&ids, &q, &url) {
        Ok((range, links, meta)) => {
            let data: Vec<_> = accounts[range]
                .iter()
                .map(|a| render::fi_account(a))
                .collect();
            json_response(StatusCode::OK, &CollectionDoc { data, links, meta })
        }
        Err(body) => (StatusCode::BAD_REQUEST, Json(body)).into_response(),
    })
}

pub async fn account(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path((bank, account)): Path<(String, String)>,
) -> Result<Response, Reject> {
    let world = s.world.lock().expect("sandbox state");
    let id = bank_account(&world, &headers, &bank, &account)?;
    Ok(json_response(
        StatusCode::OK,
        &json_single(render::fi_account(&world.accounts[&id])),
    ))
}

pub async fn transactions(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path((bank, account)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Response, Reject> {
    let world = s.world.lock().expect("sandbox state");
    let id = bank_account(&world, &headers, &bank, &account)?;
    let rows = world.at_bank(id);
    let ids: Vec<String> = rows.iter().map(|(t, _)| t.id.to_string()).collect();
    let url = format!(
        "{}/ponto-connect/sandbox/financial-institutions/{bank}/financial-institution-accounts/{id}/financial-institution-transactions",
        s.base_url
    );
    Ok(match render::paginate(&ids, &q, &url) {
        Ok((range, links, meta)) => {
            let data: Vec<_> = rows[range]
                .iter()
                .map(|(t, d)| render::fi_transaction(t, d))
                .collect();
            json_response(StatusCode::OK, &CollectionDoc { data, links, meta })
        }
        Err(body) => (StatusCode::BAD_REQUEST, Json(body)).into_response(),
    })
}

pub async fn transaction(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path((bank, account, tx)): Path<(String, String, String)>,
) -> Result<Response, Reject> {
    let world = s.world.lock().expect("sandbox state");
    let id = bank_account(&world, &headers, &bank, &account)?;
    Ok(
        match world
            .at_bank(id)
            .into_iter()
            .find(|(t, _)| t.id.to_string() == tx)
        {
            Some((t, d)) => {
                json_response(StatusCode::OK, &json_single(render::fi_transaction(t, d)))
            }
            None => not_found("financialInstitutionTransaction").into_response(),
        },
    )
}

#[derive(Deserialize)]
struct Envelope<A> {
    data: Data<A>,
}

#[derive(Deserialize)]
struct Data<A> {
    attributes: A,
}

/// `POST …/financial-institution-transactions`: a booked transaction at the bank.
pub async fn create_transaction(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path((bank, account)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, Reject> {
    let mut world = s.world.lock().expect("sandbox state");
    let id = bank_account(&world, &headers, &bank, &account)?;
    let Ok(req) = serde_json::from_slice::<Envelope<NewTransaction>>(&body) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "validationError",
            "Expected data.attributes with at least amount.",
            None,
        ));
    };
    let mut attrs = req.data.attributes;
    attrs.pending = false;
    let currency = world.accounts[&id].currency.clone();
    let now = world.now();
    let tx = world.add_bank_tx(id, attrs.into_data(&currency, now));
    let (t, d) = world
        .at_bank(id)
        .into_iter()
        .find(|(t, _)| t.id == tx)
        .expect("just added");
    Ok(json_response(
        StatusCode::CREATED,
        &json_single(render::fi_transaction(t, d)),
    ))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Patch {
    counterpart_name: Option<String>,
    description: Option<String>,
    remittance_information: Option<String>,
    end_to_end_id: Option<String>,
    purpose_code: Option<String>,
    mandate_id: Option<String>,
    creditor_id: Option<String>,
    additional_information: Option<String>,
    proprietary_bank_transaction_code: Option<String>,
    bank_transaction_code: Option<String>,
}

/// `PATCH …/financial-institution-transactions/{id}`: descriptive fields only (not the amount).
pub async fn patch_transaction(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Path((bank, account, tx)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, Reject> {
    let mut world = s.world.lock().expect("sandbox state");
    let id = bank_account(&world, &headers, &bank, &account)?;
    let Ok(req) = serde_json::from_slice::<Envelope<Patch>>(&body) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "validationError",
            "Expected data.attributes.",
            None,
        ));
    };
    let p = req.data.attributes;
    let now = world.now();
    let Some(t) = Uuid::parse_str(&tx)
        .ok()
        .and_then(|tx| world.tx_mut(tx))
        .filter(|t| t.account == id)
    else {
        return Err(not_found("financialInstitutionTransaction"));
    };
    let Some(d) = t.bank.as_mut() else {
        return Err(not_found("financialInstitutionTransaction"));
    };
    let set = |field: &mut Option<String>, v: Option<String>| {
        if v.is_some() {
            *field = v;
        }
    };
    set(&mut d.counterpart_name, p.counterpart_name);
    set(&mut d.remittance_information, p.remittance_information);
    set(&mut d.end_to_end_id, p.end_to_end_id);
    set(&mut d.purpose_code, p.purpose_code);
    set(&mut d.mandate_id, p.mandate_id);
    set(&mut d.creditor_id, p.creditor_id);
    set(&mut d.additional_information, p.additional_information);
    set(
        &mut d.proprietary_bank_transaction_code,
        p.proprietary_bank_transaction_code,
    );
    set(&mut d.bank_transaction_code, p.bank_transaction_code);
    if let Some(desc) = p.description {
        d.description = desc;
    }
    d.updated_at = now;
    let tx_id = t.id;
    let (t, d) = world
        .at_bank(id)
        .into_iter()
        .find(|(t, _)| t.id == tx_id)
        .expect("present");
    Ok(json_response(
        StatusCode::OK,
        &json_single(render::fi_transaction(t, d)),
    ))
}
