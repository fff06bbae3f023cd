//! Owns the JSON the simulator answers with: Ponto's JSON:API shapes for accounts,
//! transactions and financial institutions, paging links and metadata, error bodies — with
//! amounts written as exact JSON numbers (the decimal's own text, never through a float).

use super::state::{Account, SANDBOX_BANK_ID, Synchronization, Tx, TxData};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// A decimal written as a bare JSON number with exactly its digits.
#[derive(Debug, Clone, Copy)]
pub struct Num(pub Decimal);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.0.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Ponto writes dates as midnight UTC timestamps.
pub fn date(d: NaiveDate) -> String {
    format!("{}T00:00:00.000Z", d.format("%Y-%m-%d"))
}

/// A synchronization resource; `links` adds the updated-transactions relationships.
pub fn sync_json(base: &str, s: &Synchronization, links: bool) -> Value {
    let mut v = json!({
        "attributes": {
            "createdAt": ts(s.created_at), "customerOnline": s.customer_ip_address.is_some(), "errors": s.errors,
            "resourceId": s.account.to_string(), "resourceType": "account", "status": s.status,
            "subtype": s.subtype, "updatedAt": ts(s.updated_at)
        },
        "id": s.id.to_string(),
        "type": "synchronization",
    });
    if links && s.status == "success" {
        let related = |kind: &str| json!({"links": {"meta": {"type": "transaction"}, "related": format!("{base}/ponto-connect/synchronizations/{}/{kind}", s.id)}});
        v["relationships"] = json!({
            "updatedTransactions": related("updated-transactions"),
            "updatedPendingTransactions": related("updated-pending-transactions"),
        });
    }
    v
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountAttributes<'a> {
    authorization_expiration_expected_at: String,
    authorized_at: String,
    available_balance: Num,
    available_balance_changed_at: String,
    available_balance_reference_date: String,
    available_balance_variation_observed_at: String,
    currency: &'a str,
    current_balance: Num,
    current_balance_changed_at: String,
    current_balance_reference_date: String,
    current_balance_variation_observed_at: String,
    deprecated: bool,
    description: &'a str,
    holder_name: Option<&'a str>,
    internal_reference: String,
    product: Option<&'a str>,
    reference: &'a str,
    reference_type: &'a str,
    subtype: &'a str,
}

#[derive(Serialize)]
pub struct Resource<A: Serialize> {
    attributes: A,
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    relationships: Option<Value>,
    #[serde(rename = "type")]
    kind: &'static str,
}

pub fn account<'a>(base: &str, a: &'a Account) -> Resource<impl Serialize + 'a> {
    let id = a.id.to_string();
    Resource {
        attributes: AccountAttributes {
            authorization_expiration_expected_at: ts(a.authorization_expires_at),
            authorized_at: ts(a.authorized_at),
            available_balance: Num(a.available_balance),
            available_balance_changed_at: ts(a.balance_changed_at),
            available_balance_reference_date: ts(a.balance_reference_date),
            available_balance_variation_observed_at: ts(a.balance_changed_at),
            currency: &a.currency,
            current_balance: Num(a.current_balance),
            current_balance_changed_at: ts(a.balance_changed_at),
            current_balance_reference_date: ts(a.balance_reference_date),
            current_balance_variation_observed_at: ts(a.balance_changed_at),
            deprecated: false,
            description: &a.description,
            holder_name: a.holder_name.as_deref(),
            internal_reference: a.internal_reference.to_string(),
            product: a.product.as_deref(),
            reference: &a.reference,
            reference_type: &a.reference_type,
            subtype: &a.subtype,
        },
        meta: Some(json!({
            "availability": "available",
            "latestSynchronization": sync_json(base, &a.latest_sync, false),
            "synchronizedAt": ts(a.synchronized_at),
        })),
        relationships: Some(json!({
            "financialInstitution": {
                "data": {"id": SANDBOX_BANK_ID, "type": "financialInstitution"},
                "links": {"related": format!("{base}/ponto-connect/financial-institutions/{SANDBOX_BANK_ID}")},
            },
            "transactions": {
                "links": {"meta": {"type": "transaction"}, "related": format!("{base}/ponto-connect/accounts/{id}/transactions")},
            },
        })),
        id,
        kind: "account",
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TxAttributes<'a> {
    additional_information: Option<&'a str>,
    amount: Num,
    bank_transaction_code: Option<&'a str>,
    card_reference: Option<&'a str>,
    card_reference_type: Option<&'a str>,
    counterpart_name: Option<&'a str>,
    counterpart_reference: Option<&'a str>,
    created_at: String,
    creditor_id: Option<&'a str>,
    currency: &'a str,
    description: &'a str,
    digest: &'a str,
    end_to_end_id: Option<&'a str>,
    execution_date: Option<String>,
    fee: Option<Num>,
    internal_reference: String,
    mandate_id: Option<&'a str>,
    proprietary_bank_transaction_code: Option<&'a str>,
    purpose_code: Option<&'a str>,
    remittance_information: Option<&'a str>,
    remittance_information_type: &'a str,
    updated_at: String,
    value_date: Option<String>,
}

