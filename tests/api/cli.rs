//! The real binary: `serve` on port 0 prints its address, `token` signs with the secret that
//! `serve` generated into the data directory, and SIGTERM shuts down gracefully.

use crate::helpers::TestDb;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ponto-bridge");

#[tokio::test(flavor = "multi_thread")]
async fn serve_token_and_graceful_shutdown() {
    let db = TestDb::fresh().await;
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &db.url])
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("PB_JWT_HS256_SECRET")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("address line")
        .to_owned();

    // The development secret was generated with mode 0600; `token` reads it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("jwt-hs256.secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = Command::new(BIN)
        .args(["token", "--org", "acme", "--scope", "read"])
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("PB_JWT_HS256_SECRET")
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let client = reqwest::Client::new();
    let body: serde_json::Value = client
        .post(format!("{base}/graphql"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"query": "{ viewer { organization { externalId } scopes } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["data"]["viewer"]["organization"]["externalId"], "acme",
        "{body}"
    );
    assert_eq!(
        body["data"]["viewer"]["scopes"],
        serde_json::json!(["READ"])
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "graceful exit, got {exit:?}");
}

#[test]
fn help_documents_every_setting_with_its_default() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "PB_BIND",
        "DATABASE_URL",
        "PB_PUBLIC_URL",
        "PB_CORS_ALLOWED_ORIGINS",
        "PB_MAX_BODY_BYTES",
        "PB_JWT_HS256_SECRET",
        "PB_JWT_ISSUER",
        "PB_JWT_AUDIENCE",
        "default: 127.0.0.1:8080",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn production_without_a_token_key_refuses_to_start() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--environment",
            "production",
            "--bind",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("PB_JWT_HS256_SECRET")
        .env_remove("PB_JWT_PUBLIC_KEY_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PB_JWT_HS256_SECRET"));
    assert!(
        !data.path().join("jwt-hs256.secret").exists(),
        "no secret generated in production"
    );
}

/// `webhook verify` on the official vector: 0 and the claims when verified, 1 and the reason
/// code when rejected, 2 on usage or I/O errors.
#[test]
fn webhook_verify_exit_codes_on_the_official_vector() {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/ponto/webhook-test-vector.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let body = write("body.json", v["body"].as_str().unwrap().as_bytes());
    let body_nl = write(
        "body-nl.json",
        format!("{}\n", v["body"].as_str().unwrap()).as_bytes(),
    );
    // The signature file may end with a newline: it is trimmed.
    let sig = write(
        "signature.txt",
        format!("{}\n", v["signature_header"].as_str().unwrap()).as_bytes(),
    );
    let jwks = write("jwks.json", v["jwks"].to_string().as_bytes());
    let audience = v["expected_audience"].as_str().unwrap();
    let inside = v["verifies_at_unix_seconds"]["from"].as_i64().unwrap() + 30;
    let verify = |body: &str, audience: &str, at: i64| {
        Command::new(BIN)
            .args([
                "webhook",
                "verify",
                "--body",
                body,
                "--signature",
                &sig,
                "--jwks",
                &jwks,
            ])
            .args(["--audience", audience, "--at", &at.to_string()])
            .output()
            .unwrap()
    };

    let ok = verify(&body, audience, inside);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let claims: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(claims, v["claims"]);

    for (out, reason) in [
        (verify(&body_nl, audience, inside), "DIGEST_MISMATCH"),
        (
            verify(&body, "another-application", inside),
            "AUDIENCE_INVALID",
        ),
        (verify(&body, audience, inside + 3600), "EXPIRED"),
    ] {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(reason),
            "{reason}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let missing = verify(
        &dir.path().join("nope").display().to_string(),
        audience,
        inside,
    );
    assert_eq!(missing.status.code(), Some(2));
    let usage = Command::new(BIN)
        .args(["webhook", "verify", "--body", &body])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}
