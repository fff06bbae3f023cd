//! Owns the shapes Ponto Connect speaks: JSON:API documents, accounts, transactions, userinfo,
//! tokens. Amounts are read from the JSON number's exact text (never through `f64`,
//! ARCHITECTURE.md, trap 2); timestamps stay RFC 3339 instants, dates become calendar dates.

use crate::secret::Secret;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// Deserializes a JSON number (or numeric string) into an exact decimal.
pub fn exact_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    let raw = <&RawValue>::deserialize(d)?;
    parse_raw(raw).map_err(serde::de::Error::custom)
}

/// Like [`exact_decimal`], for nullable amounts.
pub fn exact_decimal_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let raw = <Option<&RawValue>>::deserialize(d)?;
    match raw {
        None => Ok(None),
        Some(r) if r.get() == "null" => Ok(None),
        Some(r) => parse_raw(r).map(Some).map_err(serde::de::Error::custom),
    }
}

fn parse_raw(raw: &RawValue) -> Result<Decimal, String> {
    let text = raw.get().trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    crate::domain::money::parse_decimal(text).map_err(|e| e.to_string())
}

/// Ponto's dates are midnight UTC timestamps; we keep the calendar date (ARCHITECTURE.md, trap 9).
pub fn date_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    let s = <Option<String>>::deserialize(d)?;
    match s {
        None => Ok(None),
        Some(s) => {
            let date = s
                .get(..10)
                .and_then(|p| NaiveDate::parse_from_str(p, "%Y-%m-%d").ok());
            date.map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("not a date: {s}")))
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Links {
    #[serde(default)]
    pub first: Option<String>,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub prev: Option<String>,
}

/// One JSON:API resource.
#[derive(Debug, Clone, Deserialize)]
pub struct Resource<A> {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub attributes: A,
    #[serde(default)]
    pub relationships: Option<Value>,
    #[serde(default)]
    pub meta: Option<Value>,
    #[serde(default)]
    pub links: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Single<A> {
    pub data: Resource<A>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Collection<A> {
    pub data: Vec<Resource<A>>,
    #[serde(default)]
    pub links: Option<Links>,
    #[serde(default)]
    pub meta: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountAttributes {
    pub reference: Option<String>,
    pub reference_type: Option<String>,
    pub currency: String,
    pub description: Option<String>,
    pub product: Option<String>,
    pub holder_name: Option<String>,
    pub subtype: Option<String>,
    #[serde(default, deserialize_with = "exact_decimal_opt")]
    pub current_balance: Option<Decimal>,
    pub current_balance_reference_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "exact_decimal_opt")]
    pub available_balance: Option<Decimal>,
    pub available_balance_reference_date: Option<DateTime<Utc>>,
    pub authorized_at: Option<DateTime<Utc>>,
    pub authorization_expiration_expected_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub deprecated: Option<bool>,
}

/// A booked (`transaction`) or pending (`pendingTransaction`) transaction.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionAttributes {
    #[serde(deserialize_with = "exact_decimal")]
    pub amount: Decimal,
    pub currency: String,
    pub description: Option<String>,
    pub remittance_information: Option<String>,
    pub remittance_information_type: Option<String>,
    pub counterpart_name: Option<String>,
    pub counterpart_reference: Option<String>,
    #[serde(default, deserialize_with = "date_opt")]
    pub execution_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "date_opt")]
    pub value_date: Option<NaiveDate>,
    pub bank_transaction_code: Option<String>,
    pub proprietary_bank_transaction_code: Option<String>,
    pub end_to_end_id: Option<String>,
    pub purpose_code: Option<String>,
    pub mandate_id: Option<String>,
    pub creditor_id: Option<String>,
    pub additional_information: Option<String>,
    pub card_reference: Option<String>,
    #[serde(default, deserialize_with = "exact_decimal_opt")]
    pub fee: Option<Decimal>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A transaction together with the exact JSON Ponto sent for it.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub id: String,
    pub pending: bool,
    pub attributes: TransactionAttributes,
    pub raw_json: String,
}

impl Transaction {
    /// One JSON:API resource of a transaction listing, kept verbatim. `pending` when it came
    /// from a pending listing (or says it is a `pendingTransaction`).
    pub fn from_resource(raw: &str, pending: bool) -> Result<Self, super::error::PontoError> {
        let r: Resource<TransactionAttributes> = serde_json::from_str(raw)
            .map_err(|e| super::error::PontoError::Malformed(e.to_string()))?;
        Ok(Transaction {
            pending: pending || r.kind == "pendingTransaction",
            id: r.id,
            attributes: r.attributes,
            raw_json: raw.to_owned(),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// Ponto's organization id.
    pub sub: String,
    pub name: Option<String>,
    #[serde(default)]
    pub payments_activated: Option<bool>,
    #[serde(default)]
    pub onboarding_complete: Option<bool>,
}

/// Tokens from `/oauth2/token`. `Debug` shows no token.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_in: i64,
    pub scope: String,
}

#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl From<TokenResponse> for TokenSet {
    fn from(t: TokenResponse) -> Self {
        Self {
            access_token: Secret::new(t.access_token),
            refresh_token: t.refresh_token.filter(|r| !r.is_empty()).map(Secret::new),
            expires_in: t.expires_in.unwrap_or(1799),
            scope: t.scope.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Amount {
        #[serde(deserialize_with = "exact_decimal")]
        amount: Decimal,
        #[serde(default, deserialize_with = "exact_decimal_opt")]
        fee: Option<Decimal>,
    }

    #[test]
    fn amounts_are_exact() {
        for (json, text) in [
            (r#"{"amount":0.1}"#, "0.1"),
            (r#"{"amount":1234567.89}"#, "1234567.89"),
            (r#"{"amount":-0.01}"#, "-0.01"),
            (r#"{"amount":6386.04}"#, "6386.04"),
            (r#"{"amount":-100.0}"#, "-100.0"),
            (r#"{"amount":12345678901234567.89}"#, "12345678901234567.89"),
            (r#"{"amount":"12.30"}"#, "12.30"),
        ] {
            let a: Amount = serde_json::from_str(json).unwrap();
            assert_eq!(a.amount.to_string(), text, "{json}");
            assert_eq!(a.fee, None);
        }
        let a: Amount = serde_json::from_str(r#"{"amount":1,"fee":null}"#).unwrap();
        assert_eq!(a.fee, None);
        let a: Amount = serde_json::from_str(r#"{"amount":1,"fee":0.35}"#).unwrap();
        assert_eq!(a.fee.unwrap().to_string(), "0.35");
        assert!(serde_json::from_str::<Amount>(r#"{"amount":"abc"}"#).is_err());
        assert!(serde_json::from_str::<Amount>(r#"{"amount":true}"#).is_err());
    }

    #[test]
    fn dates_keep_the_calendar_day() {
        #[derive(Deserialize)]
        struct D {
            #[serde(default, deserialize_with = "date_opt")]
            d: Option<NaiveDate>,
        }
        let d: D = serde_json::from_str(r#"{"d":"2022-09-23T00:00:00.000Z"}"#).unwrap();
        assert_eq!(d.d, NaiveDate::from_ymd_opt(2022, 9, 23));
        let d: D = serde_json::from_str(r#"{"d":null}"#).unwrap();
        assert_eq!(d.d, None);
        assert!(serde_json::from_str::<D>(r#"{"d":"yesterday"}"#).is_err());
    }
}