pub fn transaction<'a>(base: &str, t: &'a Tx, d: &'a TxData) -> Resource<impl Serialize + 'a> {
    let account = t.account.to_string();
    Resource {
        attributes: TxAttributes {
            additional_information: d.additional_information.as_deref(),
            amount: Num(d.amount),
            bank_transaction_code: d.bank_transaction_code.as_deref(),
            card_reference: d.card_reference.as_deref(),
            card_reference_type: d.card_reference_type.as_deref(),
            counterpart_name: d.counterpart_name.as_deref(),
            counterpart_reference: d.counterpart_reference.as_deref(),
            created_at: ts(t.created_at),
            creditor_id: d.creditor_id.as_deref(),
            currency: &d.currency,
            description: &d.description,
            digest: &t.digest,
            end_to_end_id: d.end_to_end_id.as_deref(),
            execution_date: d.execution_date.map(date),
            fee: d.fee.map(Num),
            internal_reference: t.internal_reference.to_string(),
            mandate_id: d.mandate_id.as_deref(),
            proprietary_bank_transaction_code: d.proprietary_bank_transaction_code.as_deref(),
            purpose_code: d.purpose_code.as_deref(),
            remittance_information: d.remittance_information.as_deref(),
            remittance_information_type: &d.remittance_information_type,
            updated_at: ts(d.updated_at),
            value_date: d.value_date.map(date),
        },
        meta: None,
        relationships: Some(json!({
            "account": {
                "data": {"id": account, "type": "account"},
                "links": {"related": format!("{base}/ponto-connect/accounts/{account}")},
            }
        })),
        id: t.id.to_string(),
        kind: if d.pending {
            "pendingTransaction"
        } else {
            "transaction"
        },
    }
}

/// A second sandbox bank (the name Ibanity's Java SDK fixtures use), so listings page.
pub const FAKE_BANK_ID: &str = "953934eb-229a-4fd2-8675-07794078cc7d";

/// The sandbox's financial institutions, in listing order.
pub fn financial_institutions() -> Vec<Value> {
    let mut fake = financial_institution();
    fake["id"] = json!(FAKE_BANK_ID);
    fake["attributes"]["name"] = json!("Fake Bank");
    fake["attributes"]["bic"] = json!("NBBEBEBB216");
    vec![financial_institution(), fake]
}

pub fn financial_institution() -> Value {
    json!({
        "attributes": {
            "bic": "NBBEBEBB203", "bulkPaymentsEnabled": true, "bulkPaymentsProductTypes": ["sepaCreditTransfer"],
            "country": "BE", "deprecated": false, "futureDatedPaymentsAllowed": true, "logoUrl": null,
            "maintenanceFrom": null, "maintenanceTo": null, "maintenanceType": null, "name": "Super Sandbox Bank",
            "paymentsEnabled": true, "paymentsProductTypes": ["sepaCreditTransfer"], "periodicPaymentsEnabled": true,
            "periodicPaymentsProductTypes": ["sepaCreditTransfer"], "primaryColor": "#7d39ff", "secondaryColor": "#3DF2C2",
            "sharedBrandName": null, "sharedBrandReference": null, "status": "stable"
        },
        "id": SANDBOX_BANK_ID,
        "type": "financialInstitution",
    })
}

/// `page[limit]`, `page[before]`, `page[after]` as Ponto reads them.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    #[serde(rename = "page[limit]")]
    pub limit: Option<String>,
    #[serde(rename = "page[before]")]
    pub before: Option<String>,
    #[serde(rename = "page[after]")]
    pub after: Option<String>,
}

/// A JSON:API collection document.
#[derive(Serialize)]
pub struct CollectionDoc<T: Serialize> {
    pub data: Vec<T>,
    pub links: Value,
    pub meta: Value,
}

