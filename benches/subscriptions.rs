//! Benchmark: 1,000 concurrent GraphQL subscribers (`events`, graphql-transport-ws over
//! `/graphql/ws`) of one organization — event-to-client latency p50/p99 and memory per idle
//! connection — next to a baseline measured in the same run: a minimal axum WebSocket handler
//! pushing a message of the same shape to 1,000 plain connections from a broadcast channel (no
//! database, no GraphQL, no protocol).
//!
//! Each server runs in a child process of its own (this executable again, `BENCH_ROLE`), so its
//! resident memory is its own; the clients run here. An event is "emitted" when the child reads
//! the command (`emit`): the service appends it to the log as the service does, the baseline
//! broadcasts it; latency is from writing the command to each client's receipt.
//!
//! Run: `cargo bench --bench subscriptions` (SQLite in a temp dir), or with
//! `BENCH_DATABASE_URL=postgres://…/<empty db>`. Knobs: `BENCH_SUBSCRIBERS` (1000),
//! `BENCH_EVENTS` (50).

mod support;

use futures::{SinkExt, StreamExt};
use ponto_bridge::app::App;
use ponto_bridge::clock::SystemClock;
use ponto_bridge::domain::event::{ConnectionData, ConnectionEvent, Event};
use ponto_bridge::domain::scope::Scope;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SUBSCRIPTION: &str =
    r#"{"type":"subscribe","id":"1","payload":{"query":"subscription { events { seq type } }"}}"#;

fn event(i: usize) -> Event {
    Event::connection(
        ConnectionEvent::Broken,
        ConnectionData {
            connection_id: "bench".into(),
            status: "BROKEN".into(),
            problems: vec![],
            reason: Some(format!("emit {i}")),
        },
    )
}

/// Reads commands from stdin until EOF: `emit <i>` or `rss` (answered on stdout).
async fn serve_commands(mut emit: impl FnMut(usize) -> futures::future::BoxFuture<'static, ()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        if let Some(i) = line.strip_prefix("emit ") {
            emit(i.parse().unwrap()).await;
        } else if line == "rss" {
            println!("rss {}", support::memory().0);
        }
    }
}

/// The service, on the bench database, with room for every subscriber.
async fn service_role() {
    let bench_db = support::BenchDb::new();
    let subscribers: usize = support::env_or("BENCH_SUBSCRIBERS", 1000);
    let limit = (subscribers + 10).to_string();
    let serve = bench_db.serve_settings(&[
        "--ws-max-connections-per-organization",
        &limit,
        "--scheduler-poll-ms",
        "1000",
    ]);
    let app = App::build(&serve, Arc::new(SystemClock)).await.unwrap();
    let store = app.store().clone();
    let token = app
        .authenticator()
        .mint_hs256("bench", &Scope::ALL, "bench", 3600)
        .unwrap();
    let ws = format!("ws://{}/graphql/ws", app.local_addr());
    tokio::spawn(app.run(std::future::pending()));
    let org = store.ensure_organization("bench").await.unwrap();
    println!("ready {ws} {token}");
    println!("rss {}", support::memory().0);
    serve_commands(move |i| {
        let store = store.clone();
        Box::pin(async move {
            let mut tx = store.begin_write().await.unwrap();
            tx.append_event(org, &event(i), None).await.unwrap();
            tx.commit().await.unwrap();
        })
    })
    .await;
}

