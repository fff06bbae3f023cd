//! Key rotation without races: the two steps (read, then compare-and-swap apply) keep a token
//! refreshed in between, and the real `keys rotate` CLI leaves every sealed column readable.

use crate::support::{Browser, Linked, RETURN, TEST_KEYS};
use chrono::Duration;
use ponto_bridge::crypto::{Binding, KeyRing, rotate_apply, rotate_read};
use serde_json::json;
use std::collections::BTreeSet;

const NEW_KEY: &str = "2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

async fn linked(l: &Linked) -> ponto_bridge::domain::ids::OrganizationId {
    let ponto_org = l.sb.org("Rotation BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    let landing = l
        .connect(&l.token("acme"), &ponto_org, &[&acc], true, false)
        .await;
    assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
    l.reads_settled("acme").await;
    l.app.store.ensure_organization("acme").await.unwrap()
}

/// The refresh token stored for `org`, opened with `ring`.
async fn stored_refresh_token(
    l: &Linked,
    ring: &KeyRing,
    org: ponto_bridge::domain::ids::OrganizationId,
) -> String {
    let t = l.app.store.sealed_tokens(org).await.unwrap().unwrap();
    let binding = Binding {
        table: "ponto_connection",
        column: "refresh_token_enc",
        row: t.connection_id.0,
        organization: org.0,
    };
    String::from_utf8(ring.open(t.refresh_enc.as_ref().unwrap(), binding).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_committed_between_read_and_apply_survives_the_rotation() {
    // The service reads both keys; the rotation makes the new one current.
    let both = format!("{TEST_KEYS},{NEW_KEY}");
    let l = Linked::start(&["--encryption-keys", &both, "--read-interval-secs", "86400"]).await;
    let org = linked(&l).await;
    let ring = KeyRing::parse(&format!("{NEW_KEY},{TEST_KEYS}")).unwrap();
    let before = stored_refresh_token(&l, &ring, org).await;

    let stale = rotate_read(&l.app.store, &ring).await.unwrap();
    assert!(
        stale.iter().any(|v| v.column == "refresh_token_enc"),
        "step 1 read the tokens"
    );
    // Between the steps, the access token expires and the service refreshes (Ponto rotates the
    // refresh token and the old one is spent).
    l.clock.advance(Duration::minutes(31));
    l.app.connect.tokens.access_token(org).await.unwrap();
    let refreshed = stored_refresh_token(&l, &ring, org).await;
    assert_ne!(refreshed, before, "the refresh stored a new refresh token");

    let done = rotate_apply(&l.app.store, &ring, &stale).await.unwrap();
    assert!(
        done.changed_meanwhile >= 2,
        "access and refresh tokens were left as written: {done:?}"
    );
    assert_eq!(
        stored_refresh_token(&l, &ring, org).await,
        refreshed,
        "the new token is in place"
    );
    assert_eq!(
        l.sb.handle.refresh_token_spent(&refreshed),
        Some(false),
        "and it is the one Ponto will accept"
    );
    assert_eq!(
        l.sb.handle.refresh_token_spent(&before),
        Some(true),
        "the one read in step 1 is spent"
    );
    // So the next refresh works and the link stays healthy.
    l.clock.advance(Duration::minutes(31));
    assert!(l.app.connect.tokens.access_token(org).await.is_ok());
    assert_eq!(l.connection(&l.token("acme")).await["status"], "CONNECTED");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_keys_rotate_cli_leaves_every_sealed_column_decryptable() {
    let l = Linked::start(&[]).await;
    let org = linked(&l).await;
    // A flow left at Ponto's page holds a sealed PKCE verifier.
    let start = l.connect_url(&l.token("acme"), RETURN, true).await.unwrap();
    let (status, _, _) = Browser::new().confirm(&start, "continue").await;
    assert_eq!(status, 303);

    let out = crate::support::child::output_within(
        std::process::Command::new(env!("CARGO_BIN_EXE_ponto-bridge"))
            .args(["keys", "rotate", "--database-url", &l.app.db.url])
            .env("PB_ENCRYPTION_KEYS", format!("{NEW_KEY},{TEST_KEYS}"))
            .env("RUST_LOG", "warn"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("re-encrypted 3 secret(s) under key 2"),
        "{stdout}"
    );

    let ring = KeyRing::parse(&format!("{NEW_KEY},{TEST_KEYS}")).unwrap();
    let values = l.app.store.sealed_values().await.unwrap();
    let columns: BTreeSet<String> = values
        .iter()
        .map(|v| format!("{}.{}", v.table, v.column))
        .collect();
    assert_eq!(
        columns.into_iter().collect::<Vec<_>>(),
        [
            "oauth_flow.pkce_verifier_enc",
            "ponto_connection.access_token_enc",
            "ponto_connection.refresh_token_enc"
        ],
        "every sealed column that has rows"
    );
    for v in &values {
        assert_eq!(
            KeyRing::kid_of(&v.value),
            Some(2),
            "{}.{}",
            v.table,
            v.column
        );
        let binding = Binding {
            table: v.table,
            column: v.column,
            row: v.row,
            organization: v.organization,
        };
        assert!(
            ring.open(&v.value, binding).is_ok(),
            "{}.{} decrypts",
            v.table,
            v.column
        );
    }
    assert!(stored_refresh_token(&l, &ring, org).await.len() > 10);
}
