//! The official vector (vendored) and each of its must-fail variants.

use super::*;
use serde_json::Value;

const VECTOR: &str = include_str!("../../../tests/fixtures/ponto/webhook-test-vector.json");

struct Vector {
    body: String,
    signature: String,
    keys: KeySet,
    jwks: JwkSet,
    expected: Expected,
    from: i64,
    to: i64,
    claims: WebhookClaims,
}

fn vector() -> Vector {
    let v: Value = serde_json::from_str(VECTOR).unwrap();
    let jwks: JwkSet = serde_json::from_value(v["jwks"].clone()).unwrap();
    Vector {
        body: v["body"].as_str().unwrap().to_owned(),
        signature: v["signature_header"].as_str().unwrap().to_owned(),
        keys: KeySet::from_jwks(&jwks),
        jwks,
        expected: Expected {
            issuer: v["expected_issuer"].as_str().unwrap().to_owned(),
            audience: v["expected_audience"].as_str().unwrap().to_owned(),
        },
        from: v["verifies_at_unix_seconds"]["from"].as_i64().unwrap(),
        to: v["verifies_at_unix_seconds"]["to"].as_i64().unwrap(),
        claims: serde_json::from_value(v["claims"].clone()).unwrap(),
    }
}

fn check(v: &Vector, signature: &str, body: &str, now: i64) -> Result<WebhookClaims, Rejection> {
    verify_with_set(signature, body.as_bytes(), &v.keys, &v.expected, now)
}

#[test]
fn the_official_vector_verifies_inside_its_window() {
    let v = vector();
    assert_eq!(v.keys.len(), 1, "the stray '=' in n is decoded leniently");
    for now in [v.from, (v.from + v.to) / 2, v.to] {
        assert_eq!(check(&v, &v.signature, &v.body, now), Ok(v.claims.clone()));
    }
    assert_eq!(body_digest(v.body.as_bytes()), v.claims.digest);
}

#[test]
fn outside_the_window_it_fails_with_the_right_reason() {
    let v = vector();
    assert_eq!(
        check(&v, &v.signature, &v.body, v.to + 1),
        Err(Rejection::Expired)
    );
    assert_eq!(
        check(&v, &v.signature, &v.body, v.from - 1),
        Err(Rejection::IssuedInFuture)
    );
}

#[test]
fn any_changed_body_byte_is_a_digest_mismatch() {
    let v = vector();
    let now = v.from + 60;
    let mut altered = v.body.clone().into_bytes();
    altered[40] ^= 1;
    let altered = String::from_utf8(altered).unwrap();
    assert_eq!(
        check(&v, &v.signature, &altered, now),
        Err(Rejection::DigestMismatch)
    );
    assert_eq!(
        check(&v, &v.signature, &format!("{}\n", v.body), now),
        Err(Rejection::DigestMismatch),
        "a trailing newline is part of the body"
    );
    assert_eq!(
        check(&v, &v.signature, &format!("{}altered", v.body), now),
        Err(Rejection::DigestMismatch)
    );
}

#[test]
fn a_changed_signature_character_fails() {
    let v = vector();
    let now = v.from + 60;
    let sig_start = v.signature.rfind('.').unwrap() + 1;
    let mut bytes = v.signature.clone().into_bytes();
    let i = sig_start + 100;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(bytes).unwrap();
    assert_eq!(
        check(&v, &forged, &v.body, now),
        Err(Rejection::SignatureInvalid)
    );
    assert_eq!(
        check(&v, &format!("{}altered", v.signature), &v.body, now),
        Err(Rejection::SignatureInvalid)
    );
    // A payload changed under the original signature.
    let parts: Vec<&str> = v.signature.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["exp"] = Value::from(4_102_444_800i64);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(
        check(&v, &forged, &v.body, now),
        Err(Rejection::SignatureInvalid)
    );
}

#[test]
fn another_audience_or_issuer_fails() {
    let v = vector();
    let now = v.from + 60;
    let mut other = vector();
    other.expected.audience = "00000000-0000-0000-0000-000000000000".into();
    assert_eq!(
        check(&other, &v.signature, &v.body, now),
        Err(Rejection::AudienceInvalid)
    );
    other = vector();
    other.expected.issuer = "https://api.ibanity.com/".into();
    assert_eq!(
        check(&other, &v.signature, &v.body, now),
        Err(Rejection::IssuerInvalid)
    );
}

#[test]
fn a_key_set_without_the_kid_fails() {
    let v = vector();
    let empty = Vector {
        keys: KeySet::default(),
        ..vector()
    };
    assert_eq!(
        check(&empty, &v.signature, &v.body, v.from + 60),
        Err(Rejection::UnknownKid)
    );
    let mut jwks = v.jwks.clone();
    jwks.keys[0].kid = "another".into();
    let renamed = Vector {
        keys: KeySet::from_jwks(&jwks),
        ..vector()
    };
    assert_eq!(
        check(&renamed, &v.signature, &v.body, v.from + 60),
        Err(Rejection::UnknownKid)
    );
    let mut jwks = v.jwks.clone();
    jwks.keys[0].status = Some("INACTIVE".into());
    assert!(KeySet::from_jwks(&jwks).is_empty(), "only ACTIVE keys");
}

#[test]
fn other_algorithms_are_refused_before_any_key_is_used() {
    use hmac::{Hmac, Mac};
    let v = vector();
    let now = v.from + 60;
    let payload = v.signature.split('.').nth(1).unwrap();
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"sandbox_events_signature_1"}"#)
    );
    assert_eq!(
        check(&v, &none, &v.body, now),
        Err(Rejection::AlgorithmNotAllowed)
    );
    // HS512 keyed with the public key (its n, and its JWK JSON): the classic confusion attack.
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512","kid":"sandbox_events_signature_1"}"#);
    for secret in [
        v.jwks.keys[0].n.clone(),
        serde_json::to_string(&v.jwks.keys[0]).unwrap(),
    ] {
        let mut mac = Hmac::<sha2::Sha512>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{header}.{payload}").as_bytes());
        let forged = format!(
            "{header}.{payload}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(
            check(&v, &forged, &v.body, now),
            Err(Rejection::AlgorithmNotAllowed)
        );
    }
    assert_eq!(
        check(&v, "", &v.body, now),
        Err(Rejection::SignatureMissing)
    );
    assert_eq!(
        check(&v, "not-a-jws", &v.body, now),
        Err(Rejection::SignatureMalformed)
    );
}

#[test]
fn reasons_have_distinct_stable_codes() {
    let codes: std::collections::HashSet<_> = Rejection::ALL.iter().map(|r| r.code()).collect();
    assert_eq!(codes.len(), Rejection::ALL.len());
}
