//! Owns encryption at rest: AES-256-GCM with a key ring. A ciphertext is
//! `key id (4 bytes, big endian) ‖ nonce (12 bytes) ‖ sealed data`, and the associated data binds
//! it to its table, column, row and organization, so a ciphertext copied elsewhere fails to open.
//!
//! Keys come from `PB_ENCRYPTION_KEYS` (`kid:base64key` pairs, comma-separated, the first being
//! current) or, on the embedded default, from a file generated once into the data directory.

use crate::config::{Environment, Settings};
use crate::error::{AppError, AppResult};
use crate::secret::Secret;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use uuid::Uuid;

/// Data-directory file with the development key ring: one `kid base64key` per line, the last
/// line current.
pub const DEV_KEY_FILE: &str = "encryption.keys";
const NONCE_LEN: usize = 12;

/// Where a ciphertext belongs. Opening it anywhere else fails.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row: Uuid,
    pub organization: Uuid,
}

impl Binding<'_> {
    fn aad(&self) -> Vec<u8> {
        format!(
            "ponto-bridge/v1|{}|{}|{}|{}",
            self.table, self.column, self.row, self.organization
        )
        .into_bytes()
    }
}

pub struct KeyRing {
    current: u32,
    keys: BTreeMap<u32, Aes256Gcm>,
    /// Where the ring lives when it was generated for development (rotation appends there).
    dev_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn parse_key(b64: &str) -> AppResult<Aes256Gcm> {
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|_| AppError::bad_input("an encryption key is not base64"))?;
    Aes256Gcm::new_from_slice(&bytes)
        .map_err(|_| AppError::bad_input("an encryption key must be 32 bytes (256 bits)"))
}

fn random_key() -> String {
    let mut k = [0u8; 32];
    rand::rng().fill_bytes(&mut k);
    STANDARD.encode(k)
}