/// Cuts one page out of `ids` (listing order) per `q`: returns the index range, or an error
/// body when a cursor is unknown.
pub fn paginate(
    ids: &[String],
    q: &PageQuery,
    url: &str,
) -> Result<(std::ops::Range<usize>, Value, Value), Value> {
    let limit = q
        .limit
        .as_deref()
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let position = |cursor: &str| ids.iter().position(|id| id == cursor);
    let range = match (&q.after, &q.before) {
        (Some(a), _) => {
            let start = position(a).ok_or_else(|| {
                error_body("invalidCursor", "Unknown page[after] cursor.", json!({}))
            })? + 1;
            start..(start + limit).min(ids.len())
        }
        (None, Some(b)) => {
            let end = position(b).ok_or_else(|| {
                error_body("invalidCursor", "Unknown page[before] cursor.", json!({}))
            })?;
            end.saturating_sub(limit)..end
        }
        (None, None) => 0..limit.min(ids.len()),
    };
    let mut links = json!({"first": format!("{url}?page[limit]={limit}")});
    let last_id = range
        .end
        .checked_sub(1)
        .filter(|_| !range.is_empty())
        .map(|i| ids[i].clone());
    if range.end < ids.len()
        && let Some(last) = &last_id
    {
        links["next"] = json!(format!("{url}?page[after]={last}&page[limit]={limit}"));
    }
    if range.start > 0 && !range.is_empty() {
        links["prev"] = json!(format!(
            "{url}?page[before]={}&page[limit]={limit}",
            ids[range.start]
        ));
    }
    let meta = json!({"paging": {"after": last_id.filter(|_| range.end < ids.len()), "before": q.before, "limit": limit}});
    Ok((range, links, meta))
}

pub fn error_body(code: &str, detail: &str, meta: Value) -> Value {
    let mut meta = meta;
    meta["requestId"] = json!(uuid::Uuid::new_v4().to_string());
    json!({"errors": [{"code": code, "detail": detail, "meta": meta}]})
}

/// Transaction listings also carry the account's synchronization metadata.
pub fn transactions_meta(base: &str, account: &Account, mut meta: Value) -> Value {
    meta["latestSynchronization"] = sync_json(base, &account.latest_sync, false);
    meta["synchronizedAt"] = json!(ts(account.synchronized_at));
    meta
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FiAccountAttributes<'a> {
    available_balance: Num,
    available_balance_changed_at: String,
    available_balance_reference_date: String,
    currency: &'a str,
    current_balance: Num,
    current_balance_changed_at: String,
    current_balance_reference_date: String,
    description: &'a str,
    holder_name: Option<&'a str>,
    product: Option<&'a str>,
    reference: &'a str,
    reference_type: &'a str,
    subtype: &'a str,
}

/// An account as the sandbox bank holds it (`/sandbox/.../financial-institution-accounts`).
pub fn fi_account<'a>(a: &'a Account) -> Resource<impl Serialize + 'a> {
    Resource {
        attributes: FiAccountAttributes {
            available_balance: Num(a.bank_available_balance),
            available_balance_changed_at: ts(a.balance_changed_at),
            available_balance_reference_date: ts(a.balance_reference_date),
            currency: &a.currency,
            current_balance: Num(a.bank_current_balance),
            current_balance_changed_at: ts(a.balance_changed_at),
            current_balance_reference_date: ts(a.balance_reference_date),
            description: &a.description,
            holder_name: a.holder_name.as_deref(),
            product: a.product.as_deref(),
            reference: &a.reference,
            reference_type: &a.reference_type,
            subtype: &a.subtype,
        },
        id: a.id.to_string(),
        meta: None,
        relationships: None,
        kind: "financialInstitutionAccount",
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FiTxAttributes<'a> {
    additional_information: Option<&'a str>,
    amount: Num,
    bank_transaction_code: Option<&'a str>,
    counterpart_name: Option<&'a str>,
    counterpart_reference: Option<&'a str>,
    created_at: String,
    creditor_id: Option<&'a str>,
    currency: &'a str,
    description: &'a str,
    end_to_end_id: Option<&'a str>,
    execution_date: Option<String>,
    mandate_id: Option<&'a str>,
    proprietary_bank_transaction_code: Option<&'a str>,
    purpose_code: Option<&'a str>,
    remittance_information: Option<&'a str>,
    remittance_information_type: &'a str,
    updated_at: String,
    value_date: Option<String>,
}

/// A transaction as the sandbox bank holds it.
pub fn fi_transaction<'a>(t: &'a Tx, d: &'a TxData) -> Resource<impl Serialize + 'a> {
    Resource {
        attributes: FiTxAttributes {
            additional_information: d.additional_information.as_deref(),
            amount: Num(d.amount),
            bank_transaction_code: d.bank_transaction_code.as_deref(),
            counterpart_name: d.counterpart_name.as_deref(),
            counterpart_reference: d.counterpart_reference.as_deref(),
            created_at: ts(t.created_at),
            creditor_id: d.creditor_id.as_deref(),
            currency: &d.currency,
            description: &d.description,
            end_to_end_id: d.end_to_end_id.as_deref(),
            execution_date: d.execution_date.map(date),
            mandate_id: d.mandate_id.as_deref(),
            proprietary_bank_transaction_code: d.proprietary_bank_transaction_code.as_deref(),
            purpose_code: d.purpose_code.as_deref(),
            remittance_information: d.remittance_information.as_deref(),
            remittance_information_type: &d.remittance_information_type,
            updated_at: ts(d.updated_at),
            value_date: d.value_date.map(date),
        },
        id: t.id.to_string(),
        meta: None,
        relationships: None,
        kind: "financialInstitutionTransaction",
    }
}
