//! The real binary: `serve` on port 0 prints its address, `token` signs with the secret that
//! `serve` generated into the data directory, and SIGTERM shuts down gracefully.

use crate::support::{TestDb, gql_at};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ponto-bridge");

#[tokio::test(flavor = "multi_thread")]
async fn serve_token_and_graceful_shutdown() {
    let db = TestDb::fresh().await;
    let data = tempfile::tempdir().unwrap();
    let (mut child, line) = crate::support::child::spawn_first_line(
        Command::new(BIN)
            .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &db.url])
            .arg("--data-dir")
            .arg(data.path())
            .env_remove("PB_JWT_HS256_SECRET")
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null()),
    );
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
    let out = crate::support::child::output_within(
        Command::new(BIN)
            .args(["token", "--org", "acme", "--scope", "read"])
            .arg("--data-dir")
            .arg(data.path())
            .env_remove("PB_JWT_HS256_SECRET"),
    );
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let q = "{ viewer { organization { externalId } scopes } }";
    let answer = gql_at(&format!("{base}/graphql"), &token, q, json!({})).await;
    assert_eq!(answer["viewer"]["organization"]["externalId"], "acme");
    assert_eq!(answer["viewer"]["scopes"], json!(["READ"]));

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
    let out = crate::support::child::output_within(Command::new(BIN).args(["serve", "--help"]));
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
    let out = crate::support::child::output_within(
        Command::new(BIN)
            .args([
                "serve",
                "--environment",
                "production",
                "--public-url",
                "https://bridge.example",
                "--bind",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(data.path())
            .env_remove("PB_JWT_HS256_SECRET")
            .env_remove("PB_JWT_PUBLIC_KEY_FILE"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PB_JWT_HS256_SECRET"));
    assert!(
        !data.path().join("jwt-hs256.secret").exists(),
        "no secret generated in production"
    );
}

/// `webhook verify` on the official vector: 0 and the claims when verified; 1 and the reason
/// code for each of the vector's must-fail variants; 2 on usage or I/O errors.
#[test]
fn webhook_verify_exit_codes_on_the_official_vector() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/ponto/webhook-test-vector.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let body_text = v["body"].as_str().unwrap();
    let signature = v["signature_header"].as_str().unwrap();
    let body = write("body.json", body_text.as_bytes());
    // The signature file may end with a newline: it is trimmed.
    let sig = write("signature.txt", format!("{signature}\n").as_bytes());
    // Several keys, the right one last (its `n` keeps Ponto's stray `=`).
    let mut decoy = v["jwks"]["keys"][0].clone();
    decoy["kid"] = "another_key".into();
    let jwks = write(
        "jwks.json",
        json!({"keys": [decoy, v["jwks"]["keys"][0]]})
            .to_string()
            .as_bytes(),
    );
    let audience = v["expected_audience"].as_str().unwrap().to_owned();
    let (from, to) = (
        v["verifies_at_unix_seconds"]["from"].as_i64().unwrap(),
        v["verifies_at_unix_seconds"]["to"].as_i64().unwrap(),
    );
    let inside = from + 30;
    let run = |body: &str, sig: &str, jwks: &str, extra: &[String]| {
        crate::support::child::output_within(
            Command::new(BIN)
                .args([
                    "webhook",
                    "verify",
                    "--body",
                    body,
                    "--signature",
                    sig,
                    "--jwks",
                    jwks,
                ])
                .args(extra),
        )
    };
    let args = |audience: &str, at: i64| {
        vec![
            "--audience".to_owned(),
            audience.to_owned(),
            "--at".into(),
            at.to_string(),
        ]
    };

    let ok = run(&body, &sig, &jwks, &args(&audience, inside));
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let claims: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(claims, v["claims"]);

    // The vector's must-fail variants: a body with a byte changed (and one with a byte added),
    let mut flipped = body_text.as_bytes().to_vec();
    let middle = flipped.len() / 2;
    flipped[middle] = if flipped[middle] == b'x' { b'y' } else { b'x' };
    let body_flipped = write("body-flipped.json", &flipped);
    let body_nl = write("body-nl.json", format!("{body_text}\n").as_bytes());
    let mut changed = signature.as_bytes().to_vec();
    let i = signature.rfind('.').unwrap() + 50;
    changed[i] = if changed[i] == b'A' { b'B' } else { b'A' };
    let sig_changed = write("sig-changed.txt", &changed);
    let other_keys = write(
        "jwks-other.json",
        json!({"keys": [decoy]}).to_string().as_bytes(),
    );
    let payload = signature.split('.').nth(1).unwrap();
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"sandbox_events_signature_1"}"#)
    );
    let sig_none = write("sig-none.txt", none.as_bytes());
    // HS512 keyed with the public key (its JWK text, and its modulus bytes), as an attacker
    // who knows only the public key would sign.
    let hs512 = |secret: &[u8]| {
        use hmac::{Hmac, Mac};
        let header =
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512","kid":"sandbox_events_signature_1"}"#);
        let mut mac = Hmac::<sha2::Sha512>::new_from_slice(secret).unwrap();
        mac.update(format!("{header}.{payload}").as_bytes());
        format!(
            "{header}.{payload}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    };
    let jwk_text = v["jwks"]["keys"][0].to_string();
    let modulus = URL_SAFE_NO_PAD
        .decode(
            v["jwks"]["keys"][0]["n"]
                .as_str()
                .unwrap()
                .trim_end_matches('='),
        )
        .unwrap();
    let sig_hs512_jwk = write("sig-hs512-jwk.txt", hs512(jwk_text.as_bytes()).as_bytes());
    let sig_hs512_n = write("sig-hs512-n.txt", hs512(&modulus).as_bytes());
    let mut other_issuer = args(&audience, inside);
    other_issuer.extend([
        "--issuer".to_owned(),
        "https://api.ibanity.com.evil".to_owned(),
    ]);
    for (out, reason) in [
        (
            run(&body_flipped, &sig, &jwks, &args(&audience, inside)),
            "DIGEST_MISMATCH",
        ),
        (
            run(&body_nl, &sig, &jwks, &args(&audience, inside)),
            "DIGEST_MISMATCH",
        ),
        (
            run(&body, &sig_changed, &jwks, &args(&audience, inside)),
            "SIGNATURE_INVALID",
        ),
        (run(&body, &sig, &jwks, &args(&audience, to + 1)), "EXPIRED"),
        (
            run(&body, &sig, &jwks, &args(&audience, from - 1)),
            "IAT_IN_FUTURE",
        ),
        (
            run(&body, &sig, &jwks, &args("another-application", inside)),
            "AUDIENCE_INVALID",
        ),
        (run(&body, &sig, &jwks, &other_issuer), "ISSUER_INVALID"),
        (
            run(&body, &sig, &other_keys, &args(&audience, inside)),
            "UNKNOWN_KID",
        ),
        (
            run(&body, &sig_none, &jwks, &args(&audience, inside)),
            "ALGORITHM_NOT_ALLOWED",
        ),
        (
            run(&body, &sig_hs512_jwk, &jwks, &args(&audience, inside)),
            "ALGORITHM_NOT_ALLOWED",
        ),
        (
            run(&body, &sig_hs512_n, &jwks, &args(&audience, inside)),
            "ALGORITHM_NOT_ALLOWED",
        ),
    ] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{reason}: {stderr}");
        assert!(stderr.contains(reason), "{reason}: {stderr}");
    }

    let missing = dir.path().join("nope").display().to_string();
    assert_eq!(
        run(&missing, &sig, &jwks, &args(&audience, inside))
            .status
            .code(),
        Some(2)
    );
    let usage = crate::support::child::output_within(
        Command::new(BIN).args(["webhook", "verify", "--body", &body]),
    );
    assert_eq!(usage.status.code(), Some(2));
}
