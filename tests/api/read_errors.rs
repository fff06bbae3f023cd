//! A read of Ponto's data that fails is visible (`PontoConnection.lastReadError`: code, words,
//! time) while the service stays ready; the first read once Ponto answers again succeeds and
//! clears it.

use crate::support::{Linked, wait_until};
use serde_json::{Value, json};
use std::time::Duration;

const Q: &str = "{ pontoConnection { status lastReadAt lastReadError { code message at } } }";

async fn connection(l: &Linked, token: &str) -> Value {
    l.app.gql_data(token, Q, json!({})).await["pontoConnection"].take()
}

/// The connection once the read after linking ended.
async fn first_read(l: &Linked, token: &str) -> Value {
    wait_until(Duration::from_secs(15), "the first read", || async {
        let c = connection(l, token).await;
        c["lastReadAt"]
            .is_string()
            .then_some(c.clone())
            .ok_or(c.to_string())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_reads_are_visible_and_the_first_read_after_the_faults_succeeds() {
    let l = Linked::start(&["--read-interval-secs", "0", "--ponto-max-retries", "0"]).await;
    let ponto_org = l.sb.org("Faulty BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    let token = l.token("acme");
    let landing = l.connect(&token, &ponto_org, &[&acc], true, false).await;
    assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
    let c = first_read(&l, &token).await;
    assert!(c["lastReadError"].is_null(), "{c}");

    // The failed read's time is its own, not the first read's.
    l.clock.advance(chrono::Duration::minutes(7));
    l.sb.fault(json!({"status": 503, "count": 200})).await;
    let org = l.app.store.ensure_organization("acme").await.unwrap();
    let mut failed = 0;
    while l.app.puller.read(org).await.is_err() {
        failed += 1;
        assert!(
            failed <= 200,
            "reads keep failing after the faults are used up"
        );
        if failed == 1 {
            let c = connection(&l, &token).await;
            assert_eq!(c["lastReadError"]["code"], "UPSTREAM_UNAVAILABLE", "{c}");
            assert!(
                c["lastReadError"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
            assert_eq!(c["lastReadError"]["at"], c["lastReadAt"]);
            let at =
                chrono::DateTime::parse_from_rfc3339(c["lastReadError"]["at"].as_str().unwrap())
                    .unwrap();
            assert_eq!(at, l.clock_now(), "{c}");
            assert_eq!(
                c["status"], "CONNECTED",
                "a failed read breaks nothing: {c}"
            );
            assert_eq!(l.app.get("/readyz").await.status(), 200, "still ready");
        }
    }
    assert!(failed > 1, "the faults made reads fail ({failed})");
    let c = connection(&l, &token).await;
    assert!(
        c["lastReadError"].is_null(),
        "cleared by the read that succeeded: {c}"
    );
}

const ACCOUNTS: &str =
    "{ bankAccounts { nodes { reference lastSyncedAt lastReadError { code message at } } } }";

/// The accounts' read state, by IBAN.
async fn accounts(l: &Linked, token: &str) -> std::collections::HashMap<String, Value> {
    let data = l.app.gql_data(token, ACCOUNTS, json!({})).await;
    data["bankAccounts"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| (n["reference"].as_str().unwrap().to_owned(), n.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_that_cannot_be_read_shows_why_and_keeps_no_other_account_stale() {
    let l = Linked::start(&["--read-interval-secs", "0", "--ponto-max-retries", "0"]).await;
    let ponto_org = l.sb.org("Half Down BV").await;
    let failing_iban = "BE68539007547034";
    let working_iban = "BE71096123456769";
    let a =
        l.sb.account(&ponto_org, json!({"reference": failing_iban}))
            .await;
    let b =
        l.sb.account(&ponto_org, json!({"reference": working_iban}))
            .await;
    // Ponto lists accounts by creation time, then id; the test clock stands still, so by id.
    // The failing one is made the first listed, so a read that gave up at the first failure
    // would leave the other one unread.
    let (failing, working) = if a < b { (&a, &b) } else { (&b, &a) };
    let (failing_iban, working_iban) = if a < b {
        (failing_iban, working_iban)
    } else {
        (working_iban, failing_iban)
    };
    l.sb.fault(json!({"status": 503, "count": 1, "path": format!("{failing}/transactions")}))
        .await;
    let token = l.token("acme");
    let landing = l
        .connect(
            &token,
            &ponto_org,
            &[failing.as_str(), working.as_str()],
            true,
            false,
        )
        .await;
    assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");

    let seen = first_read(&l, &token).await;
    assert_eq!(
        seen["lastReadError"]["code"], "UPSTREAM_UNAVAILABLE",
        "the read as a whole failed: {seen}"
    );
    let by_iban = accounts(&l, &token).await;
    let (bad, good) = (&by_iban[failing_iban], &by_iban[working_iban]);
    assert_eq!(
        bad["lastReadError"]["code"], "UPSTREAM_UNAVAILABLE",
        "{bad}"
    );
    assert!(
        bad["lastReadError"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty() && !m.contains("http")),
        "public words, no internals: {bad}"
    );
    let at =
        chrono::DateTime::parse_from_rfc3339(bad["lastReadError"]["at"].as_str().unwrap()).unwrap();
    assert_eq!(at, l.clock_now(), "{bad}");
    assert!(bad["lastSyncedAt"].is_null(), "never imported: {bad}");
    assert!(good["lastReadError"].is_null(), "{good}");
    assert!(
        good["lastSyncedAt"].is_string(),
        "the other account was read all the same: {good}"
    );

    // The fault is used up: the next read succeeds and clears both errors.
    l.clock.advance(chrono::Duration::minutes(5));
    let org = l.app.store.ensure_organization("acme").await.unwrap();
    l.app
        .puller
        .read(org)
        .await
        .expect("a read after the fault");
    let by_iban = accounts(&l, &token).await;
    let bad = &by_iban[failing_iban];
    assert!(bad["lastReadError"].is_null(), "cleared: {bad}");
    assert!(bad["lastSyncedAt"].is_string(), "{bad}");
    let c = connection(&l, &token).await;
    assert!(c["lastReadError"].is_null(), "{c}");
}

/// Ponto failing (503) for the first two accounts it lists: the read stops there instead of
/// asking for every account (an outage costs two accounts' requests per read), and the next
/// read asks for the third first, so accounts that keep failing cannot keep it stale.
#[tokio::test(flavor = "multi_thread")]
async fn a_read_stops_after_two_ponto_failures_and_the_next_one_starts_elsewhere() {
    let l = Linked::start(&["--read-interval-secs", "0", "--ponto-max-retries", "0"]).await;
    let ponto_org = l.sb.org("Mostly Down BV").await;
    // (sandbox id, IBAN), in the order Ponto lists them (by id: the test clock stands still).
    let mut accs = Vec::new();
    for iban in ["BE68539007547034", "BE71096123456769", "BE43068999999501"] {
        accs.push((
            l.sb.account(&ponto_org, json!({"reference": iban})).await,
            iban,
        ));
    }
    accs.sort();
    let token = l.token("acme");
    let refs: Vec<&str> = accs.iter().map(|(id, _)| id.as_str()).collect();
    let landing = l.connect(&token, &ponto_org, &refs, true, false).await;
    assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
    let c = first_read(&l, &token).await;
    assert!(c["lastReadError"].is_null(), "{c}");
    let third = accs[2].1;
    let synced =
        |by_iban: &std::collections::HashMap<String, Value>| by_iban[third]["lastSyncedAt"].clone();
    let before = synced(&accounts(&l, &token).await);

    for (id, _) in &accs[..2] {
        l.sb.fault(json!({"status": 503, "count": 100, "path": format!("{id}/transactions")}))
            .await;
    }
    let org = l.app.store.ensure_organization("acme").await.unwrap();
    l.clock.advance(chrono::Duration::minutes(5));
    assert!(l.app.puller.read(org).await.is_err());
    let by_iban = accounts(&l, &token).await;
    for (_, iban) in &accs[..2] {
        assert!(!by_iban[*iban]["lastReadError"].is_null(), "{by_iban:?}");
    }
    assert_eq!(
        synced(&by_iban),
        before,
        "the third is not asked once Ponto failed twice"
    );

    l.clock.advance(chrono::Duration::minutes(5));
    assert!(l.app.puller.read(org).await.is_err());
    let by_iban = accounts(&l, &token).await;
    assert_ne!(
        synced(&by_iban),
        before,
        "the next read asks for the third first"
    );
    assert!(by_iban[third]["lastReadError"].is_null(), "{by_iban:?}");
}