/// The baseline: every connection forwards what a broadcast channel carries.
async fn baseline_role() {
    use axum::extract::ws::{Message as AxMessage, WebSocketUpgrade};
    let (tx, _) = broadcast::channel::<String>(64);
    let sender = tx.clone();
    let router = axum::Router::new().route(
        "/ws",
        axum::routing::get(move |ws: WebSocketUpgrade| {
            let mut rx = sender.subscribe();
            async move {
                ws.on_upgrade(move |mut socket| async move {
                    while let Ok(text) = rx.recv().await {
                        if socket.send(AxMessage::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("ready ws://{}/ws -", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    println!("rss {}", support::memory().0);
    serve_commands(move |i| {
        // The shape of the service's message for the same event.
        let text = format!(
            r#"{{"type":"next","id":"1","payload":{{"data":{{"events":{{"seq":{i},"type":"connection.broken"}}}}}}}}"#
        );
        let _ = tx.send(text);
        Box::pin(async {})
    })
    .await;
}

/// A server child process and its command pipe.
struct Child {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    stdin: std::process::ChildStdin,
}

impl Child {
    fn start(role: &str) -> (Self, String, String, f64) {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .env("BENCH_ROLE", role)
            .env("RUST_LOG", "error")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.next().unwrap().unwrap();
        let mut parts = ready.split_whitespace().skip(1);
        let (url, token) = (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        );
        let mut c = Self {
            child,
            lines,
            stdin,
        };
        let rss = c.read_rss();
        (c, url, token, rss)
    }

    fn read_rss(&mut self) -> f64 {
        let line = self.lines.next().unwrap().unwrap();
        line.strip_prefix("rss ").unwrap().parse().unwrap()
    }

    fn command(&mut self, c: &str) {
        writeln!(self.stdin, "{c}").unwrap();
        self.stdin.flush().unwrap();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Figures {
    p50_ms: f64,
    p99_ms: f64,
    kib_per_connection: f64,
}

/// Connects `n` clients to a server child, measures memory per connection, then the latency
/// of `events` emitted one at a time (each received by all before the next).
async fn measure(role: &str, n: usize, events: usize) -> Figures {
    let (mut child, url, token, rss_before) = Child::start(role);
    let graphql = token != "-";
    let (got_tx, mut got) = mpsc::unbounded_channel::<Instant>();
    for _ in 0..n {
        let mut request = url.clone().into_client_request().unwrap();
        if graphql {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                "graphql-transport-ws".parse().unwrap(),
            );
        }
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        if graphql {
            let init = format!(
                r#"{{"type":"connection_init","payload":{{"Authorization":"Bearer {token}"}}}}"#
            );
            ws.send(Message::Text(init.into())).await.unwrap();
            let ack = ws.next().await.unwrap().unwrap();
            assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack}");
            ws.send(Message::Text(SUBSCRIPTION.into())).await.unwrap();
        }
        let got_tx = got_tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m {
                    if t.as_str().contains(r#""type":"next""#) {
                        let _ = got_tx.send(Instant::now());
                    } else if t.as_str().contains(r#""type":"ping""#) {
                        let _ = ws.send(Message::Text(r#"{"type":"pong"}"#.into())).await;
                    }
                }
            }
        });
    }
    // Every subscription starts (the protocol does not say when), then a warm-up round.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let round = |i: usize, child: &mut Child| {
        let t0 = Instant::now();
        child.command(&format!("emit {i}"));
        t0
    };
    let mut latencies = Vec::with_capacity(n * events);
    for i in 0..events + 3 {
        let t0 = round(i, &mut child);
        for _ in 0..n {
            let at = tokio::time::timeout(Duration::from_secs(60), got.recv())
                .await
                .expect("every subscriber receives each event")
                .unwrap();
            if i >= 3 {
                latencies.push(at.duration_since(t0).as_secs_f64() * 1000.0);
            }
        }
    }
    child.command("rss");
    let rss_after = child.read_rss();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    Figures {
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        kib_per_connection: (rss_after - rss_before) * 1024.0 / n as f64,
    }
}

#[tokio::main]
async fn main() {
    ponto_bridge::install_crypto_provider();
    match std::env::var("BENCH_ROLE").as_deref() {
        Ok("service") => return service_role().await,
        Ok("baseline") => return baseline_role().await,
        _ => {}
    }
    let n: usize = support::env_or("BENCH_SUBSCRIBERS", 1000);
    let events: usize = support::env_or("BENCH_EVENTS", 50);
    let engine = support::BenchDb::new().engine();
    let base = measure("baseline", n, events).await;
    let service = measure("service", n, events).await;
    println!("{n} subscribers, {events} events, one at a time ({engine}):");
    println!(
        "  baseline (plain axum WebSocket, broadcast): p50 {:.2} ms, p99 {:.2} ms, {:.1} KiB per connection",
        base.p50_ms, base.p99_ms, base.kib_per_connection
    );
    println!(
        "  service (graphql-transport-ws, events subscription): p50 {:.2} ms, p99 {:.2} ms, {:.1} KiB per connection",
        service.p50_ms, service.p99_ms, service.kib_per_connection
    );
    println!(
        "  ratios service/baseline: p50 {:.1}x, p99 {:.1}x, memory per connection {:.1}x",
        service.p50_ms / base.p50_ms,
        service.p99_ms / base.p99_ms,
        service.kib_per_connection / base.kib_per_connection
    );
}