impl KeyRing {
    /// Parses `kid:base64,kid:base64,…`; the first entry is the current key.
    pub fn parse(spec: &str) -> AppResult<Self> {
        let mut keys = BTreeMap::new();
        let mut current = None;
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, key) = entry.split_once(':').ok_or_else(|| {
                AppError::bad_input("PB_ENCRYPTION_KEYS entries are kid:base64key")
            })?;
            let kid: u32 = kid
                .parse()
                .map_err(|_| AppError::bad_input("an encryption key id is a number"))?;
            if keys.insert(kid, parse_key(key)?).is_some() {
                return Err(AppError::bad_input("duplicate encryption key id"));
            }
            current.get_or_insert(kid);
        }
        let current =
            current.ok_or_else(|| AppError::bad_input("PB_ENCRYPTION_KEYS holds no key"))?;
        Ok(Self {
            current,
            keys,
            dev_file: None,
        })
    }

    /// The configured ring, or (development only) the one generated into the data directory.
    pub fn from_settings(settings: &Settings) -> AppResult<Self> {
        if let Some(spec) = &settings.encryption_keys {
            return Self::parse(spec.expose());
        }
        if settings.environment == Environment::Production {
            return Err(AppError::bad_input(
                "PB_ENCRYPTION_KEYS is required outside development",
            ));
        }
        Self::load_dev(&settings.data_dir)
    }

    fn load_dev(dir: &Path) -> AppResult<Self> {
        let (mut ring, created) = crate::keyfile::load_or_create(
            dir,
            DEV_KEY_FILE,
            || format!("1 {}\n", random_key()),
            Self::parse_dev,
        )?;
        if created {
            tracing::warn!(file = %dir.join(DEV_KEY_FILE).display(), "generated a development encryption key; configure PB_ENCRYPTION_KEYS in production");
        }
        ring.dev_file = Some(dir.join(DEV_KEY_FILE));
        Ok(ring)
    }

    /// The development key file: one `kid base64key` per line, the last line current.
    fn parse_dev(text: &str) -> Result<Self, String> {
        let mut keys = BTreeMap::new();
        let mut current = None;
        for (n, line) in text.lines().map(str::trim).enumerate() {
            if line.is_empty() {
                continue;
            }
            let malformed = || format!("line {} is not `<key id> <base64 key>`", n + 1);
            let (kid, key) = line.split_once(' ').ok_or_else(malformed)?;
            let kid: u32 = kid.parse().map_err(|_| malformed())?;
            let key = parse_key(key).map_err(|e| format!("line {}: {e}", n + 1))?;
            keys.insert(kid, key);
            current = Some(kid);
        }
        let current = current.ok_or("is empty")?;
        Ok(Self {
            current,
            keys,
            dev_file: None,
        })
    }

    pub fn current_kid(&self) -> u32 {
        self.current
    }

    /// For a development ring: adds a fresh key, makes it current and saves the ring.
    pub fn add_dev_key(&mut self) -> AppResult<u32> {
        let path = self.dev_file.clone().ok_or_else(|| {
            AppError::bad_input("keys come from PB_ENCRYPTION_KEYS: put the new key first there, then run `keys rotate`")
        })?;
        let kid = self.keys.keys().max().copied().unwrap_or(0) + 1;
        let key = random_key();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(AppError::internal)?;
        writeln!(f, "{kid} {key}").map_err(AppError::internal)?;
        f.sync_all().map_err(AppError::internal)?;
        self.keys.insert(kid, parse_key(&key)?);
        self.current = kid;
        Ok(kid)
    }

    pub fn seal(&self, plaintext: &[u8], binding: Binding<'_>) -> AppResult<Vec<u8>> {
        let cipher = &self.keys[&self.current];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &binding.aad(),
                },
            )
            .map_err(|_| AppError::internal("encryption failed"))?;
        let mut out = Vec::with_capacity(4 + NONCE_LEN + sealed.len());
        out.extend_from_slice(&self.current.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, ciphertext: &[u8], binding: Binding<'_>) -> AppResult<Vec<u8>> {
        if ciphertext.len() < 4 + NONCE_LEN + 16 {
            return Err(AppError::internal("ciphertext too short"));
        }
        let kid = u32::from_be_bytes(ciphertext[..4].try_into().expect("4 bytes"));
        let cipher = self
            .keys
            .get(&kid)
            .ok_or_else(|| AppError::internal(format!("no encryption key {kid}")))?;
        let nonce = Nonce::from_slice(&ciphertext[4..4 + NONCE_LEN]);
        cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &ciphertext[4 + NONCE_LEN..],
                    aad: &binding.aad(),
                },
            )
            .map_err(|_| {
                AppError::internal("ciphertext does not open here (wrong key, row or organization)")
            })
    }

    pub fn seal_secret(&self, secret: &Secret, binding: Binding<'_>) -> AppResult<Vec<u8>> {
        self.seal(secret.expose().as_bytes(), binding)
    }

    pub fn open_secret(&self, ciphertext: &[u8], binding: Binding<'_>) -> AppResult<Secret> {
        let bytes = self.open(ciphertext, binding)?;
        String::from_utf8(bytes)
            .map(Secret::new)
            .map_err(|_| AppError::internal("sealed secret is not UTF-8"))
    }

    /// The key id a ciphertext was sealed with.
    pub fn kid_of(ciphertext: &[u8]) -> Option<u32> {
        ciphertext
            .get(..4)
            .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")))
    }
}

/// What a key rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rotated {
    /// Re-encrypted under the current key.
    pub rotated: usize,
    /// Rewritten by someone else between the read and the apply step (a token refresh): left as
    /// they are.
    pub changed_meanwhile: usize,
    /// Still not under the current key after the last pass (rewritten under an old key by an
    /// instance that does not have the new one yet).
    pub remaining: usize,
}

/// Key rotation, step 1: every sealed value not under the current key.
pub async fn rotate_read(
    store: &crate::store::Store,
    ring: &KeyRing,
) -> AppResult<Vec<crate::store::secrets::SealedValue>> {
    Ok(store
        .sealed_values()
        .await?
        .into_iter()
        .filter(|v| KeyRing::kid_of(&v.value) != Some(ring.current))
        .collect())
}

