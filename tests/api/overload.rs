//! Load shedding from outside: with the bound at two, two requests held in flight (their bodies
//! still arriving) make a third one 503 `OVERLOADED` with `Retry-After` at once; probes and
//! metrics still answer; the gauge shows the two; once they end, requests are served again.

use crate::support::{TestApp, error_code, wait_until};
use bytes::Bytes;
use futures::channel::mpsc;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn requests_beyond_the_bound_are_shed_at_once() {
    let app = TestApp::builder()
        .flags(&["--max-requests-in-flight", "2"])
        .start()
        .await;
    let token = app.full_token("acme");
    let graphql = format!("{}/graphql", app.base);
    let mut held = Vec::new();
    for _ in 0..2 {
        let (tx, rx) = mpsc::unbounded::<Result<Bytes, std::io::Error>>();
        tx.unbounded_send(Ok(Bytes::from_static(b"{\"query\": ")))
            .unwrap();
        let request = app
            .client
            .post(&graphql)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(rx));
        held.push((tx, tokio::spawn(request.send())));
    }
    wait_until(Duration::from_secs(5), "two requests in flight", || async {
        let n = app.metric("http_requests_in_flight").await;
        (n == 2.0).then_some(()).ok_or(format!("{n}"))
    })
    .await;

    let started = Instant::now();
    let shed = app
        .client
        .post(&graphql)
        .bearer_auth(&token)
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered at once"
    );
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: Value = shed.json().await.unwrap();
    assert_eq!(error_code(&body), Some("OVERLOADED"), "{body}");
    for probe in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(app.get(probe).await.status(), 200, "{probe} is never shed");
    }
    assert_eq!(app.metric("http_requests_shed_total").await, 1.0);

    for (tx, request) in held {
        tx.unbounded_send(Ok(Bytes::from_static(b"\"{ __typename }\"}")))
            .unwrap();
        drop(tx);
        let answer = request.await.unwrap().unwrap();
        assert_eq!(answer.status(), 200);
    }
    let d = app.gql(&token, "{ __typename }", json!({})).await;
    assert_eq!(d["data"]["__typename"], "Query", "{d}");
    assert_eq!(app.metric("http_requests_in_flight").await, 0.0);
}
