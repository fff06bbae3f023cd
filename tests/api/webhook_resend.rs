//! Sending again, and seeing what was sent: `sendTestWebhook` (to that endpoint only),
//! `redeliverWebhook` (the same `webhook-id` once more), `recoverWebhookEndpoint` (what an
//! endpoint missed while disabled), each attempt in `deliveries` with its trigger, the
//! endpoint's `health`, and the delivery figures on `/metrics`.

use crate::outbound_delivery::{announce, app, endpoint, header};
use crate::support::{Receiver, wait_until};
use serde_json::{Value, json};
use std::time::Duration as Wait;

const DELIVERIES: &str = "query($id: ID!) { webhookEndpoint(id: $id) {
    deliveries(first: 10) { edges { node { id status attemptCount event { id type }
        attempts { number trigger responseStatus } } } }
    health { successRate attemptsLast24Hours failuresLast24Hours lastSuccessAt backlog
        lastError { responseStatus } } } }";

fn nodes(d: &Value) -> Vec<Value> {
    d["webhookEndpoint"]["deliveries"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// The endpoint's deliveries and health once `n` attempts are on record. Read again after the
/// wait: the fields of one query are read at slightly different times, so the read that first
/// saw the attempts may have read `health` just before them.
async fn triggers(app: &crate::support::TestApp, token: &str, id: &str, n: usize) -> Value {
    wait_until(Wait::from_secs(10), "attempts on record", || async {
        let d = app.gql_data(token, DELIVERIES, json!({"id": id})).await;
        let count: usize = nodes(&d)
            .iter()
            .map(|d| d["attempts"].as_array().unwrap().len())
            .sum();
        if count >= n {
            Ok(d)
        } else {
            Err(format!("{count} of {n}"))
        }
    })
    .await;
    app.gql_data(token, DELIVERIES, json!({"id": id})).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_event_reaches_its_endpoint_only_and_a_redelivery_resends_it() {
    let app = app(&[]).await;
    let admin = app.full_token("acme");
    let (rx, other) = (Receiver::start().await, Receiver::start().await);
    let (id, _) = endpoint(&app, &rx.url).await;
    endpoint(&app, &other.url).await;

    let m = "mutation($id: ID!) { sendTestWebhook(input: {id: $id}) {
        delivery { id status event { id type data } } userErrors { code } } }";
    let d = app.gql_data(&admin, m, json!({"id": id})).await["sendTestWebhook"].take();
    assert_eq!(d["userErrors"], json!([]), "{d}");
    assert_eq!(d["delivery"]["event"]["type"], "webhook_endpoint.test");
    let got = rx.wait_for(1).await;
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["type"], "webhook_endpoint.test");
    assert_eq!(
        body["data"]["endpointId"],
        d["delivery"]["event"]["data"]["endpointId"]
    );
    let first_id = header(&got[0], "webhook-id");

    // Another endpoint subscribed to every type gets nothing of it, while it does get a
    // regular event (the positive control).
    let org = app.store.ensure_organization("acme").await.unwrap();
    announce(&app, org, "after the test").await;
    let seen = other.wait_for(1).await;
    let types: Vec<String> = seen
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(types, ["connection.broken"]);
    rx.wait_for(2).await;

    let after = triggers(&app, &admin, &id, 2).await;
    let h = &after["webhookEndpoint"]["health"];
    assert_eq!(h["successRate"], 1.0, "{h}");
    assert_eq!(h["attemptsLast24Hours"], 2, "{h}");
    assert_eq!(h["backlog"], 0, "{h}");
    assert_eq!(h["lastError"], Value::Null, "{h}");

    // A redelivery of the test delivery: the same webhook-id once more, started by MANUAL.
    let m = "mutation($id: ID!) { redeliverWebhook(input: {deliveryId: $id}) {
        delivery { id status } userErrors { code } } }";
    let r = app
        .gql_data(&admin, m, json!({"id": d["delivery"]["id"]}))
        .await;
    assert_eq!(r["redeliverWebhook"]["userErrors"], json!([]), "{r}");
    let got = rx.wait_for(3).await;
    assert_eq!(header(&got[2], "webhook-id"), first_id);
    let after = triggers(&app, &admin, &id, 3).await;
    let test = nodes(&after)
        .into_iter()
        .find(|n| n["event"]["type"] == "webhook_endpoint.test")
        .unwrap();
    assert_eq!(
        test["attempts"],
        json!([{"number": 1, "trigger": "TEST", "responseStatus": 200},
               {"number": 2, "trigger": "MANUAL", "responseStatus": 200}])
    );
    assert_eq!(test["status"], "SUCCEEDED");

    // While an attempt is in flight (the receiver holds it 5 s), a redelivery is refused: the
    // attempt's outcome would overwrite it.
    rx.hang_next(1);
    let t = "mutation($id: ID!) { sendTestWebhook(input: {id: $id}) { delivery { id } } }";
    let held =
        app.gql_data(&admin, t, json!({"id": id})).await["sendTestWebhook"]["delivery"]["id"]
            .take();
    wait_until(Wait::from_secs(10), "the attempt in flight", || async {
        rx.started() == 4
    })
    .await;
    let r = app.gql_data(&admin, m, json!({"id": held})).await;
    assert_eq!(
        r["redeliverWebhook"]["userErrors"][0]["code"], "CONFLICT",
        "{r}"
    );
    rx.wait_for(4).await;
    wait_until(
        Wait::from_secs(10),
        "the held attempt on record",
        || async {
            let r = app.gql_data(&admin, m, json!({"id": held})).await;
            r["redeliverWebhook"]["userErrors"] == json!([])
        },
    )
    .await;
    rx.wait_for(5).await;

    // Unknown and malformed ids are NOT_FOUND, and a disabled endpoint is refused.
    let r = app.gql_data(&admin, m, json!({"id": id})).await;
    assert_eq!(
        r["redeliverWebhook"]["userErrors"][0]["code"], "NOT_FOUND",
        "{r}"
    );
    let off = "mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, enabled: false}) { userErrors { code } } }";
    app.gql_data(&admin, off, json!({"id": id})).await;
    let t =
        "mutation($id: ID!) { sendTestWebhook(input: {id: $id}) { userErrors { field code } } }";
    let r = app.gql_data(&admin, t, json!({"id": id})).await;
    assert_eq!(
        r["sendTestWebhook"]["userErrors"],
        json!([{"field": ["id"], "code": "ENDPOINT_DISABLED"}]),
        "{r}"
    );

    let metrics = app.metrics().await;
    assert!(
        metrics.contains("webhook_attempts_total{outcome=\"success\"} 6"),
        "{metrics}"
    );
    assert!(metrics.contains("webhook_deliveries_pending "), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recovery_sends_what_an_endpoint_missed_while_disabled() {
    let app = app(&[]).await;
    let admin = app.full_token("acme");
    let org = app.store.ensure_organization("acme").await.unwrap();
    let rx = Receiver::start().await;
    let (id, _) = endpoint(&app, &rx.url).await;
    let since = app.store.clock().now();
    announce(&app, org, "while enabled").await;
    rx.wait_for(1).await;

    let set = "mutation($id: ID!, $on: Boolean!) { updateWebhookEndpoint(input: {id: $id, enabled: $on}) { userErrors { code } } }";
    app.gql_data(&admin, set, json!({"id": id, "on": false}))
        .await;
    for reason in ["missed 1", "missed 2"] {
        announce(&app, org, reason).await;
    }
    app.gql_data(&admin, set, json!({"id": id, "on": true}))
        .await;
    // Enabling sends nothing by itself: those events never had a delivery to this endpoint.
    tokio::time::sleep(Wait::from_millis(400)).await;
    assert_eq!(rx.received().len(), 1);

    let m = "mutation($id: ID!, $s: DateTime!) { recoverWebhookEndpoint(input: {endpointId: $id, since: $s}) {
        requeued userErrors { field code } } }";
    let r = app
        .gql_data(&admin, m, json!({"id": id, "s": since.to_rfc3339()}))
        .await;
    assert_eq!(r["recoverWebhookEndpoint"]["requeued"], 2, "{r}");
    let got = rx.wait_for(3).await;
    let mut reasons: Vec<String> = got[1..]
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["data"]["reason"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    // Sent side by side (two in flight per endpoint): their order is not promised.
    reasons.sort();
    assert_eq!(reasons, ["missed 1", "missed 2"]);
    let after = triggers(&app, &admin, &id, 3).await;
    let recovered: Vec<Value> = nodes(&after)
        .iter()
        .filter(|n| n["attempts"][0]["trigger"] == "RECOVERY")
        .map(|n| n["status"].clone())
        .collect();
    assert_eq!(recovered, [json!("SUCCEEDED"), json!("SUCCEEDED")]);

    // Again: nothing is missing any more.
    let r = app
        .gql_data(&admin, m, json!({"id": id, "s": since.to_rfc3339()}))
        .await;
    assert_eq!(r["recoverWebhookEndpoint"]["requeued"], 0, "{r}");
    // Beyond the window (or in the future): OUT_OF_RANGE.
    for s in [
        since - chrono::Duration::days(91),
        since + chrono::Duration::days(1),
    ] {
        let r = app
            .gql_data(&admin, m, json!({"id": id, "s": s.to_rfc3339()}))
            .await;
        assert_eq!(
            r["recoverWebhookEndpoint"]["userErrors"],
            json!([{"field": ["since"], "code": "OUT_OF_RANGE"}]),
            "{r}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_deletes_old_history_but_never_what_waits_to_be_sent() {
    use ponto_bridge::domain::status::EndpointStatus;
    use ponto_bridge::store::webhooks::EndpointChanges;
    let app = app(&[]).await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let rx = Receiver::start().await;
    let (id, _) = endpoint(&app, &rx.url).await;
    let old = announce(&app, org, "old, delivered").await;
    rx.wait_for(1).await;
    triggers(&app, &app.full_token("acme"), &id, 1).await;

    // An event whose delivery waits: its endpoint is disabled in the very transaction that
    // logs it (the worker never sees it enabled). Then one logged while it is disabled.
    let endpoint_id = app.store.endpoints(org).await.unwrap()[0].id;
    let mut tx = app.store.begin_write().await.unwrap();
    let waiting = tx
        .append_event(
            org,
            &crate::support::catalogue::broken_connection("waiting"),
            None,
        )
        .await
        .unwrap()
        .unwrap()
        .id;
    let off = EndpointChanges {
        status: Some((EndpointStatus::Disabled, Some("test".into()))),
        ..Default::default()
    };
    assert!(tx.update_endpoint(org, endpoint_id, off).await.unwrap());
    tx.commit().await.unwrap();
    let behind = announce(&app, org, "behind the waiting one").await;
    app.clock.advance(chrono::Duration::days(10));
    let later = announce(&app, org, "later").await;

    // 91 days on, the first three are past a 90-day retention: the delivered one goes with its
    // delivery and attempt; the waiting one stays, and so does everything after it.
    app.clock.advance(chrono::Duration::days(81));
    let cutoff = app.store.clock().now() - chrono::Duration::days(90);
    let logged = |app: &'_ crate::support::TestApp| {
        let store = app.store.clone();
        async move {
            let events = store.events_after(org, 0, 10).await.unwrap();
            events.into_iter().map(|e| e.id).collect::<Vec<_>>()
        }
    };
    let purged = app.store.purge_delivery_log(cutoff, cutoff).await.unwrap();
    assert_eq!((purged.attempts, purged.events), (1, 1), "{purged:?}");
    assert_eq!(logged(&app).await, [waiting, behind, later]);
    assert_ne!(waiting, old);

    // Enabled again, the waiting delivery is sent; the next pass deletes the two old events.
    let admin = app.full_token("acme");
    let set = "mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, enabled: true}) { userErrors { code } } }";
    app.gql_data(&admin, set, json!({"id": id})).await;
    let got = rx.wait_for(2).await;
    let body: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(body["data"]["reason"], "waiting");
    // The first delivery's attempt is gone with it: the one on record is this one's.
    triggers(&app, &admin, &id, 1).await;
    let purged = app.store.purge_delivery_log(cutoff, cutoff).await.unwrap();
    assert_eq!(purged.events, 2, "{purged:?}");
    assert_eq!(logged(&app).await, [later]);
}
