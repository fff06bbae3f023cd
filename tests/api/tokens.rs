//! Tokens at rest and in use: never readable from a database dump, bound to their row and
//! organization, surviving key rotation; refreshed once for many concurrent callers; a refused
//! refresh breaks the link, and reconnecting keeps every account, transaction and match.

use crate::seed::{date, eur, invoice, transaction};
use crate::support::{Linked, RETURN, TestApp};
use chrono::Duration;
use ponto_bridge::store::matches::{MatchRule, NewMatch};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;

/// Links one Ponto organization with two accounts; returns the tenant's id.
async fn linked(
    l: &Linked,
    claim: &str,
) -> (
    ponto_bridge::domain::ids::OrganizationId,
    String,
    Vec<String>,
) {
    let ponto_org = l.sb.org("Acme BV").await;
    let a1 =
        l.sb.account(&ponto_org, json!({"reference": "BE68539007547034"}))
            .await;
    let a2 = l.sb.account(&ponto_org, json!({})).await;
    let landing = l
        .connect(&l.token(claim), &ponto_org, &[&a1, &a2], true, false)
        .await;
    assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
    (
        l.app.store.ensure_organization(claim).await.unwrap(),
        ponto_org,
        vec![a1, a2],
    )
}

/// Every token the sandbox has handed out.
fn issued_tokens(l: &Linked) -> Vec<String> {
    l.sb.handle.issued_tokens()
}

