//! Benchmark: outbound webhook deliveries per second to a local receiver — events logged as the
//! service logs them, claimed, signed, POSTed and recorded by its delivery worker — next to a
//! bare loop of signed HTTP POSTs of the same bodies to the same receiver, with the same
//! concurrency, measured in the same run: no database, no claim, no attempt record.
//!
//! Run: `cargo bench --bench outbound_delivery` (SQLite in a temp dir), or with
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<empty db>`. Knob:
//! `BENCH_DELIVERIES` (10000), spread over four endpoints (the worker's default bound of two
//! attempts per endpoint times four fills its default eight at once).

mod support;

use axum::extract::State;
use axum::http::StatusCode;
use futures::StreamExt;
use ponto_bridge::app::App;
use ponto_bridge::clock::SystemClock;
use ponto_bridge::domain::event::{ConnectionData, ConnectionEvent, Event};
use ponto_bridge::domain::scope::Scope;
use ponto_bridge::outbound::signing::{SigningSecret, signature_header};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const ENDPOINTS: usize = 4;
const CONCURRENCY: usize = 8;

/// A receiver answering 204 to every POST once its gate is open, counting what it answered.
#[derive(Clone)]
struct Receiver {
    answered: Arc<AtomicUsize>,
    gate: watch::Receiver<bool>,
}

async fn receive(State(r): State<Receiver>) -> StatusCode {
    let mut gate = r.gate.clone();
    // Held until the clock starts, so the backlog is all logged before the first answer.
    let _ = gate.wait_for(|open| *open).await;
    r.answered.fetch_add(1, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

async fn start_receiver() -> (String, Receiver, watch::Sender<bool>) {
    let (open, gate) = watch::channel(false);
    let r = Receiver {
        answered: Arc::new(AtomicUsize::new(0)),
        gate,
    };
    let router = axum::Router::new()
        .route("/{endpoint}", axum::routing::post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, r, open)
}

#[tokio::main]
async fn main() {
    ponto_bridge::install_crypto_provider();
    let deliveries: usize = support::env_or("BENCH_DELIVERIES", 10_000);
    let events = deliveries.div_ceil(ENDPOINTS);
    let total = events * ENDPOINTS;
    let bench_db = support::BenchDb::new();
    let engine = bench_db.engine();
    let serve = bench_db.serve_settings(&[
        "--webhook-allowed-targets",
        "127.0.0.1/32",
        "--webhook-allow-http",
        "true",
        "--scheduler-poll-ms",
        "50",
        "--db-max-connections",
        "16",
    ]);
    let app = App::build(&serve, Arc::new(SystemClock)).await.unwrap();
    let store = app.store().clone();
    let token = app
        .authenticator()
        .mint_hs256("bench", &Scope::ALL, "bench", 3600)
        .unwrap();
    let graphql = format!("{}graphql", app.public_url());
    tokio::spawn(app.run(std::future::pending()));
    let org = store.ensure_organization("bench").await.unwrap();

    let (url, receiver, open) = start_receiver().await;
    let http = reqwest::Client::new();
    let create = "mutation($u: String!) { createWebhookEndpoint(input: {url: $u}) { endpoint { id } userErrors { code } } }";
    for e in 0..ENDPOINTS {
        let d = support::gql(
            &http,
            &graphql,
            &token,
            create,
            json!({"u": format!("{url}/{e}")}),
        )
        .await;
        assert_eq!(
            d["data"]["createWebhookEndpoint"]["userErrors"],
            json!([]),
            "{d}"
        );
    }

    // The backlog, logged while the receiver holds its answers: each event makes one delivery
    // per endpoint in the same transaction.
    let logged = Instant::now();
    for chunk in (0..events).collect::<Vec<_>>().chunks(500) {
        let batch = chunk
            .iter()
            .map(|i| {
                let data = ConnectionData {
                    connection_id: format!("bench-connection-{i}"),
                    status: "BROKEN".into(),
                    problems: vec![],
                    reason: Some(format!("benchmark event {i}")),
                };
                (Event::connection(ConnectionEvent::Broken, data), None)
            })
            .collect();
        let mut tx = store.begin_write().await.unwrap();
        tx.append_events(org, batch).await.unwrap();
        tx.commit().await.unwrap();
    }
    let logged = logged.elapsed();
    // This machine's PostgreSQL runs with `autovacuum = off` (the default is on): analyze as it
    // would after this many new rows. Without statistics the claim's plan reads every pending
    // delivery per claim (a bitmap scan and a sort) instead of the first few in due order.
    let db = ponto_bridge::store::connect(&bench_db.url, 1)
        .await
        .unwrap();
    if support::autovacuum_off(&db).await {
        use sea_orm::ConnectionTrait;
        eprintln!("autovacuum is off here; the bench analyzes as it would");
        db.execute_unprepared("ANALYZE webhook_delivery, webhook_endpoint, event")
            .await
            .unwrap();
    }

    // The service: from the gate opening until every delivery is answered and recorded.
    let started = Instant::now();
    open.send(true).unwrap();
    // The receiver's count first (in memory), then the backlog, so the bench's own queries do
    // not compete with the worker.
    loop {
        if receiver.answered.load(Ordering::Relaxed) >= total
            && store.delivery_backlog().await.unwrap().pending == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let service = started.elapsed();
    let answered = receiver.answered.load(Ordering::Relaxed);
    assert_eq!(answered, total, "each delivery answered once");

    // The baseline: the same bodies, signed and POSTed by a bare loop, as many at once.
    let mut bodies = Vec::with_capacity(events);
    while bodies.len() < events {
        let after = bodies.last().map_or(0, |(seq, _, _)| *seq);
        for e in store.events_after(org, after, 1000).await.unwrap() {
            bodies.push((e.seq, e.id.to_string(), e.payload.into_bytes()));
        }
    }
    let secret = SigningSecret::generate();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .no_proxy()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let work: Vec<_> = (0..ENDPOINTS)
        .flat_map(|e| bodies.iter().map(move |b| (e, b)))
        .collect();
    let base_answered = receiver.answered.load(Ordering::Relaxed);
    let started = Instant::now();
    futures::stream::iter(work)
        .for_each_concurrent(CONCURRENCY, |(e, (_, id, body))| {
            let (client, secret, url) = (&client, &secret, &url);
            async move {
                let ts = chrono::Utc::now().timestamp();
                let resp = client
                    .post(format!("{url}/{e}"))
                    .header("content-type", "application/json")
                    .header("webhook-id", id)
                    .header("webhook-timestamp", ts.to_string())
                    .header(
                        "webhook-signature",
                        signature_header(&[secret], id, ts, body),
                    )
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(resp.status().is_success());
            }
        })
        .await;
    let bare = started.elapsed();
    assert_eq!(
        receiver.answered.load(Ordering::Relaxed) - base_answered,
        total
    );

    let per_sec = |d: Duration| total as f64 / d.as_secs_f64();
    println!(
        "outbound deliveries: {total} ({events} events × {ENDPOINTS} endpoints, {engine}, {CONCURRENCY} at once)"
    );
    println!(
        "  logging the events (not timed below): {:.2} s",
        logged.as_secs_f64()
    );
    println!(
        "  delivery worker: {:.2} s, {:.0} deliveries/s",
        service.as_secs_f64(),
        per_sec(service)
    );
    println!(
        "  bare signed POSTs: {:.2} s, {:.0} deliveries/s",
        bare.as_secs_f64(),
        per_sec(bare)
    );
    println!(
        "  ratio worker / bare loop (throughput): {:.2}",
        bare.as_secs_f64() / service.as_secs_f64()
    );
}
