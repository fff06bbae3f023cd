//! The real binary as a service in a process of its own (`serve` on loopback, with the suite's
//! encryption keys and JWT secret), for tests that need two processes or a crash.

use super::child::{output_within, spawn_first_line};
use super::{TEST_KEYS, TEST_SECRET};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_ponto-bridge");

/// `serve` on `db` with its data directory `data`, on `port` (0: any), plus `args`; errors
/// only on its stderr (discarded). Returns the child and its base URL.
pub fn serve(db: &str, data: &Path, port: u16, args: &[&str]) -> (Child, String) {
    let (child, line) = spawn_first_line(
        Command::new(BIN)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(["--database-url", db])
            .arg("--data-dir")
            .arg(data)
            .args(["--encryption-keys", TEST_KEYS])
            .args(["--jwt-hs256-secret", TEST_SECRET])
            .args(args)
            .env("RUST_LOG", "error")
            .stderr(Stdio::null()),
    );
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    (child, base)
}

/// A token for `org` with every scope, from the binary's own `token` command (so it is valid
/// on the real clock, whatever the test clocks say).
pub fn token(data: &Path, org: &str) -> String {
    let out = output_within(
        Command::new(BIN)
            .args(["token", "--org", org, "--jwt-hs256-secret", TEST_SECRET])
            .arg("--data-dir")
            .arg(data),
    );
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A child killed (and reaped) when the test ends, however it ends.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
