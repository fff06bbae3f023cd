//! Owns verifying Ponto's webhook `Signature` exactly as Ibanity's SDKs do: a compact JWS signed
//! RS512 with the key named by `kid`; `iss` = the API root, `aud` = our Ibanity application id,
//! `iat ≤ now + 30 s`, `exp ≥ now − 30 s` against our clock, and `digest` = base64 SHA-512 of
//! the raw body bytes (compared in constant time). Pure: the key set is handed in.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// Clock tolerance on `iat` and `exp`, in seconds (the SDKs' default).
pub const TOLERANCE_SECS: i64 = 30;

/// Why a webhook was rejected: a stable code for responses, logs, metrics and the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    SignatureMissing,
    SignatureMalformed,
    AlgorithmNotAllowed,
    UnknownKid,
    SignatureInvalid,
    IssuerInvalid,
    AudienceInvalid,
    IssuedInFuture,
    Expired,
    DigestMismatch,
    /// The key set could not be fetched and none is cached: not the sender's fault.
    KeysUnavailable,
    BodyTooLarge,
}

impl Rejection {
    pub const ALL: [Rejection; 12] = [
        Rejection::SignatureMissing,
        Rejection::SignatureMalformed,
        Rejection::AlgorithmNotAllowed,
        Rejection::UnknownKid,
        Rejection::SignatureInvalid,
        Rejection::IssuerInvalid,
        Rejection::AudienceInvalid,
        Rejection::IssuedInFuture,
        Rejection::Expired,
        Rejection::DigestMismatch,
        Rejection::KeysUnavailable,
        Rejection::BodyTooLarge,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Rejection::SignatureMissing => "SIGNATURE_MISSING",
            Rejection::SignatureMalformed => "SIGNATURE_MALFORMED",
            Rejection::AlgorithmNotAllowed => "ALGORITHM_NOT_ALLOWED",
            Rejection::UnknownKid => "UNKNOWN_KID",
            Rejection::SignatureInvalid => "SIGNATURE_INVALID",
            Rejection::IssuerInvalid => "ISSUER_INVALID",
            Rejection::AudienceInvalid => "AUDIENCE_INVALID",
            Rejection::IssuedInFuture => "IAT_IN_FUTURE",
            Rejection::Expired => "EXPIRED",
            Rejection::DigestMismatch => "DIGEST_MISMATCH",
            Rejection::KeysUnavailable => "KEYS_UNAVAILABLE",
            // The code every route answers a 413 with.
            Rejection::BodyTooLarge => "PAYLOAD_TOO_LARGE",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Rejection::SignatureMissing => "the Signature header is missing",
            Rejection::SignatureMalformed => "the Signature header is not a compact JWS",
            Rejection::AlgorithmNotAllowed => "only RS512 signatures are accepted",
            Rejection::UnknownKid => "the key id matches no key in Ponto's key set",
            Rejection::SignatureInvalid => "the signature does not verify",
            Rejection::IssuerInvalid => "the iss claim is not the Ponto API root",
            Rejection::AudienceInvalid => "the aud claim is not our Ibanity application id",
            Rejection::IssuedInFuture => "the iat claim lies in the future",
            Rejection::Expired => "the signature has expired",
            Rejection::DigestMismatch => "the digest claim does not match the body",
            Rejection::KeysUnavailable => "Ponto's webhook keys could not be fetched",
            Rejection::BodyTooLarge => "the body is over the webhook size limit",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

/// A JSON Web Key as `/webhooks/keys` serves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwk {
    pub kid: String,
    pub kty: String,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    pub n: String,
    pub e: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// Decodes base64url leniently: Ponto's `n` values carry a stray `=`.
fn b64url_lenient(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim().trim_end_matches('=')).ok()
}

/// The usable signing keys of a key set, by `kid`: RSA, `use` = `sig` (when given), `status`
/// ACTIVE (when given). Keys that cannot be decoded are skipped.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, DecodingKey>,
}

