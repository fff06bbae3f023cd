//! The request deadline: a request that runs past `--request-timeout-ms` is answered 503
//! `DEADLINE_EXCEEDED` with `Retry-After`, and the Ponto steps it started finish anyway
//! (shielded): a `syncNow` whose synchronizations Ponto accepted is recorded and followed, an
//! OAuth code Ponto accepted is stored. Without the shield both would be lost with the handler.

use crate::support::{Browser, Linked, RETURN, TestApp, error_code, wait_until};
use serde_json::json;
use std::time::Duration;

/// Short enough for Ponto's delayed answers below to outlast it.
const DEADLINE: &[&str] = &["--request-timeout-ms", "700", "--read-interval-secs", "0"];
const SLOW_MS: u64 = 1500;
const SYNC_NOW: &str = "mutation($a: ID!) { syncNow(input: {accountId: $a, customerIpAddress: \"203.0.113.9\"}) { nextSyncAllowedAt } }";

/// A server with the short deadline, and one Ponto organization with one account.
async fn slow_world() -> (Linked, String, String, String) {
    let l = Linked::start(DEADLINE).await;
    let ponto_org = l.sb.org("Slow BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    let token = l.token("acme");
    (l, ponto_org, acc, token)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_now_past_its_deadline_answers_503_and_still_imports() {
    let (l, ponto_org, acc, token) = slow_world().await;
    let landing = l.connect(&token, &ponto_org, &[&acc], true, false).await;
    assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
    let org = l.app.store.ensure_organization("acme").await.unwrap();
    let _ = l.app.puller.read(org).await;
    let q = "{ bankAccounts(first: 1) { edges { node { id } } } }";
    let id = l.app.gql_data(&token, q, json!({})).await["bankAccounts"]["edges"][0]["node"]["id"]
        .clone();
    assert!(l.transactions(&token, false).await.is_empty());

    l.sb.transactions(
        &acc,
        json!([{"amount": "12.50", "remittanceInformation": "late"}]),
    )
    .await;
    // Ponto does what it is asked at once, then holds each answer past our deadline.
    l.sb.fault(
        json!({"status": 200, "delayAfterMs": SLOW_MS, "count": 2, "path": "/synchronizations"}),
    )
    .await;
    let timed_out = l.app.metric("http_requests_timed_out_total").await;
    let resp = l
        .app
        .client
        .post(format!("{}/graphql", l.app.base))
        .bearer_auth(&token)
        .json(&json!({"query": SYNC_NOW, "variables": {"a": id}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "2");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), Some("DEADLINE_EXCEEDED"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 2, "{body}");
    assert_eq!(
        l.app.metric("http_requests_timed_out_total").await,
        timed_out + 1.0,
        "the timeout is counted"
    );

    // The shielded step finished: the transaction Ponto synchronized is imported by the
    // follow-up (scheduled reads are off), and the slot it spent is recorded as spent.
    wait_until(
        Duration::from_secs(20),
        "the transaction imported",
        || async {
            let txs = l.transactions(&token, false).await;
            txs.iter()
                .any(|t| t.0 == "late")
                .then_some(())
                .ok_or(format!("{txs:?}"))
        },
    )
    .await;
    let again = l.app.gql(&token, SYNC_NOW, json!({"a": id})).await;
    assert_eq!(error_code(&again), Some("RATE_LIMITED"), "{again}");

    // Positive control: a request within the deadline is answered as usual, and not counted.
    let before = l.app.metric("http_requests_timed_out_total").await;
    l.app.gql_data(&token, q, json!({})).await;
    assert_eq!(l.app.metric("http_requests_timed_out_total").await, before);
}

/// Links the slow world's account through the browser flow, with Ponto exchanging the code (it
/// cannot be used again) and answering late: the callback's answer (status and headers).
async fn callback_past_its_deadline(
    l: &Linked,
    ponto_org: &str,
    acc: &str,
    token: &str,
) -> (u16, reqwest::header::HeaderMap) {
    let start = l.connect_url(token, RETURN, false).await.unwrap();
    let mut browser = Browser::new();
    let (status, to_ponto, _) = browser.confirm(&start, "continue").await;
    assert_eq!(status, 303);
    let back =
        l.sb.decide(&to_ponto.unwrap(), ponto_org, &[acc], true)
            .await;
    l.sb.fault(
        json!({"status": 200, "delayAfterMs": SLOW_MS, "count": 1, "path": "/oauth2/token"}),
    )
    .await;
    let (status, _, headers) = browser.get(back.as_str()).await;
    (status, headers)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oauth_callback_past_its_deadline_still_links_the_bank() {
    let (l, ponto_org, acc, token) = slow_world().await;
    let (status, headers) = callback_past_its_deadline(&l, &ponto_org, &acc, &token).await;
    assert_eq!(status, 503, "{headers:?}");
    assert_eq!(headers["x-error-code"], "DEADLINE_EXCEEDED");
    assert_eq!(headers["retry-after"], "2");

    wait_until(Duration::from_secs(20), "the connection linked", || async {
        let c = l.connection(&token).await;
        (c["status"] == "CONNECTED")
            .then_some(())
            .ok_or(c.to_string())
    })
    .await;
    assert_eq!(
        l.connection(&token).await["accounts"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// The service stopping while a shielded step runs (its request already answered 503): the
/// shutdown waits for it before the database pool closes, so the code Ponto exchanged is still
/// recorded — an instance started afterwards on the same database shows the bank linked.
#[tokio::test(flavor = "multi_thread")]
async fn a_shutdown_waits_for_a_shielded_step_its_deadline_left_behind() {
    let (l, ponto_org, acc, token) = slow_world().await;
    let (status, _) = callback_past_its_deadline(&l, &ponto_org, &acc, &token).await;
    assert_eq!(status, 503);

    // Stopped at once: the exchange is still waiting for Ponto's answer.
    let Linked {
        app,
        sb: _sb,
        clock,
    } = l;
    let db = app.db.clone();
    app.stop().await;
    let after = TestApp::builder().db(db).clock(clock).start().await;
    let q = "{ pontoConnection { status } }";
    let c = after
        .gql_data(&after.full_token("acme"), q, json!({}))
        .await;
    assert_eq!(c["pontoConnection"]["status"], "CONNECTED", "{c}");
}
