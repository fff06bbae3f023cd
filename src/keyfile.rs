//! Owns secret files in the data directory (the development JWT secret, the development
//! encryption key ring): created once, atomically and without clobbering, mode 0600 in a 0700
//! directory; read back and checked on every start by the same rules as secrets from the
//! environment, so an empty or truncated file is refused with its name instead of becoming a key.

use crate::error::{AppError, AppResult};
use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The smallest shared secret accepted for HS256 (from the environment or a file).
pub const MIN_SECRET_BYTES: usize = 32;

/// Creates `dir` (and its parents) readable by the owner only when it does not exist yet.
pub fn ensure_private_dir(dir: &Path) -> AppResult<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        AppError::bad_input(format!(
            "cannot create data directory {}: {e}",
            dir.display()
        ))
    })
}

fn refused(path: &Path, why: impl std::fmt::Display) -> AppError {
    AppError::bad_input(format!("{}: {why}", path.display()))
}

/// Reads `<dir>/<name>` and checks it with `parse`, or, when it does not exist, creates it with
/// `generate()`: written to a temporary file beside it, synced, then linked into place only if no
/// file exists. An instance that loses that race reads the winner's file, so instances started
/// together agree. Returns the parsed value and whether this call created the file.
pub fn load_or_create<T>(
    dir: &Path,
    name: &str,
    generate: impl FnOnce() -> String,
    parse: impl Fn(&str) -> Result<T, String>,
) -> AppResult<(T, bool)> {
    let path = dir.join(name);
    let read = |path: &PathBuf| -> AppResult<T> {
        let bytes = std::fs::read(path).map_err(|e| refused(path, e))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| refused(path, "is not UTF-8 text"))?;
        parse(text).map_err(|why| refused(path, why))
    };
    if path.exists() {
        return Ok((read(&path)?, false));
    }
    ensure_private_dir(dir)?;
    let contents = generate();
    // NamedTempFile is created 0600 on Unix.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| refused(&path, e))?;
    tmp.write_all(contents.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| refused(&path, e))?;
    match tmp.persist_noclobber(&path) {
        Ok(_) => {
            // The link itself must survive a crash too. Some filesystems cannot sync a
            // directory; the file is written either way, so this only warrants a warning.
            if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
                tracing::warn!(path = %path.display(), error = %e, "could not sync the directory of a new key file");
            }
            Ok((read(&path)?, true))
        }
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok((read(&path)?, false)),
        Err(e) => Err(refused(&path, e.error)),
    }
}

/// Checks a shared HS256 secret (file contents or environment value, trimmed).
pub fn check_hs256_secret(text: &str) -> Result<Secret, String> {
    let secret = text.trim();
    if secret.is_empty() {
        return Err("is empty".into());
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "holds {} bytes; a secret must be at least {MIN_SECRET_BYTES}",
            secret.len()
        ));
    }
    Ok(Secret::new(secret.to_owned()))
}

/// 256 random bits, base64url.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(dir: &Path) -> AppResult<(Secret, bool)> {
        load_or_create(dir, "k", random_secret, check_hs256_secret)
    }

    #[test]
    fn generated_once_with_mode_0600_in_a_0700_directory() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let (a, created) = load(&dir).unwrap();
        assert!(created);
        assert_eq!(a.expose().len(), 43, "256 bits, base64url");
        let (b, created) = load(&dir).unwrap();
        assert!(!created);
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir.join("k")), 0o600);
            assert_eq!(mode(&dir), 0o700);
        }
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
    }

    #[test]
    fn empty_short_or_binary_files_are_refused_with_their_name() {
        let dir = tempfile::tempdir().unwrap();
        for (contents, why) in [
            (&b""[..], "is empty"),
            (b"  \n", "is empty"),
            (b"12345", "holds 5 bytes"),
            (
                b"\xff\xfe not utf-8 but long enough to pass the length check",
                "not UTF-8",
            ),
        ] {
            std::fs::write(dir.path().join("k"), contents).unwrap();
            let e = load(dir.path()).unwrap_err().to_string();
            assert!(
                e.contains(&dir.path().join("k").display().to_string()),
                "{e}"
            );
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn racing_creators_agree_on_one_secret() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let secrets: Vec<Secret> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| s.spawn(|| load(dir.path()).unwrap().0))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(
                secrets.windows(2).all(|w| w[0] == w[1]),
                "all read the winner's file"
            );
        }
    }
}
