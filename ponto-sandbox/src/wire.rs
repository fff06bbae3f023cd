//! Owns the sandbox's own small codecs: exact amounts and dates in control-API input, the
//! IBAN check digits and the PKCE challenge. Written here on purpose rather than shared with
//! ponto-bridge's client, so a mistake on one side cannot be mirrored by the other and hide.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// An amount as written, number or string, without passing through a float.
pub fn exact_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    decimal_from(<&RawValue>::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// Like [`exact_decimal`]; absent or `null` is `None`.
pub fn exact_decimal_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    match <Option<&RawValue>>::deserialize(d)? {
        Some(raw) if raw.get() != "null" => decimal_from(raw)
            .map(Some)
            .map_err(serde::de::Error::custom),
        _ => Ok(None),
    }
}

fn decimal_from(raw: &RawValue) -> Result<Decimal, String> {
    let json = raw.get().trim();
    let text = match json.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"').ok_or("unterminated string")?,
        None => json,
    };
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str_exact(text)
    }
    .map_err(|e| format!("not an exact amount ({text}): {e}"))
}

/// A `YYYY-MM-DD` date, or the date part of a timestamp; absent or `null` is `None`.
pub fn date_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    let Some(text) = <Option<String>>::deserialize(d)? else {
        return Ok(None);
    };
    text.get(..10)
        .and_then(|day| NaiveDate::parse_from_str(day, "%Y-%m-%d").ok())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("not a date: {text}")))
}

/// The remainder modulo 97 of a string of digits, read digit by digit (ISO 7064).
pub fn mod97(digits: &str) -> u32 {
    digits
        .bytes()
        .map(|b| u32::from(b - b'0'))
        .fold(0, |r, d| (r * 10 + d) % 97)
}

/// `BASE64URL(SHA-256(verifier))`, RFC 7636's `S256` method.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn iban_check_digits() {
        // BE68 5390 0754 7034: BBAN then "BE" as 1114 and the check digits.
        assert_eq!(mod97("539007547034111468"), 1);
        assert_eq!(98 - mod97("539007547034111400"), 68);
    }

    #[test]
    fn amounts_stay_exact() {
        #[derive(Deserialize)]
        struct A {
            #[serde(deserialize_with = "exact_decimal")]
            a: Decimal,
        }
        for (json, text) in [
            (r#"{"a": 0.1}"#, "0.1"),
            (r#"{"a": "12.30"}"#, "12.30"),
            (r#"{"a": 1E+2}"#, "100"),
        ] {
            let a: A = serde_json::from_str(json).unwrap();
            assert_eq!(a.a.to_string(), text, "{json}");
        }
        assert!(serde_json::from_str::<A>(r#"{"a": "ten"}"#).is_err());
    }
}
