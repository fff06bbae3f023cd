//! Owns development secrets kept in the data directory: generated once (256 random bits,
//! file mode 0600) on the embedded default, read back on every later start.

use crate::error::{AppError, AppResult};
use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use std::io::Write;
use std::path::Path;

/// Reads `<dir>/<name>`, or creates it with a fresh random secret. Creation is exclusive, so
/// two instances starting together agree on one secret.
pub fn load_or_generate(dir: &Path, name: &str) -> AppResult<(Secret, bool)> {
    let path = dir.join(name);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok((Secret::new(text.trim().to_owned()), false));
    }
    std::fs::create_dir_all(dir).map_err(AppError::internal)?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let value = URL_SAFE_NO_PAD.encode(bytes);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(&path) {
        Ok(mut f) => {
            f.write_all(value.as_bytes()).map_err(AppError::internal)?;
            f.sync_all().map_err(AppError::internal)?;
            Ok((Secret::new(value), true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Another process won the race; its file may still be being written.
            for _ in 0..50 {
                let text = std::fs::read_to_string(&path).map_err(AppError::internal)?;
                if !text.trim().is_empty() {
                    return Ok((Secret::new(text.trim().to_owned()), false));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(AppError::internal(format!(
                "{} stays empty",
                path.display()
            )))
        }
        Err(e) => Err(AppError::internal(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let (a, created) = load_or_generate(dir.path(), "k").unwrap();
        assert!(created);
        assert_eq!(a.expose().len(), 43, "256 bits, base64url");
        let (b, created) = load_or_generate(dir.path(), "k").unwrap();
        assert!(!created);
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("k"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
