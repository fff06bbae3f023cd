//! The database cut under light load (PostgreSQL, through a TCP proxy that resets every
//! connection and every new one): `/readyz` says so within seconds, GraphQL fails fast with
//! `UPSTREAM_UNAVAILABLE` and `retryAfter` (never `INTERNAL`), requests in flight stay under the
//! bound, and once the database is back the service is ready and writes again within seconds,
//! with every write it acknowledged in the database. SQLite cannot be cut: PostgreSQL pass only.

use crate::support::proxy::{Mode, Proxy};
use crate::support::{TestApp, TestDb, day, error_code, init_tracing, pg_admin_url};
use ponto_bridge::secret::Secret;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const UPSERT: &str = "mutation($i: [InvoiceInput!]!) { upsertInvoices(input: {invoices: $i}) { userErrors { code } } }";

/// One request of the load: when it started, how long it took, and what came back.
struct Sent {
    at: Instant,
    took: Duration,
    write: Option<String>,
    body: Value,
}

fn invoice(ext: &str) -> Value {
    json!({"externalId": ext, "kind": "SALES_INVOICE", "number": ext, "currency": "EUR",
           "total": "10.00", "issueDate": day(-10), "dueDate": day(20)})
}

async fn status(app: &TestApp, path: &str) -> u16 {
    app.client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_cut_fails_fast_and_recovers_without_a_restart() {
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    if pg_admin_url().is_none() {
        return;
    }
    init_tracing();
    let cut_for = Duration::from_secs(
        std::env::var("PB_TEST_DB_CUT_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30),
    );
    let db = Arc::new(TestDb::fresh().await);
    let (proxy, via) = proxied(&db).await;
    let app = Arc::new(
        TestApp::builder()
            .db(db.clone())
            .flags(&[
                "--db-acquire-timeout-ms",
                "1000",
                "--readyz-timeout-ms",
                "1000",
                "--max-requests-in-flight",
                "64",
            ])
            .adjust(move |s| s.settings.database_url = Some(Secret::new(via)))
            .start()
            .await,
    );
    let token = app.full_token("acme");

    // The load: a read and a write every 100 ms, each on its own.
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let load = {
        let (app, sent, token) = (app.clone(), sent.clone(), token.clone());
        tokio::spawn(async move {
            for n in 0.. {
                for write in [None, Some(format!("w-{n}"))] {
                    let (app, sent, token) = (app.clone(), sent.clone(), token.clone());
                    tokio::spawn(async move {
                        let at = Instant::now();
                        let body = match &write {
                            None => app.gql(&token, "{ viewer { scopes } }", json!({})).await,
                            Some(ext) => {
                                app.gql(&token, UPSERT, json!({"i": [invoice(ext)]})).await
                            }
                        };
                        let took = at.elapsed();
                        sent.lock().unwrap().push(Sent {
                            at,
                            took,
                            write,
                            body,
                        });
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut most_in_flight = 0.0f64;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(status(&app, "/readyz").await, 200);

    let cut = Instant::now();
    proxy.set(Mode::Cut);
    while status(&app, "/readyz").await != 503 {
        assert!(
            cut.elapsed() < Duration::from_secs(3),
            "/readyz still ready 3 s after the cut"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let unready_after = cut.elapsed();
    let readyz = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert!(readyz.headers().contains_key("retry-after"));
    let readyz: Value = readyz.json().await.unwrap();
    assert_eq!(readyz["error"]["code"], "DATABASE_UNAVAILABLE", "{readyz}");
    while cut.elapsed() < cut_for {
        // Refused requests last milliseconds: sampled often, or the gauge is seen only at rest.
        most_in_flight = most_in_flight.max(app.metric("http_requests_in_flight").await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let restored = Instant::now();
    proxy.set(Mode::Forward);
    while status(&app, "/readyz").await != 200 {
        assert!(
            restored.elapsed() < Duration::from_secs(10),
            "not ready 10 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready_after = restored.elapsed();
    loop {
        let d = app
            .gql(&token, UPSERT, json!({"i": [invoice("after")]}))
            .await;
        if d["errors"].is_null() {
            break;
        }
        assert!(
            restored.elapsed() < Duration::from_secs(10),
            "no write 10 s after: {d}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let wrote_after = restored.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    load.abort();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let sent = std::mem::take(&mut *sent.lock().unwrap());
    let before: Vec<&Sent> = sent.iter().filter(|s| s.at + s.took < cut).collect();
    assert!(
        !before.is_empty() && before.iter().all(|s| s.body["errors"].is_null()),
        "all fine before the cut"
    );
    // Started a second into the cut, ended before the restore: refused fast, with a code.
    let during: Vec<&Sent> = sent
        .iter()
        // Chosen by start only: one that hung past the restore is kept, and fails the bound.
        .filter(|s| s.at > cut + Duration::from_secs(1) && s.at + Duration::from_secs(4) < restored)
        .collect();
    // 20 a second are sent; at least half are started and answered inside the cut.
    let expected = (cut_for.as_secs() as usize).saturating_sub(5) * 10;
    assert!(
        during.len() >= expected,
        "{} requests during the cut",
        during.len()
    );
    for s in &during {
        assert_eq!(
            error_code(&s.body),
            Some("UPSTREAM_UNAVAILABLE"),
            "{}",
            s.body
        );
        assert!(
            s.body["errors"][0]["extensions"]["retryAfter"].is_number(),
            "{}",
            s.body
        );
        assert!(
            s.took < Duration::from_secs(3),
            "answered in {:?}: {}",
            s.took,
            s.body
        );
    }
    assert!(sent.iter().all(|s| error_code(&s.body) != Some("INTERNAL")));
    // Positive control: the gauge was read while requests waited on the database.
    assert!(
        (1.0..=64.0).contains(&most_in_flight),
        "{most_in_flight} in flight"
    );
    // Every acknowledged write is there.
    let acknowledged: Vec<&String> = sent
        .iter()
        .filter(|s| s.body["errors"].is_null())
        .filter_map(|s| s.write.as_ref())
        .collect();
    assert!(acknowledged.len() > 10);
    for ext in acknowledged {
        let d = app
            .gql_data(
                &token,
                "query($e: String) { invoice(externalId: $e) { externalId } }",
                json!({"e": ext}),
            )
            .await;
        assert_eq!(d["invoice"]["externalId"], ext.as_str(), "{d}");
    }
    eprintln!(
        "database cut {cut_for:?}: unready after {unready_after:?}, ready {ready_after:?} and writing {wrote_after:?} after it came back; {} requests refused fast during the cut",
        during.len()
    );
}

/// Ponto's webhooks arriving while the database is cut are answered 503 within the deadline
/// (never 200: nothing was stored), Ponto retries, and after the return each event is stored
/// and takes effect once.
#[tokio::test(flavor = "multi_thread")]
async fn ponto_webhooks_during_a_cut_get_503_and_are_stored_once_after() {
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    if pg_admin_url().is_none() {
        return;
    }
    init_tracing();
    let db = Arc::new(TestDb::fresh().await);
    let (proxy, via) = proxied(&db).await;
    let l = TestApp::builder()
        .db(db.clone())
        .flags(&[
            "--db-acquire-timeout-ms",
            "1000",
            "--read-interval-secs",
            "0",
        ])
        .adjust(move |s| s.settings.database_url = Some(Secret::new(via)))
        // Ponto retries over minutes; here over seconds, outlasting the cut.
        .start_linked_with(|o| {
            o.webhooks.retry_delays = [1, 2, 4, 8].map(Duration::from_secs).to_vec();
        })
        .await;
    l.webhooks_on().await;
    let ponto_org = l.sb.org("Cut BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    let token = l.token("acme");
    let landing = l.connect(&token, &ponto_org, &[&acc], true, false).await;
    assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
    crate::support::wait_until(
        Duration::from_secs(30),
        "the link's webhooks delivered",
        || async {
            let log = delivered(&l.sb).await;
            log.iter()
                .all(|d| d["status"] == "delivered")
                .then_some(())
                .ok_or(format!("{log:?}"))
        },
    )
    .await;
    let before = delivered(&l.sb).await.len();

    proxy.set(Mode::Cut);
    l.sb.transactions(
        &acc,
        json!({"amount": "8.00", "remittanceInformation": "during the cut",
                                   "valueDate": crate::support::day(0)}),
    )
    .await;
    l.sb.organization_does(&ponto_org, "synchronize").await;
    // Each new event's first attempt is refused as unavailable, fast.
    crate::support::wait_until(
        Duration::from_secs(10),
        "attempts refused with 503",
        || async {
            let log = delivered(&l.sb).await;
            let new = &log[before..];
            (!new.is_empty()
                && new
                    .iter()
                    .all(|d| d["lastStatus"] == 503 && d["status"] == "retrying"))
            .then_some(())
            .ok_or(format!("{new:?}"))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.set(Mode::Forward);
    // Ponto's next retries land once the database is back.
    crate::support::wait_until(
        Duration::from_secs(40),
        "stored after the return",
        || async {
            let log = delivered(&l.sb).await;
            log.iter()
                .all(|d| d["status"] == "delivered")
                .then_some(())
                .ok_or(format!("{:?}", &log[before..]))
        },
    )
    .await;
    let ids: Vec<String> = delivered(&l.sb).await[before..]
        .iter()
        .map(|d| d["eventId"].as_str().unwrap().to_owned())
        .collect();
    for id in &ids {
        let statuses = l.app.store.inbound_status(id).await.unwrap();
        assert!(statuses.is_some(), "{id} stored");
    }
    crate::support::wait_until(
        Duration::from_secs(20),
        "the transaction imported",
        || async {
            l.transactions(&token, false)
                .await
                .iter()
                .any(|(r, _, _)| r == "during the cut")
        },
    )
    .await;
    let stored = l.app.store.inbound_counts().await.unwrap();
    let total: i64 = stored.iter().map(|(_, _, n)| *n).sum();
    assert_eq!(
        total as usize,
        delivered(&l.sb).await.len(),
        "each event stored once: {stored:?}"
    );
}

/// A proxy in front of `db`'s server, and `db`'s URL through it.
async fn proxied(db: &TestDb) -> (Proxy, String) {
    let url = url::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let addr = tokio::net::lookup_host(&target)
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = Proxy::start(addr).await;
    let mut via = url.clone();
    via.set_host(Some("127.0.0.1")).unwrap();
    via.set_port(Some(proxy.addr.port())).unwrap();
    (proxy, via.to_string())
}

/// The sandbox's log of webhook deliveries, oldest first.
async fn delivered(sb: &crate::support::Sandbox) -> Vec<Value> {
    sb.control(reqwest::Method::GET, "/webhooks/deliveries", None)
        .await["deliveries"]
        .as_array()
        .unwrap()
        .clone()
}
