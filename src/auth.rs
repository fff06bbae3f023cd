//! Owns caller authentication: verifying `Authorization: Bearer <JWT>` tokens and minting
//! development tokens.
//!
//! Algorithms are an allow-list tied to the configured keys: HS256 only with the shared
//! secret, RS256/ES256 only with the configured public key, never `none`, so an HS256 token
//! keyed with the public key cannot pass. `exp`/`nbf` are checked against our `Clock` with an
//! explicit leeway (≤ 60 s); `iss` and `aud` must match.

use crate::clock::SharedClock;
use crate::config::{Environment, Settings};
use crate::domain::scope::{Scope, parse_scopes};
use crate::error::{AppError, AppResult};
use crate::keyfile;
use crate::secret::Secret;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// File in the data directory holding the generated development HS256 secret.
pub const DEV_SECRET_FILE: &str = "jwt-hs256.secret";

/// A verified caller: which organization (by the claim's value), who, and with which scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub organization: String,
    /// The organization's display name (`org_name`), shown on pages a user confirms.
    pub organization_name: Option<String>,
    pub subject: Option<String>,
    pub scopes: BTreeSet<Scope>,
    /// The last second (Unix time) the token is accepted: its `exp` plus the leeway.
    pub valid_until: i64,
}

pub struct Authenticator {
    hs256: Option<(DecodingKey, Secret)>,
    public: Option<(DecodingKey, Algorithm)>,
    issuer: String,
    audience: String,
    org_claim: String,
    leeway_secs: i64,
    clock: SharedClock,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("hs256", &self.hs256.is_some())
            .field("public_key", &self.public.as_ref().map(|(_, alg)| *alg))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Resolves the HS256 secret: configured, or (development only) generated into the data
/// directory. `None` when a public key alone is configured.
pub fn hs256_secret(settings: &Settings) -> AppResult<Option<Secret>> {
    if let Some(secret) = &settings.jwt_hs256_secret {
        return keyfile::check_hs256_secret(secret.expose())
            .map(Some)
            .map_err(|why| AppError::bad_input(format!("PB_JWT_HS256_SECRET {why}")));
    }
    if settings.jwt_public_key_file.is_some() {
        return Ok(None);
    }
    match settings.environment {
        Environment::Production => Err(AppError::bad_input(
            "no token key configured: set PB_JWT_HS256_SECRET or PB_JWT_PUBLIC_KEY_FILE (required outside development)",
        )),
        Environment::Development => {
            let (secret, created) = keyfile::load_or_create(
                &settings.data_dir,
                DEV_SECRET_FILE,
                keyfile::random_secret,
                keyfile::check_hs256_secret,
            )?;
            if created {
                tracing::warn!(
                    file = %settings.data_dir.join(DEV_SECRET_FILE).display(),
                    "generated a development JWT secret; configure PB_JWT_HS256_SECRET in production"
                );
            }
            Ok(Some(secret))
        }
    }
}

impl Authenticator {
    pub fn from_settings(settings: &Settings, clock: SharedClock) -> AppResult<Self> {
        let hs256 =
            hs256_secret(settings)?.map(|s| (DecodingKey::from_secret(s.expose().as_bytes()), s));
        let public = match &settings.jwt_public_key_file {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    AppError::bad_input(format!(
                        "cannot read PB_JWT_PUBLIC_KEY_FILE {}: {e}",
                        path.display()
                    ))
                })?;
                Some(public_key(&pem)?)
            }
        };
        Ok(Self {
            hs256,
            public,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            org_claim: settings.jwt_org_claim.clone(),
            leeway_secs: settings.jwt_leeway_secs as i64,
            clock,
        })
    }

    /// Verifies a bearer token. Every failure is `Unauthenticated` with a reason safe to show.
    pub fn verify(&self, token: &str) -> AppResult<Claims> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| unauthenticated("malformed token"))?;
        let key = match (header.alg, &self.hs256, &self.public) {
            (Algorithm::HS256, Some((key, _)), _) => key,
            (alg, _, Some((key, allowed))) if alg == *allowed => key,
            _ => return Err(unauthenticated("token algorithm not accepted")),
        };
        let mut validation = Validation::new(header.alg);
        // Time is checked below against our Clock, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind::*;
                match e.kind() {
                    InvalidIssuer => unauthenticated("wrong token issuer"),
                    InvalidAudience => unauthenticated("wrong token audience"),
                    MissingRequiredClaim(c) => {
                        unauthenticated(&format!("token lacks the {c} claim"))
                    }
                    _ => unauthenticated("invalid token signature or claims"),
                }
            })?;
        let claims = data.claims;
        let now = self.clock.now().timestamp();
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| unauthenticated("invalid exp claim"))?;
        if now > exp + self.leeway_secs {
            return Err(unauthenticated("token expired"));
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf
                .as_i64()
                .ok_or_else(|| unauthenticated("invalid nbf claim"))?;
            if now + self.leeway_secs < nbf {
                return Err(unauthenticated("token not valid yet"));
            }
        }
        let organization = match claims.get(&self.org_claim) {
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 255 => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(unauthenticated(&format!(
                    "token lacks the {} claim",
                    self.org_claim
                )));
            }
        };
        let scopes = match (claims.get("scope"), claims.get("scopes")) {
            (Some(Value::String(s)), _) => parse_scopes(s),
            (_, Some(Value::Array(list))) => list
                .iter()
                .filter_map(Value::as_str)
                .filter_map(Scope::parse)
                .collect(),
            _ => BTreeSet::new(),
        };
        let subject = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
        let organization_name = claims
            .get("org_name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty() && n.chars().count() <= 200)
            .map(str::to_owned);
        Ok(Claims {
            organization,
            organization_name,
            subject,
            scopes,
            valid_until: exp + self.leeway_secs,
        })
    }

    /// Signs a development token with the HS256 secret (`ponto-bridge token`, tests, `demo`).
    pub fn mint_hs256(
        &self,
        organization: &str,
        scopes: &[Scope],
        subject: &str,
        ttl_secs: i64,
    ) -> AppResult<String> {
        self.mint_hs256_named(organization, None, scopes, subject, ttl_secs)
    }

    /// [`Authenticator::mint_hs256`] with the organization's display name (`org_name`).
    pub fn mint_hs256_named(
        &self,
        organization: &str,
        organization_name: Option<&str>,
        scopes: &[Scope],
        subject: &str,
        ttl_secs: i64,
    ) -> AppResult<String> {
        let (_, secret) = self
            .hs256
            .as_ref()
            .ok_or_else(|| AppError::bad_input("no HS256 secret configured to sign tokens with"))?;
        let now = self.clock.now().timestamp();
        let scope = scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let mut claims = serde_json::json!({
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "exp": now + ttl_secs,
            &self.org_claim: organization,
            "scope": scope,
        });
        if let Some(name) = organization_name {
            claims["org_name"] = name.into();
        }
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.expose().as_bytes()),
        )
        .map_err(AppError::internal)
    }
}

fn public_key(pem: &[u8]) -> AppResult<(DecodingKey, Algorithm)> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok((key, Algorithm::RS256));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        return Ok((key, Algorithm::ES256));
    }
    Err(AppError::bad_input(
        "PB_JWT_PUBLIC_KEY_FILE holds neither an RSA nor an EC public key in PEM",
    ))
}

fn unauthenticated(reason: &str) -> AppError {
    AppError::Unauthenticated(reason.to_owned())
}
