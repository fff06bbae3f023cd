//! Secret files in the data directory follow the rules of secrets from the environment: the
//! real binary refuses an empty, short or non-UTF-8 JWT secret or key file, naming the file, and
//! instances started together on one empty data directory agree on one secret.

use crate::support::{TestDb, gql_at};
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ponto-bridge");

fn serve(db: &TestDb, data: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--database-url", &db.url])
        .arg("--data-dir")
        .arg(data)
        .env_remove("PB_JWT_HS256_SECRET")
        .env_remove("PB_ENCRYPTION_KEYS")
        .env_remove("PB_ENV")
        .env("RUST_LOG", "warn");
    cmd
}

/// Starts `serve`; returns the child and its base URL.
fn started(mut cmd: Command) -> (Child, String) {
    let (child, line) = crate::support::child::spawn_first_line(cmd.stderr(Stdio::null()));
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("no address line: {line:?}"))
        .to_owned();
    (child, base)
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_short_or_binary_secret_files_stop_the_start_naming_the_file() {
    let db = TestDb::fresh().await;
    let good_secret = "a-development-secret-long-enough-for-hs256";
    let cases: [(&str, &[u8]); 3] = [
        ("empty", b""),
        ("5 bytes", b"12345"),
        ("not UTF-8", b"\xff\xfe\xfd\x00 key"),
    ];
    for file in ["jwt-hs256.secret", "encryption.keys"] {
        for (case, contents) in cases {
            let data = tempfile::tempdir().unwrap();
            // The other file is valid, so the one under test is what stops the start.
            if file == "encryption.keys" {
                std::fs::write(data.path().join("jwt-hs256.secret"), good_secret).unwrap();
            }
            std::fs::write(data.path().join(file), contents).unwrap();
            let out = crate::support::child::output_within(&mut serve(&db, data.path()));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{file} {case}: started anyway");
            let path = data.path().join(file).display().to_string();
            assert!(
                stderr.contains(&path),
                "{file} {case}: the error names the file: {stderr}"
            );
        }
    }
    // The positive control: valid files start.
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("jwt-hs256.secret"), good_secret).unwrap();
    let (mut child, _) = started(serve(&db, data.path()));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_started_together_agree_on_one_secret() {
    let (db_a, db_b) = (TestDb::fresh().await, TestDb::fresh().await);
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    // Both start before either has written anything.
    let a = serve(&db_a, &data);
    let b = serve(&db_b, &data);
    let (ta, tb) = (
        std::thread::spawn(move || started(a)),
        std::thread::spawn(move || started(b)),
    );
    let ((mut child_a, base_a), (mut child_b, base_b)) = (ta.join().unwrap(), tb.join().unwrap());

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the data directory is private");
    }
    let mut names: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["encryption.keys", "jwt-hs256.secret"],
        "one of each, no temporary files"
    );

    let token = crate::support::child::output_within(
        Command::new(BIN)
            .args(["token", "--org", "acme", "--scope", "read"])
            .arg("--data-dir")
            .arg(&data)
            .env_remove("PB_JWT_HS256_SECRET"),
    );
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let q = "{ viewer { organization { externalId } } }";
    for base in [&base_a, &base_b] {
        let answer = gql_at(&format!("{base}/graphql"), &token, q, json!({})).await;
        assert_eq!(
            answer["viewer"]["organization"]["externalId"], "acme",
            "{base}: {answer}"
        );
    }
    for c in [&mut child_a, &mut child_b] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
}