/// What the database holds, as bytes: a `pg_dump`, or SQLite's file and its WAL.
pub(crate) async fn database_bytes(app: &TestApp) -> Vec<u8> {
    if app.db.url.starts_with("postgres") {
        let out = crate::support::child::output_within(
            std::process::Command::new("pg_dump").arg(&app.db.url),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    } else {
        let path = app
            .db
            .url
            .strip_prefix("sqlite://")
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        bytes
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_is_readable_from_a_database_dump_and_ciphertexts_are_bound() {
    let l = Linked::start(&[]).await;
    let (org, _, _) = linked(&l, "acme").await;
    let (other, _, _) = linked(&l, "other").await;
    let dump = database_bytes(&l.app).await;
    let tokens = issued_tokens(&l);
    assert!(tokens.len() >= 4);
    for t in &tokens {
        let found = dump.windows(t.len()).any(|w| w == t.as_bytes());
        assert!(!found, "a token is readable in the database dump");
    }
    // A ciphertext moved to another organization's row does not open there.
    let db = Database::connect(&l.app.db.url).await.unwrap();
    let b = db.get_database_backend();
    let copy = match b {
        sea_orm::DbBackend::Postgres => {
            "UPDATE ponto_connection SET refresh_token_enc = (SELECT refresh_token_enc FROM ponto_connection WHERE organization_id = $1), access_token_expires_at = NULL WHERE organization_id = $2"
        }
        _ => {
            "UPDATE ponto_connection SET refresh_token_enc = (SELECT refresh_token_enc FROM ponto_connection WHERE organization_id = ?1), access_token_expires_at = NULL WHERE organization_id = ?2"
        }
    };
    db.execute_raw(Statement::from_sql_and_values(
        b,
        copy,
        [org.0.into(), other.0.into()],
    ))
    .await
    .unwrap();
    db.close().await.unwrap();
    let err = l.app.connect.tokens.access_token(other).await.unwrap_err();
    assert_eq!(
        err.code().as_str(),
        "INTERNAL",
        "the copied refresh token does not decrypt: {err:?}"
    );
    assert!(
        l.app.connect.tokens.access_token(org).await.is_ok(),
        "the original still works"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_keys_rotate_everything_still_decrypts() {
    let k1 = "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let l = Linked::start(&["--encryption-keys", k1]).await;
    let (org, _, _) = linked(&l, "acme").await;
    // The new key first, the old one kept to read what it sealed.
    let ring = ponto_bridge::crypto::KeyRing::parse(&format!(
        "2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=,{k1}"
    ))
    .unwrap();
    let n = ponto_bridge::crypto::rotate(&l.app.store, &ring)
        .await
        .unwrap()
        .rotated;
    assert!(n >= 2, "access and refresh tokens re-encrypted ({n})");
    let sealed = l.app.store.sealed_tokens(org).await.unwrap().unwrap();
    assert_eq!(
        ponto_bridge::crypto::KeyRing::kid_of(sealed.refresh_enc.as_ref().unwrap()),
        Some(2)
    );
    assert_eq!(
        ponto_bridge::crypto::rotate(&l.app.store, &ring)
            .await
            .unwrap()
            .rotated,
        0,
        "nothing left to rotate"
    );
    // A restarted server with the new ring reads them (the access token is still valid, so
    // opening it needs no call to Ponto).
    let db = l.app.db.clone();
    drop(l);
    let keys = format!("2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=,{k1}");
    let restarted = TestApp::builder()
        .db(db.clone())
        .flags(&["--encryption-keys", &keys])
        .start_linked()
        .await;
    assert!(restarted.app.connect.tokens.access_token(org).await.is_ok());
    // Without the new key it cannot.
    drop(restarted);
    let old_only = TestApp::builder()
        .db(db)
        .flags(&["--encryption-keys", k1])
        .start_linked()
        .await;
    assert_eq!(
        old_only
            .app
            .connect
            .tokens
            .access_token(org)
            .await
            .unwrap_err()
            .code()
            .as_str(),
        "INTERNAL"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_callers_cause_one_refresh() {
    // Scheduled reads would refresh the token too (and take the injected fault below).
    let l = Linked::start(&["--read-interval-secs", "86400"]).await;
    let (org, _, _) = linked(&l, "acme").await;
    l.reads_settled("acme").await;
    l.clock.advance(Duration::minutes(31)); // the access token expired
    let before = l.sb.stats().await["tokenRequests"].as_u64().unwrap();
    let calls = (0..20).map(|_| {
        let tokens = l.app.connect.tokens.clone();
        tokio::spawn(async move { tokens.access_token(org).await })
    });
    let results: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert!(
        results.windows(2).all(|w| w[0] == w[1]),
        "everyone got the same fresh token"
    );
    assert_eq!(
        l.sb.stats().await["tokenRequests"].as_u64().unwrap() - before,
        1,
        "exactly one token call"
    );
    assert!(
        l.sb.client().userinfo(&results[0]).await.is_ok(),
        "and it works"
    );

    // A token endpoint failure keeps the old tokens: a later refresh succeeds.
    l.clock.advance(Duration::minutes(31));
    l.sb.fault(json!({"status": 503, "count": 1, "path": "/oauth2/token"}))
        .await;
    assert_eq!(
        l.app
            .connect
            .tokens
            .access_token(org)
            .await
            .unwrap_err()
            .code()
            .as_str(),
        "UPSTREAM_UNAVAILABLE"
    );
    assert_eq!(
        l.connection(&l.token("acme")).await["status"],
        "CONNECTED",
        "not broken by a 5xx"
    );
    assert!(l.app.connect.tokens.access_token(org).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_integration_breaks_the_link_and_reconnecting_keeps_history() {
    let l = Linked::start(&[]).await;
    let token = l.token("acme");
    let (org, ponto_org, ponto_accounts) = linked(&l, "acme").await;
    let c = l.connection(&token).await;
    let mut ids: Vec<String> = c["accounts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    // History seeded for the linked accounts: transactions and a match, older than the window
    // a read re-checks (so reads keep them although the sandbox does not hold them).
    let accounts = l
        .app
        .store
        .accounts(org, &Default::default())
        .await
        .unwrap()
        .items;
    let mut tx = l.app.store.begin_write().await.unwrap();
    let t = tx
        .upsert_transaction(
            org,
            accounts[0].id,
            transaction("hist-1", 12_100, date(2026, 5, 1), "Customer", "inv 1"),
        )
        .await
        .unwrap()
        .id();
    tx.upsert_transaction(
        org,
        accounts[1].id,
        transaction("hist-2", -500, date(2026, 5, 2), "Supplier", "x"),
    )
    .await
    .unwrap();
    let (inv, _) = tx
        .upsert_invoice(org, invoice("inv-1", "2026-0001", 12_100))
        .await
        .unwrap();
    tx.apply_match(
        org,
        NewMatch {
            invoice_id: inv.id,
            transaction_id: t,
            amount: eur(12_100),
            rule: MatchRule::Manual,
            written_off: 0,
            excess: 0,
            evidence: "MANUAL".into(),
            confidence: 100,
            created_by: "t".into(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // The user revokes the integration at Ponto; the next refresh is refused.
    l.sb.organization_does(&ponto_org, "revoke-integration")
        .await;
    l.clock.advance(Duration::minutes(31));
    assert!(l.app.connect.tokens.access_token(org).await.is_err());
    let c = l.connection(&token).await;
    assert_eq!(c["status"], "BROKEN");
    assert_eq!(c["problems"][0]["code"], "CONNECTION_BROKEN");
    assert!(
        l.app.connect.tokens.access_token(org).await.is_err(),
        "stays broken"
    );

    // Reconnect: same accounts, history and match attached, no duplicates.
    let landing = l
        .connect(
            &token,
            &ponto_org,
            &[&ponto_accounts[0], &ponto_accounts[1]],
            true,
            true,
        )
        .await;
    assert!(
        landing.starts_with(RETURN) && landing.ends_with("ponto_status=CONNECTED"),
        "{landing}"
    );
    let c = l.connection(&token).await;
    assert_eq!(c["status"], "CONNECTED");
    let mut again: Vec<String> = c["accounts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    again.sort();
    assert_eq!(again, ids, "same account ids");
    let q = "{ transactions { edges { node { counterpartName matches { invoice { number status } } } } } }";
    let data = l.app.gql_data(&token, q, json!({})).await;
    let edges = data["transactions"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2, "{data}");
    let matched = edges
        .iter()
        .find(|e| e["node"]["counterpartName"] == "Customer")
        .unwrap();
    assert_eq!(
        matched["node"]["matches"][0]["invoice"],
        json!({"number": "2026-0001", "status": "PAID"})
    );
    let types = l.event_types("acme").await;
    assert_eq!(
        types,
        [
            "connection.connected",
            "invoice.paid",
            "connection.broken",
            "connection.connected",
            "connection.restored"
        ]
    );
    assert!(l.app.connect.tokens.access_token(org).await.is_ok());
}

/// One refresh at a time across instances, for real: two instances on one database and one
/// clock, the access token expired, 20 concurrent callers split over both, one token request.
#[tokio::test(flavor = "multi_thread")]
async fn twenty_callers_over_two_instances_cause_one_refresh() {
    let quiet = ["--read-interval-secs", "86400"];
    let l = Linked::start(&quiet).await;
    let (org, _, _) = linked(&l, "acme").await;
    let second = l.second_instance_with(&quiet).await;
    l.reads_settled("acme").await;
    l.clock.advance(Duration::minutes(31)); // the access token expired
    let before = l.sb.stats().await["tokenRequests"].as_u64().unwrap();
    let calls = (0..20).map(|i| {
        let tokens = if i % 2 == 0 {
            l.app.connect.tokens.clone()
        } else {
            second.connect.tokens.clone()
        };
        tokio::spawn(async move { tokens.access_token(org).await })
    });
    let results: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(
        l.sb.stats().await["tokenRequests"].as_u64().unwrap() - before,
        1,
        "exactly one token call over both instances"
    );
    assert!(
        results.windows(2).all(|w| w[0] == w[1]),
        "both instances hand out the one fresh token"
    );
    assert!(l.sb.client().userinfo(&results[0]).await.is_ok());
}