/// Key rotation, step 2: re-encrypts what step 1 read, each value only if it is still the one
/// read (compare-and-swap), so a refresh committed in between survives.
pub async fn rotate_apply(
    store: &crate::store::Store,
    ring: &KeyRing,
    stale: &[crate::store::secrets::SealedValue],
) -> AppResult<Rotated> {
    let mut done = Rotated::default();
    let mut tx = store.begin_write().await?;
    for v in stale {
        let binding = Binding {
            table: v.table,
            column: v.column,
            row: v.row,
            organization: v.organization,
        };
        let plain = ring.open(&v.value, binding)?;
        if tx.replace_sealed(v, ring.seal(&plain, binding)?).await? {
            done.rotated += 1;
        } else {
            done.changed_meanwhile += 1;
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// Re-encrypts every sealed value not under the current key (both steps), again for values
/// rewritten meanwhile, a few passes at most; `remaining` counts what is still not current.
pub async fn rotate(store: &crate::store::Store, ring: &KeyRing) -> AppResult<Rotated> {
    let mut total = Rotated::default();
    for _ in 0..3 {
        let stale = rotate_read(store, ring).await?;
        let pass = rotate_apply(store, ring, &stale).await?;
        total.rotated += pass.rotated;
        total.changed_meanwhile += pass.changed_meanwhile;
        if pass.changed_meanwhile == 0 {
            break;
        }
    }
    total.remaining = rotate_read(store, ring).await?.len();
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(row: Uuid, org: Uuid) -> Binding<'static> {
        Binding {
            table: "ponto_connection",
            column: "refresh_token_enc",
            row,
            organization: org,
        }
    }

    #[test]
    fn sealed_data_opens_only_where_it_belongs() {
        let ring = KeyRing::parse(&format!("7:{}", random_key())).unwrap();
        let (row, org) = (Uuid::now_v7(), Uuid::now_v7());
        let c = ring.seal(b"refresh-token", b(row, org)).unwrap();
        assert_eq!(KeyRing::kid_of(&c), Some(7));
        assert!(
            !c.windows(13).any(|w| w == b"refresh-token"),
            "no plaintext inside"
        );
        assert_eq!(ring.open(&c, b(row, org)).unwrap(), b"refresh-token");
        assert!(
            ring.open(&c, b(Uuid::now_v7(), org)).is_err(),
            "another row"
        );
        assert!(
            ring.open(&c, b(row, Uuid::now_v7())).is_err(),
            "another organization"
        );
        let other_column = Binding {
            column: "access_token_enc",
            ..b(row, org)
        };
        assert!(ring.open(&c, other_column).is_err(), "another column");
        let mut tampered = c.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(ring.open(&tampered, b(row, org)).is_err());
        assert_ne!(
            ring.seal(b"x", b(row, org)).unwrap(),
            ring.seal(b"x", b(row, org)).unwrap(),
            "fresh nonces"
        );
    }

    #[test]
    fn old_keys_still_open_and_bad_specs_are_refused() {
        let (k1, k2) = (random_key(), random_key());
        let old = KeyRing::parse(&format!("1:{k1}")).unwrap();
        let (row, org) = (Uuid::now_v7(), Uuid::now_v7());
        let c = old.seal(b"t", b(row, org)).unwrap();
        let ring = KeyRing::parse(&format!("2:{k2},1:{k1}")).unwrap();
        assert_eq!(ring.current_kid(), 2);
        assert_eq!(ring.open(&c, b(row, org)).unwrap(), b"t");
        assert!(KeyRing::parse("").is_err());
        assert!(KeyRing::parse("1:short").is_err());
        assert!(KeyRing::parse(&format!("x:{k1}")).is_err());
        assert!(KeyRing::parse(&format!("1:{k1},1:{k2}")).is_err());
        assert!(!format!("{ring:?}").contains(&k1));
    }

    #[test]
    fn development_ring_is_generated_once_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = KeyRing::load_dev(dir.path()).unwrap();
        let (row, org) = (Uuid::now_v7(), Uuid::now_v7());
        let c = ring.seal(b"t", b(row, org)).unwrap();
        assert_eq!(ring.add_dev_key().unwrap(), 2);
        let reloaded = KeyRing::load_dev(dir.path()).unwrap();
        assert_eq!(reloaded.current_kid(), 2);
        assert_eq!(reloaded.open(&c, b(row, org)).unwrap(), b"t");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DEV_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
