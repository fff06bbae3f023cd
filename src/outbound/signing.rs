//! Owns Standard Webhooks signing: endpoint secrets (`whsec_` + base64 of 32 random bytes,
//! redacted in `Debug`) and the `webhook-signature` value, `v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`, one per live secret during a rotation.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::fmt;

const PREFIX: &str = "whsec_";
const KEY_BYTES: usize = 32;

/// An endpoint's signing key. Only [`SigningSecret::reveal`] shows it, once, to its creator.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl SigningSecret {
    pub fn generate() -> Self {
        let mut key = vec![0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut key);
        Self(key)
    }

    /// Reads `whsec_<base64>` (the form [`SigningSecret::reveal`] writes); `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        let key = STANDARD.decode(s.strip_prefix(PREFIX)?).ok()?;
        (!key.is_empty()).then_some(Self(key))
    }

    /// The `whsec_…` form subscribers configure their verifier with.
    pub fn reveal(&self) -> crate::secret::Secret {
        crate::secret::Secret::new(format!("{PREFIX}{}", STANDARD.encode(&self.0)))
    }

    /// `v1,<signature>` of one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// The `webhook-signature` header: one signature per secret, space-separated, the current
/// secret's first. Receivers accept the message when any of them verifies.
pub fn signature_header(
    secrets: &[&SigningSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use proptest::prelude::*;

    fn headers(id: &str, ts: i64, signature: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("webhook-id", id.parse().unwrap());
        h.insert("webhook-timestamp", ts.to_string().parse().unwrap());
        h.insert("webhook-signature", signature.parse().unwrap());
        h
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn the_reference_library_verifies_what_we_sign() {
        let secret = SigningSecret::generate();
        let wh = standardwebhooks::Webhook::new(secret.reveal().expose()).unwrap();
        let body = br#"{"type":"invoice.paid","timestamp":"2026-01-01T00:00:00Z","data":{}}"#;
        let ts = now();
        let sig = signature_header(&[&secret], "evt_1", ts, body);
        wh.verify(body, &headers("evt_1", ts, &sig)).unwrap();
        // And computes the same signature itself.
        let theirs = wh.sign("evt_1", ts, body).unwrap();
        assert_eq!(sig, theirs);
    }

    #[test]
    fn during_a_rotation_both_secrets_verify() {
        let (new, old) = (SigningSecret::generate(), SigningSecret::generate());
        let body = b"{}";
        let ts = now();
        let sig = signature_header(&[&new, &old], "evt_2", ts, body);
        assert_eq!(sig.split(' ').count(), 2);
        for s in [&new, &old] {
            let wh = standardwebhooks::Webhook::new(s.reveal().expose()).unwrap();
            wh.verify(body, &headers("evt_2", ts, &sig)).unwrap();
        }
        let stranger = SigningSecret::generate();
        let wh = standardwebhooks::Webhook::new(stranger.reveal().expose()).unwrap();
        assert!(wh.verify(body, &headers("evt_2", ts, &sig)).is_err());
    }

    #[test]
    fn secrets_round_trip_and_never_show_in_debug() {
        let s = SigningSecret::generate();
        let shown = s.reveal();
        assert!(shown.expose().starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(shown.expose()), Some(s.clone()));
        assert_eq!(format!("{s:?}"), "SigningSecret(<redacted>)");
        assert_eq!(SigningSecret::parse("whsec_"), None);
        assert_eq!(SigningSecret::parse("nope"), None);
    }

    proptest! {
        /// Any single changed bit of the body, the id or the timestamp fails verification (the
        /// bodies are text, as ours are: the reference library refuses anything else, which
        /// would make a forged body fail for the wrong reason).
        #[test]
        fn a_single_changed_bit_fails(body in "[ -~]{1,300}", bit in any::<usize>(), which in 0..3usize) {
            let secret = SigningSecret::generate();
            let wh = standardwebhooks::Webhook::new(secret.reveal().expose()).unwrap();
            let ts = now();
            let sig = secret.sign("evt_3", ts, body.as_bytes());
            // Positive control: unchanged, it verifies.
            prop_assert!(wh.verify(body.as_bytes(), &headers("evt_3", ts, &sig)).is_ok());
            let (mut b, mut id, mut t) = (body.into_bytes(), "evt_3".to_owned(), ts);
            match which {
                // Bits 0-6 keep the byte ASCII, so the body stays text.
                0 => { let i = bit % b.len(); b[i] ^= 1 << (bit % 7); }
                1 => { let mut bytes = id.into_bytes(); bytes[bit % 5] ^= 1 << (bit % 4); id = String::from_utf8(bytes).unwrap(); }
                _ => t ^= 1,
            }
            let forged = headers(&id, t, &sig);
            prop_assert!(wh.verify(&b, &forged).is_err());
        }
    }
}
