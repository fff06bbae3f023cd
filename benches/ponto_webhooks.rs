//! Benchmark: Ponto webhooks verified and stored per second through `POST /webhooks/ponto`
//! (real server, 16 concurrent senders on loopback, each a distinct event signed by the sandbox
//! as Ponto signs), next to the cost of signature verification alone (the same signatures
//! verified in-process on every core) measured in the same run.
//!
//! Run: `cargo bench --bench ponto_webhooks` (SQLite in a temp dir), or with
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<empty db>` for PostgreSQL.
//! `BENCH_EVENTS` (3000) tunes the size; signatures live 60 s, so keep it modest.

mod support;

use futures::StreamExt;
use ponto_bridge::app::App;
use ponto_bridge::clock::{Clock, SystemClock};
use ponto_bridge::ponto::webhook::{Expected, KeySet, verify_with_set};
use ponto_sandbox::webhooks;
use std::sync::Arc;
use std::time::Instant;

fn event(i: usize) -> String {
    format!(
        r#"{{"data":{{"attributes":{{"count":{i},"createdAt":"2026-11-25T08:00:01.123Z"}},"id":"{}","relationships":{{"account":{{"data":{{"id":"1d89d411-e310-4802-bbb7-aad7d98371e7","type":"account"}}}},"organization":{{"data":{{"id":"9315d6b3-129a-481a-9604-e2a95e0f967d","type":"organization"}}}}}},"type":"pontoConnect.account.transactionsCreated"}}}}"#,
        uuid::Uuid::new_v4()
    )
}

#[tokio::main]
async fn main() {
    ponto_bridge::install_crypto_provider();
    let n: usize = support::env_or("BENCH_EVENTS", 3000);
    let db = support::BenchDb::new();
    let sb = support::sandbox().await;
    let serve = db.serve_settings(&[
        "--ponto-api-root",
        &sb.base_url,
        "--ponto-application-id",
        webhooks::DEFAULT_APPLICATION_ID,
        "--db-max-connections",
        "16",
    ]);
    let app = App::build(&serve, Arc::new(SystemClock)).await.unwrap();
    let endpoint = format!("{}webhooks/ponto", app.public_url());
    tokio::spawn(app.run(std::future::pending()));

    // Sign everything first (RSA signing is the sender's cost, not ours).
    let now = SystemClock.now().timestamp();
    let signer = sb.webhook_signer();
    let claims = webhooks::Claims {
        iss: sb.base_url.clone(),
        aud: webhooks::DEFAULT_APPLICATION_ID.into(),
        iat: now,
        exp: now + 60,
    };
    let events: Arc<Vec<(String, String)>> = Arc::new(
        (0..n)
            .map(|i| {
                let body = event(i);
                let sig = signer.sign(body.as_bytes(), &claims);
                (body, sig)
            })
            .collect(),
    );

    // Baseline: verification alone, on every core.
    let keys = KeySet::from_jwks(&serde_json::from_value(signer.jwks()).unwrap());
    let expected = Expected {
        issuer: sb.base_url.clone(),
        audience: webhooks::DEFAULT_APPLICATION_ID.into(),
    };
    let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
    let started = Instant::now();
    let handles: Vec<_> = (0..cores)
        .map(|c| {
            let (events, keys, expected) = (events.clone(), keys.clone(), expected.clone());
            std::thread::spawn(move || {
                for (body, sig) in events.iter().skip(c).step_by(cores) {
                    verify_with_set(sig, body.as_bytes(), &keys, &expected, now).unwrap();
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let verify_rate = n as f64 / started.elapsed().as_secs_f64();

    // ponto-bridge: verified and stored, over HTTP.
    let client = reqwest::Client::new();
    let started = Instant::now();
    let stored = futures::stream::iter(events.iter().cloned())
        .map(|(body, sig)| {
            let client = client.clone();
            let endpoint = endpoint.clone();
            async move {
                let resp = client
                    .post(endpoint)
                    .header("Signature", sig)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                resp.status().is_success()
            }
        })
        .buffer_unordered(16)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let elapsed = started.elapsed();
    assert_eq!(stored, n, "every webhook was verified and stored");
    let store_rate = n as f64 / elapsed.as_secs_f64();
    let engine = db.engine();
    println!("{n} Ponto webhooks ({engine}, {cores} cores)");
    println!("  verification alone: {verify_rate:.0}/s");
    println!(
        "  verified + stored over HTTP: {store_rate:.0}/s ({:.1} s)",
        elapsed.as_secs_f64()
    );
    println!("  ratio: {:.2}", store_rate / verify_rate);
}
