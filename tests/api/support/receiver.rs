//! A webhook receiver on loopback: records every POST (its `Signature` header and body bytes)
//! in arrival order and answers as scripted (500 to the next few, 200 otherwise). Tests read
//! its log to see what a sender really did.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use ponto_sandbox::tls::{TlsFiles, spawn_server};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub signature: Option<String>,
    /// Every header, as received.
    pub headers: HeaderMap,
    /// When it arrived (wall clock).
    pub at: std::time::Instant,
    pub body: Bytes,
    /// What we answered.
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// `data.id` and `data.type`.
    pub fn id_and_type(&self) -> (String, String) {
        let v = self.json();
        let s = |k: &str| v["data"][k].as_str().unwrap_or_default().to_owned();
        (s("id"), s("type"))
    }
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    /// Answer 500 to this many more requests.
    fail_next: u32,
    /// Answer this many more requests only after 5 s (a sender's timeout is shorter).
    hang_next: u32,
    /// Answers for the next requests, before `fail_next`: a status and extra headers.
    script: std::collections::VecDeque<(u16, Vec<(&'static str, String)>)>,
    /// Every request is held this long before its answer.
    hold: Duration,
    /// Requests being held now, by `webhook-id`.
    holding: std::collections::HashMap<String, usize>,
    /// `webhook-id`s that arrived while a request with the same id was still being held.
    overlaps: Vec<String>,
    /// Requests that arrived, answered or not yet.
    started: usize,
}

pub struct Receiver {
    /// The URL to send to.
    pub url: String,
    log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(log): State<Arc<Mutex<Log>>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (hang, hold) = {
        let mut log = log.lock().unwrap();
        let hang = log.hang_next > 0;
        log.hang_next = log.hang_next.saturating_sub(1);
        log.started += 1;
        if let Some(id) = &id {
            let n = log.holding.entry(id.clone()).or_default();
            *n += 1;
            if *n > 1 {
                log.overlaps.push(id.clone());
            }
        }
        (hang, log.hold)
    };
    if hang {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    tokio::time::sleep(hold).await;
    if let Some(id) = &id {
        let mut log = log.lock().unwrap();
        if let Some(n) = log.holding.get_mut(id) {
            *n -= 1;
        }
    }
    let mut log = log.lock().unwrap();
    let (status, extra) = if let Some((s, extra)) = log.script.pop_front() {
        (StatusCode::from_u16(s).unwrap(), extra)
    } else if log.fail_next > 0 {
        log.fail_next -= 1;
        (StatusCode::INTERNAL_SERVER_ERROR, vec![])
    } else {
        (StatusCode::OK, vec![])
    };
    let signature = headers
        .get("signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    log.received.push(Received {
        signature,
        headers,
        at: std::time::Instant::now(),
        body,
        status: status.as_u16(),
    });
    let mut response = (status, "answered by the test receiver").into_response();
    for (name, value) in extra {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

impl Receiver {
    pub async fn start() -> Self {
        Self::serve(None).await
    }

    /// A receiver over TLS with this certificate; its `url` is `https://127.0.0.1:PORT/hook`.
    pub async fn start_tls(cert_pem: &str, key_pem: &str) -> Self {
        Self::serve(Some(TlsFiles {
            cert_pem: cert_pem.as_bytes().to_vec(),
            key_pem: key_pem.as_bytes().to_vec(),
            client_ca_pem: None,
        }))
        .await
    }

    async fn serve(tls: Option<TlsFiles>) -> Self {
        let log = Arc::new(Mutex::new(Log::default()));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/hook", listener.local_addr().unwrap());
        let task = spawn_server(listener, app, tls).unwrap();
        Self { url, log, task }
    }

    /// Answers 500 to the next `n` requests.
    pub fn fail_next(&self, n: u32) {
        self.log.lock().unwrap().fail_next = n;
    }

    /// Answers the next requests with these statuses and headers, in order.
    pub fn script(&self, answers: Vec<(u16, Vec<(&'static str, String)>)>) {
        self.log.lock().unwrap().script.extend(answers);
    }

    /// Holds every request this long before answering it.
    #[allow(dead_code)] // The serial binary's two-instance test.
    pub fn hold_each(&self, d: Duration) {
        self.log.lock().unwrap().hold = d;
    }

    /// The `webhook-id`s that were ever being answered twice at once.
    #[allow(dead_code)] // The serial binary's two-instance test.
    pub fn overlaps(&self) -> Vec<String> {
        self.log.lock().unwrap().overlaps.clone()
    }

    /// Requests that arrived so far, including those not yet answered.
    pub fn started(&self) -> usize {
        self.log.lock().unwrap().started
    }

    /// Answers the next `n` requests only after 5 s.
    pub fn hang_next(&self, n: u32) {
        self.log.lock().unwrap().hang_next = n;
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }

    /// Waits until at least `n` requests arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        super::wait_until(Duration::from_secs(15), "webhooks to arrive", || async {
            let got = self.received();
            if got.len() >= n {
                Ok(got)
            } else {
                Err(format!(
                    "{} of {n}: {:?}",
                    got.len(),
                    got.iter().map(Received::id_and_type).collect::<Vec<_>>()
                ))
            }
        })
        .await
    }
}
