//! `/graphql/ws` from a raw client: each close code of graphql-transport-ws, keep-alive, a
//! token expiring mid-connection, the limits per organization and per connection, and every
//! subscription yielding its object, replayed `events` included.

use crate::outbound_delivery::announce;
use crate::support::ws::{Got, WsClient};
use crate::support::{TestApp, error_code};
use ponto_bridge::domain::scope::Scope;
use serde_json::{Value, json};
use std::time::Duration;

pub(crate) const EVENTS: &str = "subscription($a: String, $t: [String!]) { events(after: $a, types: $t) { seq cursor type data } }";

/// Lets a subscribe reach the server and start before the test makes what it should see
/// (the protocol has no "subscribed" message).
pub(crate) async fn started() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

async fn app(flags: &[&str]) -> TestApp {
    TestApp::builder().flags(flags).start().await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_close_code_of_the_protocol() {
    let app = app(&[
        "--ws-init-timeout-secs",
        "1",
        "--ws-max-message-bytes",
        "4096",
    ])
    .await;
    let base = app.base.as_str();
    let token = app.full_token("acme");
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});

    // Positive control: the protocol as the client library speaks it.
    let mut c = WsClient::ready(base, &token).await;
    c.send(json!({"type": "ping"})).await;
    assert_eq!(c.json().await["type"], "pong");
    c.subscribe("1", EVENTS, json!({})).await;
    started().await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    announce(&app, org, "control").await;
    let got = c.next_for("1").await;
    assert_eq!(got["data"]["events"]["type"], "connection.broken", "{got}");

    let mut c = WsClient::connect_offering(base, None).await;
    assert_eq!(c.close_code().await.0, 4406, "no subprotocol");

    let mut c = WsClient::connect(base).await;
    c.send_text("not json").await;
    assert_eq!(c.close_code().await.0, 4400);
    let mut c = WsClient::connect(base).await;
    c.send(json!({"type": "connection_terminate"})).await;
    assert_eq!(
        c.close_code().await.0,
        4400,
        "not a message of this protocol"
    );
    let mut c = WsClient::connect(base).await;
    c.send_binary(b"{}".to_vec()).await;
    assert_eq!(c.close_code().await.0, 4400);

    let mut c = WsClient::connect(base).await;
    c.subscribe("1", EVENTS, json!({})).await;
    assert_eq!(
        c.close_code().await.0,
        4401,
        "subscribe before connection_ack"
    );

    for payload in [
        json!({"Authorization": "Bearer not-a-jwt"}),
        json!({}),
        json!({"Authorization": format!("Basic {token}")}),
    ] {
        let mut c = WsClient::connect(base).await;
        c.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        assert_eq!(c.close_code().await.0, 4403, "{payload}");
    }
    // The other spellings of the token are accepted.
    for payload in [
        json!({"authorization": format!("bearer {token}")}),
        json!({"token": token}),
    ] {
        let mut c = WsClient::connect(base).await;
        c.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        assert_eq!(c.json().await["type"], "connection_ack", "{payload}");
    }

    let mut c = WsClient::connect(base).await;
    let (code, _) = c.close_code().await;
    assert_eq!(code, 4408, "no connection_init within a second");

    let mut c = WsClient::ready(base, &token).await;
    c.subscribe("same", EVENTS, json!({})).await;
    c.subscribe("same", EVENTS, json!({})).await;
    assert_eq!(c.close_code().await.0, 4409);
    // A completed id may be used again.
    let mut c = WsClient::ready(base, &token).await;
    c.subscribe("same", EVENTS, json!({})).await;
    c.send(json!({"type": "complete", "id": "same"})).await;
    c.subscribe("same", EVENTS, json!({})).await;
    started().await;
    announce(&app, org, "reused id").await;
    let got = c.next_for("same").await;
    assert_eq!(got["data"]["events"]["data"]["reason"], "reused id");

    let mut c = WsClient::ready(base, &token).await;
    c.send(init.clone()).await;
    assert_eq!(c.close_code().await.0, 4429);

    let mut c = WsClient::ready(base, &token).await;
    let big = json!({"type": "subscribe", "id": "x", "payload": {"query": "x".repeat(5000)}});
    c.send(big).await;
    assert_eq!(c.close_code().await.0, 1009, "over --ws-max-message-bytes");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_expiring_during_a_connection_closes_it() {
    let app = app(&["--jwt-leeway-secs", "0"]).await;
    let short = app
        .auth
        .mint_hs256("acme", &Scope::ALL, "tester", 2)
        .unwrap();
    let mut c = WsClient::ready(&app.base, &short).await;
    c.subscribe("1", EVENTS, json!({})).await;
    started().await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    announce(&app, org, "before expiry").await;
    assert_eq!(
        c.next_for("1").await["data"]["events"]["type"],
        "connection.broken"
    );
    let (code, reason) = c.close_code().await;
    assert_eq!(
        (code, reason.as_str()),
        (4403, "Forbidden: the token expired")
    );
    // Positive control: a long-lived token's connection stays open past that.
    let mut c = WsClient::ready(&app.base, &app.full_token("acme")).await;
    c.silent_for(Duration::from_secs(3)).await;

    // A token already expired when the connection is initialized is refused there.
    let expired = app
        .auth
        .mint_hs256("acme", &Scope::ALL, "tester", -60)
        .unwrap();
    let mut c = WsClient::connect(&app.base).await;
    c.send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {expired}")}}))
        .await;
    assert_eq!(c.close_code().await.0, 4403);
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_pings_arrive() {
    let app = app(&["--ws-keepalive-secs", "1"]).await;
    let mut c = WsClient::ready(&app.base, &app.full_token("acme")).await;
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(2500);
    while tokio::time::Instant::now() < until {
        if let Some(Got::Json(v)) = c.next_raw_within(Duration::from_millis(200)).await
            && v["type"] == "ping"
        {
            pings += 1;
        }
    }
    assert!(pings >= 2, "{pings} pings in 2.5 s at one per second");
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_per_organization_and_per_connection() {
    let app = app(&[
        "--ws-max-connections-per-organization",
        "2",
        "--ws-max-subscriptions-per-connection",
        "2",
    ])
    .await;
    let token = app.full_token("acme");
    let first = WsClient::ready(&app.base, &token).await;
    let mut second = WsClient::ready(&app.base, &token).await;
    let mut c = WsClient::connect(&app.base).await;
    c.send(json!({"type": "connection_init", "payload": {"token": token}}))
        .await;
    let (code, reason) = c.close_code().await;
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.starts_with("CONNECTION_LIMIT"), "{reason}");
    // Another organization has its own allowance; a closed connection frees its place.
    WsClient::ready(&app.base, &app.full_token("other")).await;
    drop(first);
    crate::support::wait_until(Duration::from_secs(5), "a place freed", || async {
        let mut c = WsClient::connect(&app.base).await;
        c.send(json!({"type": "connection_init", "payload": {"token": token}}))
            .await;
        match c.next_within(Duration::from_secs(5)).await {
            Some(Got::Json(v)) if v["type"] == "connection_ack" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    second.subscribe("1", EVENTS, json!({})).await;
    second.subscribe("2", EVENTS, json!({})).await;
    second.subscribe("3", EVENTS, json!({})).await;
    let refused = second.json().await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["id"], "3");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "SUBSCRIPTION_LIMIT"
    );
    // Completing one makes room; the connection stayed open throughout.
    second.send(json!({"type": "complete", "id": "1"})).await;
    second.subscribe("3", EVENTS, json!({})).await;
    started().await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    announce(&app, org, "room").await;
    let mut ids = vec![
        second.json().await["id"].as_str().unwrap().to_owned(),
        second.json().await["id"].as_str().unwrap().to_owned(),
    ];
    ids.sort();
    assert_eq!(ids, ["2", "3"]);
}

/// `events(after)` replays what follows the cursor, then goes on live; a bad cursor and an
/// unknown type are refused with the protocol's `error`, the connection staying open.
#[tokio::test(flavor = "multi_thread")]
async fn events_replay_from_a_cursor_then_go_on_live() {
    let app = TestApp::start().await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    for i in 0..3 {
        announce(&app, org, &format!("old {i}")).await;
    }
    let token = app.full_token("acme");
    let mut c = WsClient::ready(&app.base, &token).await;
    // From the start: `after` is the cursor of event 1.
    let q = "{ events(first: 1) { edges { cursor } } }";
    let first = app.gql_data(&token, q, json!({})).await["events"]["edges"][0]["cursor"].clone();
    c.subscribe("r", EVENTS, json!({"a": first})).await;
    let seqs: Vec<i64> = [c.next_for("r").await, c.next_for("r").await]
        .iter()
        .map(|p| p["data"]["events"]["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 3]);
    announce(&app, org, "new").await;
    let live = c.next_for("r").await;
    assert_eq!(live["data"]["events"]["seq"], 4);
    assert_eq!(live["data"]["events"]["data"]["reason"], "new");

    c.subscribe("bad", EVENTS, json!({"a": "nope"})).await;
    let e = c.json().await;
    assert_eq!(
        (e["type"].as_str(), e["id"].as_str()),
        (Some("error"), Some("bad")),
        "{e}"
    );
    assert_eq!(e["payload"][0]["extensions"]["code"], "BAD_USER_INPUT");
    c.subscribe("t", EVENTS, json!({"t": ["invoice.nope"]}))
        .await;
    let e = c.json().await;
    assert_eq!(e["type"], "error", "{e}");
    // Type filters hold live.
    c.subscribe("only", EVENTS, json!({"t": ["invoice.paid"]}))
        .await;
    started().await;
    announce(&app, org, "not an invoice event").await;
    let next = c.json().await;
    assert_eq!(next["id"], "r", "only `r` sees a connection event: {next}");
    c.silent_for(Duration::from_millis(300)).await;
}

/// The payload of a `next`, or the errors of an `error`, as a GraphQL response.
pub(crate) fn as_response(m: &Value) -> Value {
    match m["type"].as_str() {
        Some("next") => m["payload"].clone(),
        Some("error") => json!({"errors": m["payload"]}),
        _ => panic!("not a result: {m}"),
    }
}

/// Runs a subscription document once as `token` and reports the first result within
/// `wait`: its response, or `{"data": null}` when nothing came (started, nothing to show).
pub(crate) async fn first_result(app: &TestApp, token: &str, doc: &str, vars: Value) -> Value {
    let mut c = WsClient::ready(&app.base, token).await;
    c.subscribe("s", doc, vars).await;
    match c.next_within(Duration::from_millis(500)).await {
        Some(Got::Json(m)) => as_response(&m),
        Some(Got::Closed(code, reason)) => panic!("closed {code} {reason}"),
        None => json!({"data": null}),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_refused_at_its_root_is_an_error_message() {
    let app = TestApp::start().await;
    let unknown = ponto_bridge::graphql::ids::encode("Invoice", uuid::Uuid::now_v7());
    let body = first_result(
        &app,
        &app.full_token("acme"),
        "subscription($id: ID) { invoicePaymentStatusChanged(invoiceId: $id) { id } }",
        json!({"id": unknown}),
    )
    .await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    let body = first_result(
        &app,
        &app.full_token("acme"),
        "subscription { nope }",
        json!({}),
    )
    .await;
    assert_eq!(
        error_code(&body),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{body}"
    );
}

/// A client that stops reading is dropped once a message cannot leave for the send timeout;
/// meanwhile another client of the same organization is served as usual.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_does_not_read_is_dropped_without_holding_up_others() {
    let app = app(&["--ws-send-timeout-secs", "4"]).await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let token = app.full_token("acme");
    // About 6 MB of log to replay: more than the socket buffers on both sides hold.
    let filler = "x".repeat(12_000);
    let mut tx = app.store.begin_write().await.unwrap();
    let events: Vec<_> = (0..500)
        .map(|i| {
            (
                crate::support::catalogue::broken_connection(&format!("{i} {filler}")),
                None,
            )
        })
        .collect();
    tx.append_events(org, events).await.unwrap();
    tx.commit().await.unwrap();
    let slow_clients = "graphql_ws_slow_clients_total";

    // Positive control: a client that reads takes the whole replay and stays.
    let mut reader = WsClient::connect_small(&app.base, 4096).await;
    reader.init(&token).await;
    reader
        .subscribe("all", EVENTS, json!({"a": encode_cursor(0)}))
        .await;
    for _ in 0..500 {
        reader.next_for("all").await;
    }
    assert_eq!(app.metric(slow_clients).await, 0.0);

    let mut stalled = WsClient::connect_small(&app.base, 4096).await;
    stalled.init(&token).await;
    stalled
        .subscribe("all", EVENTS, json!({"a": encode_cursor(0)}))
        .await;
    // It reads nothing from here on. Another client is served at once all the same.
    let mut other = WsClient::ready(&app.base, &token).await;
    other.subscribe("live", EVENTS, json!({})).await;
    started().await;
    announce(&app, org, "while one stalls").await;
    let got = other.next_for("live").await;
    assert_eq!(got["data"]["events"]["data"]["reason"], "while one stalls");
    assert_eq!(app.metric(slow_clients).await, 0.0, "not dropped yet");
    crate::support::wait_until(
        Duration::from_secs(20),
        "the stalled client dropped",
        || async {
            let n = app.metric(slow_clients).await;
            (n == 1.0).then_some(()).ok_or(format!("{n}"))
        },
    )
    .await;
    // The reader stayed, and was served the live event too.
    let got = reader.next_for("all").await;
    assert_eq!(got["data"]["events"]["data"]["reason"], "while one stalls");
    drop(stalled);
}

/// An event log cursor (as `Event.cursor` spells it) for a sequence number.
fn encode_cursor(seq: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
}

/// Pinned as a class: `connectionStatusChanged` yields for every catalogue event about the
/// connection or one of its accounts (status, problems, balance, re-authorization, added,
/// revoked) and for no other, so a new type is covered without anyone remembering.
#[tokio::test(flavor = "multi_thread")]
async fn the_connection_subscription_follows_every_connection_and_account_event() {
    use ponto_bridge::domain::event::EventType;
    let app = app(&[]).await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let mut c = WsClient::ready(&app.base, &app.full_token("acme")).await;
    c.subscribe(
        "1",
        "subscription { connectionStatusChanged { status } }",
        json!({}),
    )
    .await;
    started().await;
    let mut yielded = 0;
    for t in EventType::ALL {
        let name = t.as_str();
        let e = crate::catalogue::sample(t, chrono::Utc::now());
        crate::outbound_delivery::append(&app, org, &e).await;
        if name.starts_with("connection.") || name.starts_with("bank_account.") {
            let got = c.next_for("1").await;
            assert!(
                got["data"]["connectionStatusChanged"]["status"].is_string(),
                "{name}: {got}"
            );
            yielded += 1;
        } else {
            c.silent_for(Duration::from_millis(300)).await;
        }
    }
    // Nothing left over: a late yield for a type that should not yield would still be here.
    c.silent_for(Duration::from_millis(500)).await;
    // Positive control: both kinds were met.
    assert!(yielded > 0 && yielded < EventType::ALL.len(), "{yielded}");
}