impl KeySet {
    pub fn from_jwks(set: &JwkSet) -> Self {
        let keys = set
            .keys
            .iter()
            .filter(|k| k.kty == "RSA")
            .filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"))
            .filter(|k| k.status.as_deref().is_none_or(|s| s == "ACTIVE"))
            .filter_map(|k| {
                let n = b64url_lenient(&k.n)?;
                let e = b64url_lenient(&k.e)?;
                Some((k.kid.clone(), DecodingKey::from_rsa_raw_components(&n, &e)))
            })
            .collect();
        Self { keys }
    }

    pub fn parse(json: &[u8]) -> Result<Self, serde_json::Error> {
        Ok(Self::from_jwks(&serde_json::from_slice(json)?))
    }

    pub fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys.get(kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The claims of a verified signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default)]
    pub jti: Option<String>,
    pub digest: String,
}

/// What a signature must say.
#[derive(Debug, Clone)]
pub struct Expected {
    pub issuer: String,
    pub audience: String,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
}

/// The `kid` of a signature whose algorithm is RS512 (checked before any key is looked up, so
/// `none` or HS512-with-the-public-key never reach a verifier).
pub fn signing_kid(signature: &str) -> Result<String, Rejection> {
    let signature = signature.trim();
    if signature.is_empty() {
        return Err(Rejection::SignatureMissing);
    }
    let mut parts = signature.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::SignatureMalformed);
    };
    let header: Header = b64url_lenient(header)
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(Rejection::SignatureMalformed)?;
    if header.alg.as_deref() != Some("RS512") {
        return Err(Rejection::AlgorithmNotAllowed);
    }
    header.kid.ok_or(Rejection::UnknownKid)
}

/// The `digest` claim a body must carry: standard base64 (padded) of SHA-512 of its bytes.
pub fn body_digest(body: &[u8]) -> String {
    STANDARD.encode(Sha512::digest(body))
}

/// Verifies a signature over `body` with `key` (the one named by its `kid`) at `now` (unix
/// seconds).
pub fn verify(
    signature: &str,
    body: &[u8],
    key: &DecodingKey,
    expected: &Expected,
    now: i64,
) -> Result<WebhookClaims, Rejection> {
    let mut validation = Validation::new(Algorithm::RS512);
    // Time is checked below against our clock; jsonwebtoken would use the system clock with a
    // 60 s leeway and never look at `iat`.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<WebhookClaims>(signature.trim(), key, &validation)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::InvalidAlgorithm => Rejection::AlgorithmNotAllowed,
                // Signed claims that do not parse (a missing digest, say).
                K::Json(_) | K::Utf8(_) | K::MissingRequiredClaim(_) => {
                    Rejection::SignatureMalformed
                }
                // A signature that does not decode or does not match.
                _ => Rejection::SignatureInvalid,
            }
        })?
        .claims;
    if claims.iss != expected.issuer {
        return Err(Rejection::IssuerInvalid);
    }
    if claims.aud != expected.audience {
        return Err(Rejection::AudienceInvalid);
    }
    if claims.iat > now + TOLERANCE_SECS {
        return Err(Rejection::IssuedInFuture);
    }
    if claims.exp < now - TOLERANCE_SECS {
        return Err(Rejection::Expired);
    }
    let digest = body_digest(body);
    if !bool::from(digest.as_bytes().ct_eq(claims.digest.as_bytes())) {
        return Err(Rejection::DigestMismatch);
    }
    Ok(claims)
}

/// `signing_kid`, the key lookup and `verify` in one, for a fixed key set (the CLI).
pub fn verify_with_set(
    signature: &str,
    body: &[u8],
    keys: &KeySet,
    expected: &Expected,
    now: i64,
) -> Result<WebhookClaims, Rejection> {
    let kid = signing_kid(signature)?;
    let key = keys.get(&kid).ok_or(Rejection::UnknownKid)?;
    verify(signature, body, key, expected, now)
}

#[cfg(test)]
mod tests;
