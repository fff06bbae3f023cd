//! The real binary killed with SIGKILL while it works through 1,000 Ponto webhooks, then started
//! again on the same database: every event ends `PROCESSED` (the dead worker's claims run out and
//! are taken again), and each Ponto transaction has exactly one row and one
//! `bank_transaction.created`.

use crate::support::served;
use crate::support::{Browser, TestDb, gql_at, wait_until};
use ponto_bridge::clock::SystemClock;
use ponto_bridge::store::Store;
use ponto_sandbox::{self as sandbox, SandboxOptions};
use serde_json::json;
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

const ACCOUNTS: usize = 10;
const NEW_PER_ACCOUNT: usize = 5;
const EVENTS: usize = 1000;

/// The service, as a process of its own, on `port` (0: any), with the sandbox as Ponto.
fn serve(db: &str, data: &std::path::Path, sb: &str, port: u16) -> (Child, String) {
    let auth = format!("{sb}/oauth2/auth");
    served::serve(
        db,
        data,
        port,
        &[
            "--ponto-api-root",
            sb,
            "--ponto-authorization-url",
            &auth,
            "--ponto-client-id",
            sandbox::DEFAULT_CLIENT_ID,
            "--ponto-client-secret",
            sandbox::DEFAULT_CLIENT_SECRET,
            "--ponto-application-id",
            sandbox::webhooks::DEFAULT_APPLICATION_ID,
            "--return-url-origins",
            "https://app.example",
            "--read-interval-secs",
            "0",
            "--scheduler-poll-ms",
            "50",
            "--inbound-lease-secs",
            "2",
            "--inbound-concurrency",
            "8",
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_burst_and_restarted_every_event_takes_effect_once() {
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    crate::support::init_tracing();
    let mut opts = SandboxOptions::new("127.0.0.1:0".parse().unwrap(), Arc::new(SystemClock));
    // Ponto keeps retrying while the service is down.
    opts.webhooks.retry_delays = [200, 500, 1000, 2000, 4000, 8000]
        .map(Duration::from_millis)
        .to_vec();
    let handle = sandbox::start(opts).await.unwrap();
    let sb = crate::support::Sandbox::from_handle(handle);
    let db = TestDb::fresh().await;
    let data = tempfile::tempdir().unwrap();
    let (mut child, base) = serve(&db.url, data.path(), &sb.base, 0);
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    let token = served::token(data.path(), "acme");
    let endpoint = format!("{base}/graphql");

    // Linked through the real flow, ten accounts.
    let org = sb.org("Crash BV").await;
    let mut accounts = Vec::new();
    for _ in 0..ACCOUNTS {
        accounts.push(sb.account(&org, json!({})).await);
    }
    let m = "mutation { connectPonto(input: {returnUrl: \"https://app.example/x\"}) { url } }";
    let start = gql_at(&endpoint, &token, m, json!({})).await["connectPonto"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut browser = Browser::new();
    let (_, to_ponto, _) = browser.confirm(&start, "continue").await;
    let refs: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let back = sb.decide(&to_ponto.unwrap(), &org, &refs, true).await;
    let (status, _, _) = browser.get(back.as_str()).await;
    assert_eq!(status, 303);
    let q = "{ pontoConnection { status lastReadAt } }";
    wait_until(Duration::from_secs(30), "the first import", || async {
        !gql_at(&endpoint, &token, q, json!({})).await["pontoConnection"]["lastReadAt"].is_null()
    })
    .await;

    // New transactions Ponto publishes, then a thousand events naming them.
    for a in &accounts {
        for k in 0..NEW_PER_ACCOUNT {
            sb.transactions(a, json!({"amount": format!("{}.00", k + 1), "remittanceInformation": format!("{a} #{k}")}))
                .await;
        }
    }
    let ran = sb.organization_does(&org, "synchronize").await;
    let syncs: Vec<String> = ran["synchronizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    let mut sorted = accounts.clone();
    sorted.sort_by_key(|a| uuid::Uuid::parse_str(a).unwrap());
    // Every Ponto call takes 20 ms, so the work is still going on when the process dies.
    sb.fault(json!({"status": 200, "delayMs": 20, "forMs": 600_000}))
        .await;
    sb.webhooks_to(&format!("{base}/webhooks/ponto")).await;
    for i in 0..EVENTS {
        let k = i % ACCOUNTS;
        sb.emit(
            json!({"type": "account.transactionsCreated", "organization": org,
            "account": sorted[k], "synchronization": syncs[3 * k + 1], "count": NEW_PER_ACCOUNT}),
        )
        .await;
    }

    // Our own look at the database (the process is a black box).
    let conn = ponto_bridge::store::connect(&db.url, 2).await.unwrap();
    let store = Store::new(conn, ponto_bridge::bus::Bus::new(), Arc::new(SystemClock));
    let processed = || async {
        store
            .inbound_counts()
            .await
            .unwrap()
            .iter()
            .filter(|(s, t, _)| s == "PROCESSED" && t == "pontoConnect.account.transactionsCreated")
            .map(|(_, _, n)| *n)
            .sum::<i64>()
    };
    wait_until(Duration::from_secs(60), "some work done", || async {
        processed().await >= 50
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = processed().await;
    assert!(at_kill < EVENTS as i64, "killed mid-way: {at_kill}");

    let (mut child, _) = serve(&db.url, data.path(), &sb.base, port);
    wait_until(
        Duration::from_secs(120),
        "every event processed",
        || async {
            let n = processed().await;
            (n == EVENTS as i64)
                .then_some(())
                .ok_or_else(|| format!("{n} of {EVENTS}"))
        },
    )
    .await;
    let counts = store.inbound_counts().await.unwrap();
    assert!(
        counts.iter().all(|(s, _, _)| s == "PROCESSED"),
        "{counts:?}"
    );
    let tenant = store.ensure_organization("acme").await.unwrap();
    let created = store
        .events_after(tenant, 0, 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type.as_str() == "bank_transaction.created")
        .count();
    assert_eq!(
        created,
        ACCOUNTS * NEW_PER_ACCOUNT,
        "one announcement per transaction"
    );
    let q = "{ transactions(first: 100) { edges { node { remittanceInformation } } } }";
    let d = gql_at(&endpoint, &token, q, json!({})).await;
    let mut names: Vec<&str> = d["transactions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["remittanceInformation"].as_str().unwrap())
        .collect();
    let n = names.len();
    names.sort();
    names.dedup();
    assert_eq!(
        (n, names.len()),
        (ACCOUNTS * NEW_PER_ACCOUNT, ACCOUNTS * NEW_PER_ACCOUNT),
        "one row each"
    );
    child.kill().ok();
    child.wait().ok();
}
