//! Owns everything Ponto: the Ponto Connect client (OAuth2, accounts, transactions, retries),
//! its error codes, the exact-amount models, PKCE, and the webhook signature verifier with its
//! key cache.

pub mod client;
pub mod error;
pub mod event;
pub mod model;
pub mod sync;
pub mod transport;
pub mod webhook;
pub mod webhook_keys;

pub use client::{PontoClient, PontoConfig};
pub use error::PontoError;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh PKCE code verifier: 32 random bytes, base64url (43 characters, RFC 7636).
pub fn pkce_verifier() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 challenge of a verifier: base64url(SHA-256(verifier)) without padding.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let v = pkce_verifier();
        assert_eq!(v.len(), 43);
        assert_ne!(v, pkce_verifier());
    }
}
