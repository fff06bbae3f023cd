//! Owns the sandbox's webhook signing keys, as Ponto holds its own: RSA-4096 keys (aws-lc-rs
//! generates one in well under a second), the key set served at the root `/webhooks/keys` (with
//! Ponto's stray `=` after `n`), rotation on command, and signing a given body exactly as Ponto
//! does — a compact JWS, RS512, `{iss, aud, iat, exp = iat + 60, jti, digest}`.

use super::SandboxState;
use super::control_tx::{bad, missing};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::json;
use std::sync::{Arc, OnceLock};

/// The sandbox's first `kid` (Ponto's sandbox uses this name; never hard-code it elsewhere).
pub const DEFAULT_KID: &str = "sandbox_events_signature_1";
/// The Ibanity application id the sandbox signs for unless told otherwise (`aud`).
pub const DEFAULT_APPLICATION_ID: &str = "sandbox-application";

#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pair: Arc<KeyPair>,
}

/// The keys Ponto's key set lists; the last one signs.
#[derive(Clone)]
pub struct Signer {
    keys: Vec<SigningKey>,
}

/// The first key of every sandbox in this process: generating RSA keys is the one slow thing
/// here, and tests start many sandboxes.
fn first_pair() -> Arc<KeyPair> {
    static FIRST: OnceLock<Arc<KeyPair>> = OnceLock::new();
    FIRST
        .get_or_init(|| Arc::new(KeyPair::generate(KeySize::Rsa4096).expect("RSA key generation")))
        .clone()
}

impl Signer {
    pub fn new(kid: &str) -> Self {
        Self {
            keys: vec![SigningKey {
                kid: kid.to_owned(),
                pair: first_pair(),
            }],
        }
    }

    pub fn current(&self) -> &SigningKey {
        self.keys.last().expect("the signer always holds a key")
    }

    /// A new key signs from now on; the others stay listed unless `drop_others`.
    pub fn rotate(&mut self, kid: String, drop_others: bool) -> Result<(), String> {
        if self.keys.iter().any(|k| k.kid == kid) {
            return Err(format!("kid {kid} is already in the key set"));
        }
        let pair = KeyPair::generate(KeySize::Rsa4096).map_err(|e| e.to_string())?;
        if drop_others {
            self.keys.clear();
        }
        self.keys.push(SigningKey {
            kid,
            pair: Arc::new(pair),
        });
        Ok(())
    }

    /// Removes a key from the set (webhooks it signed stop verifying); the last cannot go.
    pub fn remove(&mut self, kid: &str) -> Result<(), String> {
        if self.keys.len() == 1 {
            return Err("the key set must keep one key".into());
        }
        let before = self.keys.len();
        self.keys.retain(|k| k.kid != kid);
        if self.keys.len() == before {
            return Err(format!("no key {kid}"));
        }
        Ok(())
    }

    /// `{"keys": [...]}` as Ponto serves it, `n` with its stray `=`.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .keys
            .iter()
            .map(|k| {
                let public = k.pair.public_key();
                json!({
                    "alg": "RS512",
                    "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
                    "kid": k.kid,
                    "kty": "RSA",
                    "n": format!("{}=", URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero())),
                    "status": "ACTIVE",
                    "use": "sig",
                })
            })
            .collect();
        json!({ "keys": keys })
    }

    /// The `Signature` header value for `body`.
    pub fn sign(&self, body: &[u8], claims: &Claims) -> String {
        use sha2::Digest;
        let key = self.current();
        let header = json!({"alg": "RS512", "kid": key.kid});
        let digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(body));
        let payload = json!({
            "aud": claims.aud, "digest": digest, "exp": claims.exp, "iat": claims.iat,
            "iss": claims.iss, "jti": uuid::Uuid::new_v4().to_string(),
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let mut signature = vec![0u8; key.pair.public_modulus_len()];
        key.pair
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA512,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .expect("RSA signing");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// `GET /webhooks/keys` (at the root, as at Ibanity).
pub(crate) async fn keys(State(s): State<SandboxState>) -> Response {
    s.world
        .lock()
        .expect("sandbox state")
        .stats
        .webhook_key_requests += 1;
    let jwks = s.signer.read().expect("signer").jwks();
    Json(jwks).into_response()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Rotation {
    kid: Option<String>,
    drop_previous: bool,
}

/// `POST /_sandbox/webhooks/keys/rotate` `{kid?, dropPrevious?}`.
pub(crate) async fn rotate(
    State(s): State<SandboxState>,
    body: Option<Json<Rotation>>,
) -> Response {
    let r = body.map(|b| b.0).unwrap_or_default();
    let kid = r
        .kid
        .unwrap_or_else(|| format!("sandbox_events_signature_{}", uuid::Uuid::new_v4().simple()));
    // Key generation takes a moment: not under the lock.
    let mut next = s.signer.read().expect("signer").clone();
    if let Err(e) = next.rotate(kid.clone(), r.drop_previous) {
        return bad(e);
    }
    *s.signer.write().expect("signer") = next;
    (StatusCode::CREATED, Json(json!({"kid": kid}))).into_response()
}

/// `DELETE /_sandbox/webhooks/keys/{kid}`.
pub(crate) async fn remove(State(s): State<SandboxState>, Path(kid): Path<String>) -> Response {
    match s.signer.write().expect("signer").remove(&kid) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) if e.starts_with("no key") => missing("key"),
        Err(e) => bad(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SignParams {
    aud: Option<String>,
    iss: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
}

/// `POST /_sandbox/webhooks/sign?aud=&iss=&iat=&exp=` with the body to sign, byte for byte →
/// `{signature, kid}`. Defaults: our application id, the sandbox's root as `iss`, now, now + 60.
pub(crate) async fn sign(
    State(s): State<SandboxState>,
    Query(p): Query<SignParams>,
    body: Bytes,
) -> Response {
    let now = s.world.lock().expect("sandbox state").now().timestamp();
    let iat = p.iat.unwrap_or(now);
    let claims = Claims {
        iss: p.iss.unwrap_or_else(|| s.base_url.clone()),
        aud: p.aud.unwrap_or_else(|| DEFAULT_APPLICATION_ID.into()),
        iat,
        exp: p.exp.unwrap_or(iat + 60),
    };
    let signer = s.signer.read().expect("signer");
    let signature = signer.sign(&body, &claims);
    Json(json!({"signature": signature, "kid": signer.current().kid})).into_response()
}
