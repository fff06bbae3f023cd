//! The database gone under light load (PostgreSQL, through a TCP proxy), two ways: cut (every
//! connection reset, new ones refused) and black-holed (connections kept open, nothing
//! forwarded). Either way `/readyz` says so within seconds, GraphQL fails fast with a retryable
//! code and `retryAfter` (never `INTERNAL`), requests in flight stay under the bound, and once
//! the database is back the service is ready and writes again within seconds, with every write
//! it acknowledged in the database. SQLite cannot be cut: PostgreSQL pass only.

use crate::support::proxy::{Mode, behind_proxy};
use crate::support::{TestApp, day, error_code};
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

pub(crate) async fn status(app: &TestApp, path: &str) -> u16 {
    app.client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// Seconds from the environment variable `var`, else `default`.
fn secs(var: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// A way the database goes away, and what the service must answer meanwhile.
struct Outage {
    mode: Mode,
    lasts: Duration,
    /// The service's flags besides the shared ones (acquire and readiness timeouts, bound).
    flags: &'static [&'static str],
    /// The codes a request started during the outage may get.
    codes: &'static [&'static str],
    /// How long any such answer may take.
    answered_within: Duration,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_cut_fails_fast_and_recovers_without_a_restart() {
    under_load(Outage {
        mode: Mode::Cut,
        lasts: secs("PB_TEST_DB_CUT_SECS", 30),
        flags: &[],
        codes: &["UPSTREAM_UNAVAILABLE"],
        answered_within: Duration::from_secs(3),
    })
    .await;
}

/// Nothing comes back on connections already open, so a query in flight hangs until the request
/// deadline drops it; TCP keepalive cannot tell, since the proxy's kernel acknowledges.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_black_hole_answers_within_the_deadline_and_recovers() {
    under_load(Outage {
        mode: Mode::BlackHole,
        lasts: secs("PB_TEST_DB_HOLE_SECS", 10),
        flags: &["--request-timeout-ms", "2000"],
        codes: &["UPSTREAM_UNAVAILABLE", "DEADLINE_EXCEEDED"],
        // The deadline, and a margin for the answer to be written.
        answered_within: Duration::from_secs(3),
    })
    .await;
}

async fn under_load(outage: Outage) {
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    let Some((proxy, _db, builder)) = behind_proxy().await else {
        return;
    };
    let mut flags = vec![
        "--db-acquire-timeout-ms",
        "1000",
        "--readyz-timeout-ms",
        "1000",
        "--max-requests-in-flight",
        "64",
    ];
    flags.extend_from_slice(outage.flags);
    let app = Arc::new(builder.flags(&flags).start().await);
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

    let gone = Instant::now();
    proxy.set(outage.mode);
    while status(&app, "/readyz").await != 503 {
        assert!(
            gone.elapsed() < Duration::from_secs(3),
            "/readyz still ready 3 s into the outage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let unready_after = gone.elapsed();
    let readyz = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert!(readyz.headers().contains_key("retry-after"));
    let readyz: Value = readyz.json().await.unwrap();
    assert_eq!(readyz["error"]["code"], "DATABASE_UNAVAILABLE", "{readyz}");
    while gone.elapsed() < outage.lasts {
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
    tokio::time::sleep(Duration::from_secs(outage.answered_within.as_secs() + 1)).await;

    let sent = std::mem::take(&mut *sent.lock().unwrap());
    let before: Vec<&Sent> = sent.iter().filter(|s| s.at + s.took < gone).collect();
    assert!(
        !before.is_empty() && before.iter().all(|s| s.body["errors"].is_null()),
        "all fine before the outage"
    );
    // Started a second into the outage, ended before the return: refused in time, with a code.
    let during: Vec<&Sent> = sent
        .iter()
        // Chosen by start only: one that hung past the return is kept, and fails the bound.
        .filter(|s| {
            s.at > gone + Duration::from_secs(1) && s.at + Duration::from_secs(4) < restored
        })
        .collect();
    // 20 a second are sent; at least half are started and answered inside the outage.
    let expected = (outage.lasts.as_secs() as usize).saturating_sub(5) * 10;
    assert!(
        during.len() >= expected,
        "{} requests during the outage",
        during.len()
    );
    for s in &during {
        assert!(
            error_code(&s.body).is_some_and(|c| outage.codes.contains(&c)),
            "{}",
            s.body
        );
        assert!(
            s.body["errors"][0]["extensions"]["retryAfter"].is_number(),
            "{}",
            s.body
        );
        assert!(
            s.took < outage.answered_within,
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
    let mut codes: Vec<&str> = during.iter().filter_map(|s| error_code(&s.body)).collect();
    codes.sort_unstable();
    codes.dedup();
    eprintln!(
        "database {:?} for {:?}: unready after {unready_after:?}, ready {ready_after:?} and writing {wrote_after:?} after it came back; {} requests answered in time during it ({codes:?}), at most {most_in_flight} in flight",
        outage.mode,
        outage.lasts,
        during.len()
    );
}
