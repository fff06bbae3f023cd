//! The sandbox calls us as Ponto does: a signed webhook for each of the 15 types, caused by
//! the action that causes it at Ponto, retried with the same `data.id`; and misbehaves on
//! command (duplicates, delays, reordering, pauses). Every webhook is checked by a loopback
//! receiver with the project's own verifier. Also: the sandbox's concurrency peaks and request
//! log, rate limiting for a period, and scheduled reads switched off.

use crate::support::{Linked, REDIRECT, Received, Receiver, Sandbox, clock_start, wait_until};
use chrono::Utc;
use ponto_bridge::clock::{Clock, ManualClock};
use ponto_bridge::ponto::webhook::{Expected, JwkSet, KeySet, verify_with_set};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

struct Hooks {
    sb: Sandbox,
    rx: Receiver,
    clock: ManualClock,
}

async fn hooks() -> Hooks {
    let clock = ManualClock::new(clock_start());
    let sb = Sandbox::start(Arc::new(clock.clone())).await;
    let rx = Receiver::start().await;
    sb.webhooks_to(&rx.url).await;
    Hooks { sb, rx, clock }
}

impl Hooks {
    /// Verifies a received webhook as ponto-bridge does; panics when it does not verify.
    fn verified(&self, r: &Received) -> Value {
        let jwks: JwkSet = serde_json::from_value(self.sb.handle.webhook_keys()).unwrap();
        let expected = Expected {
            issuer: self.sb.base.clone(),
            audience: ponto_sandbox::webhooks::DEFAULT_APPLICATION_ID.into(),
        };
        let signature = r.signature.as_deref().expect("a Signature header");
        verify_with_set(
            signature,
            &r.body,
            &KeySet::from_jwks(&jwks),
            &expected,
            self.clock.now().timestamp(),
        )
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)));
        r.json()
    }

    /// The `data.id`s received, in arrival order, of the events in `ids`.
    fn arrivals(&self, ids: &[&str]) -> Vec<String> {
        self.rx
            .received()
            .iter()
            .map(|r| r.id_and_type().0)
            .filter(|id| ids.contains(&id.as_str()))
            .collect()
    }

    async fn emit(&self, org: &str, account: &str) -> String {
        self.sb
            .emit(json!({"type": "account.reauthorized", "organization": org, "account": account}))
            .await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_of_the_15_types_comes_signed_from_the_action_that_causes_it() {
    let h = hooks().await;
    let sb = &h.sb;
    let org = sb.org("Hooks BV").await;
    let (a1, a2) = (
        sb.account(&org, json!({})).await,
        sb.account(&org, json!({})).await,
    );
    // Linking one account: the integration, the account, its first synchronizations.
    let client = sb.client();
    let tokens = sb.link(&client, &org, &[&a1]).await;
    // The user switches the second one on.
    let slider = format!("/organizations/{org}/integration/accounts/{a2}");
    sb.control(Method::PUT, &slider, None).await;
    // New booked and pending transactions, then changed ones, each picked up by Ponto.
    let ids = sb
        .transactions(
            &a1,
            json!([{"amount": "10.00"}, {"amount": "-5.00", "pending": true}]),
        )
        .await;
    sb.organization_does(&org, "synchronize").await;
    sb.change_transaction(&ids[0], json!({"remittanceInformation": "changed"}))
        .await;
    sb.change_transaction(&ids[1], json!({"amount": "-6.00"}))
        .await;
    sb.organization_does(&org, "synchronize").await;
    // The bank refuses the consent of the second account; renewing it re-authorizes it.
    sb.authorization(&a2, "invalid").await;
    sb.organization_does(&org, "synchronize").await;
    let link = client
        .request_reauthorization(&tokens.access_token, &a2, REDIRECT)
        .await
        .unwrap();
    let renewed = sb.renew_consent(&link).await;
    assert!(renewed.status().is_redirection());
    // The user switches it off again; Ponto blocks and unblocks; the user revokes.
    sb.control(Method::DELETE, &slider, None).await;
    sb.organization_does(&org, "block").await;
    sb.organization_does(&org, "unblock").await;
    sb.organization_does(&org, "revoke-integration").await;
    // A payment request is nothing the sandbox simulates: its closing is emitted on demand.
    sb.emit(
        json!({"type": "pontoConnect.paymentRequest.closed", "organization": org, "account": a1}),
    )
    .await;

    // Sent, not only logged: every delivery went out and was accepted at the first attempt.
    wait_until(
        Duration::from_secs(15),
        "every delivery to be over",
        || async {
            let log = sb.control(Method::GET, "/webhooks/deliveries", None).await;
            let log = log["deliveries"].as_array().unwrap().clone();
            log.iter()
                .all(|d| d["status"] == "delivered" && d["attempts"] == 1)
                .then_some(())
                .ok_or_else(|| format!("{log:?}"))
        },
    )
    .await;
    let received = h.rx.received();
    let deliveries = sb.control(Method::GET, "/webhooks/deliveries", None).await;
    assert_eq!(
        deliveries["deliveries"].as_array().unwrap().len(),
        received.len()
    );
    let all: BTreeSet<&str> = ponto_sandbox::events::all_event_types().collect();
    let types: BTreeSet<String> = received.iter().map(|r| r.id_and_type().1).collect();
    assert_eq!(
        types.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        all
    );
    let mut ids = BTreeSet::new();
    for r in &received {
        let v = h.verified(r);
        let d = &v["data"];
        assert!(
            ids.insert(d["id"].as_str().unwrap().to_owned()),
            "one request per event"
        );
        assert_eq!(
            d["relationships"]["organization"]["data"]["id"],
            org.as_str()
        );
        let t = d["type"].as_str().unwrap();
        let account = d["relationships"]["account"]["data"]["id"].as_str();
        match t.rsplit('.').next().unwrap() {
            "transactionsCreated" | "pendingTransactionsCreated" => {
                assert_eq!(
                    (account, d["attributes"]["count"].as_u64()),
                    (Some(a1.as_str()), Some(1))
                )
            }
            "transactionsUpdated" | "pendingTransactionsUpdated" => {
                assert_eq!(
                    (account, d["attributes"]["count"].as_u64()),
                    (Some(a1.as_str()), Some(1))
                )
            }
            "reauthorized" | "accountRevoked" | "failed" => assert_eq!(account, Some(a2.as_str())),
            "created" | "revoked" | "blocked" | "unblocked" => assert_eq!(account, None),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_failing_twice_gets_the_same_event_three_times() {
    let h = hooks().await;
    let org = h.sb.org("Retry BV").await;
    let acc = h.sb.account(&org, json!({})).await;
    h.rx.fail_next(2);
    let id = h.emit(&org, &acc).await;
    let got = h.rx.wait_for(3).await;
    let seen: Vec<(String, u16)> = got.iter().map(|r| (r.id_and_type().0, r.status)).collect();
    assert_eq!(
        seen,
        [(id.clone(), 500), (id.clone(), 500), (id.clone(), 200)]
    );
    for r in &got {
        h.verified(r);
    }
    // The sandbox records an attempt after the answer reaches it, so the
    // receiver can see the third request before the log does.
    wait_until(
        Duration::from_secs(15),
        "the third attempt recorded",
        || async {
            let log =
                h.sb.control(Method::GET, "/webhooks/deliveries", None)
                    .await;
            let d = log["deliveries"][0].clone();
            (d["status"] == "delivered")
                .then_some(())
                .ok_or_else(|| d.to_string())
        },
    )
    .await;
    let log =
        h.sb.control(Method::GET, "/webhooks/deliveries", None)
            .await;
    assert_eq!(log["deliveries"][0]["eventId"], id.as_str());
    assert_eq!(log["deliveries"][0]["attempts"], 3);
    assert_eq!(log["deliveries"][0]["status"], "delivered");
    assert_eq!(log["deliveries"][0]["lastStatus"], 200);

    // No answer within the timeout counts as a failure too.
    h.rx.hang_next(1);
    let late = h.emit(&org, &acc).await;
    wait_until(
        Duration::from_secs(15),
        "the retry after a timeout",
        || async {
            let log =
                h.sb.control(Method::GET, "/webhooks/deliveries", None)
                    .await;
            let d = log["deliveries"][1].clone();
            (d["status"] == "delivered")
                .then_some(())
                .ok_or_else(|| d.to_string())
        },
    )
    .await;
    let log =
        h.sb.control(Method::GET, "/webhooks/deliveries", None)
            .await;
    assert_eq!(log["deliveries"][1]["eventId"], late.as_str());
    assert_eq!(log["deliveries"][1]["attempts"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_delay_hold_and_pause_do_what_they_say() {
    let h = hooks().await;
    let (sb, post) = (&h.sb, Method::POST);
    let org = sb.org("Chaos BV").await;
    let acc = sb.account(&org, json!({})).await;

    // The next event three times, the one after once.
    sb.control(
        post.clone(),
        "/webhooks/duplicate",
        Some(json!({"events": 1, "times": 3})),
    )
    .await;
    let (a, b) = (h.emit(&org, &acc).await, h.emit(&org, &acc).await);
    h.rx.wait_for(4).await;
    let mut got = h.arrivals(&[&a, &b]);
    got.sort();
    let mut want = vec![a.clone(), a.clone(), a.clone(), b.clone()];
    want.sort();
    assert_eq!(got, want);

    // The next event waits 1.5 s: the one emitted after it arrives first.
    sb.control(
        post.clone(),
        "/webhooks/delay",
        Some(json!({"ms": 1500, "events": 1})),
    )
    .await;
    let (c, d) = (h.emit(&org, &acc).await, h.emit(&org, &acc).await);
    h.rx.wait_for(6).await;
    assert_eq!(h.arrivals(&[&c, &d]), [d.clone(), c.clone()]);

    // Held, nothing arrives; released in reverse, they arrive in reverse.
    sb.control(post.clone(), "/webhooks/hold", None).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(h.emit(&org, &acc).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refs: Vec<&str> = held.iter().map(String::as_str).collect();
    assert!(h.arrivals(&refs).is_empty(), "held back");
    let released = sb
        .control(
            post.clone(),
            "/webhooks/release",
            Some(json!({"order": "reverse"})),
        )
        .await;
    assert_eq!(released["released"], 3);
    h.rx.wait_for(9).await;
    let reversed: Vec<String> = held.iter().rev().cloned().collect();
    assert_eq!(h.arrivals(&refs), reversed);

    // Random order is some order of the same events.
    sb.control(post.clone(), "/webhooks/hold", None).await;
    let mut shuffled = Vec::new();
    for _ in 0..5 {
        shuffled.push(h.emit(&org, &acc).await);
    }
    sb.control(
        post.clone(),
        "/webhooks/release",
        Some(json!({"order": "random"})),
    )
    .await;
    h.rx.wait_for(14).await;
    let refs: Vec<&str> = shuffled.iter().map(String::as_str).collect();
    let mut arrived = h.arrivals(&refs);
    arrived.sort();
    shuffled.sort();
    assert_eq!(arrived, shuffled);

    // Paused, nothing goes out; resumed, it does.
    sb.control(post.clone(), "/webhooks/pause", None).await;
    let e = h.emit(&org, &acc).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.arrivals(&[&e]).is_empty(), "paused");
    sb.control(post, "/webhooks/resume", None).await;
    h.rx.wait_for(15).await;
    assert_eq!(h.arrivals(&[&e]), [e.as_str()]);
    for r in h.rx.received() {
        h.verified(&r);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrency_peaks_and_the_request_log_match_what_a_client_did() {
    let h = hooks().await;
    let sb = &h.sb;
    let org = sb.org("Busy BV").await;
    let acc = sb.account(&org, json!({})).await;
    let client = sb.client();
    let token = sb.link(&client, &org, &[&acc]).await.access_token;
    sb.control(Method::POST, "/stats/reset", None).await;

    // Positive control: one at a time is a peak of one.
    for _ in 0..3 {
        client.accounts(&token).await.unwrap();
    }
    let stats = sb.stats().await;
    assert_eq!(stats["peakConcurrentRequests"], 1, "{stats}");
    assert_eq!(stats["peakConcurrentRequestsByOrganization"][&org], 1);

    // Five held open at once (each answered after 300 ms).
    sb.control(Method::POST, "/stats/reset", None).await;
    let since = Utc::now();
    sb.fault(json!({"status": 200, "delayMs": 300, "count": 5, "path": "/accounts"}))
        .await;
    let calls = (0..5).map(|_| client.accounts(&token));
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    let stats = sb.stats().await;
    assert_eq!(stats["peakConcurrentRequests"], 5, "{stats}");
    assert_eq!(stats["peakConcurrentRequestsByOrganization"][&org], 5);
    assert_eq!(stats["concurrentRequests"], 0);

    let log = sb
        .control(
            Method::GET,
            &format!("/requests?since={}", since.to_rfc3339().replace('+', "%2B")),
            None,
        )
        .await;
    let log = log["requests"].as_array().unwrap();
    assert_eq!(log.len(), 5, "{log:?}");
    let time =
        |r: &Value, k: &str| chrono::DateTime::parse_from_rfc3339(r[k].as_str().unwrap()).unwrap();
    let latest_start = log.iter().map(|r| time(r, "startedAt")).max().unwrap();
    let earliest_end = log.iter().map(|r| time(r, "endedAt")).min().unwrap();
    assert!(latest_start < earliest_end, "all five overlapped");
    for r in log {
        assert_eq!(r["path"], "/ponto-connect/accounts");
        assert_eq!(
            (r["organization"].as_str(), r["status"].as_u64()),
            (Some(org.as_str()), Some(200))
        );
        assert!(time(r, "endedAt") - time(r, "startedAt") >= chrono::Duration::milliseconds(300));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_for_a_period_answers_429_with_retry_after_until_it_ends() {
    let h = hooks().await;
    let sb = &h.sb;
    let org = sb.org("Limited BV").await;
    let acc = sb.account(&org, json!({})).await;
    let token = sb.link(&sb.client(), &org, &[&acc]).await.access_token;
    sb.fault(json!({"status": 429, "retryAfter": 1, "forMs": 600, "path": "/accounts"}))
        .await;
    let get = || {
        sb.http
            .get(format!("{}/ponto-connect/accounts", sb.base))
            .bearer_auth(token.expose())
            .send()
    };
    // Every request in the period, not only the first one.
    for _ in 0..3 {
        let r = get().await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "1");
    }
    wait_until(Duration::from_secs(5), "the period to end", || async {
        get().await.unwrap().status() == 200
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_interval_of_zero_switches_scheduled_reads_off() {
    for (interval, reads_again) in [("3600", true), ("0", false)] {
        let l = Linked::start(&["--read-interval-secs", interval]).await;
        let org = l.sb.org("Quiet BV").await;
        let acc = l.sb.account(&org, json!({})).await;
        l.sb.transactions(&acc, json!({"amount": "1.00"})).await;
        let token = l.token("acme");
        l.connect(&token, &org, &[&acc], true, false).await;
        wait_until(Duration::from_secs(15), "the first import", || async {
            l.transactions(&token, false).await.len() == 1
        })
        .await;
        let q = "{ pontoConnection { nextReadAt lastReadAt } }";
        wait_until(
            Duration::from_secs(15),
            "the first read to finish",
            || async {
                let c = l.app.gql_data(&token, q, json!({})).await;
                !c["pontoConnection"]["lastReadAt"].is_null()
            },
        )
        .await;
        let c = l.app.gql_data(&token, q, json!({})).await;
        assert_eq!(
            c["pontoConnection"]["nextReadAt"].is_null(),
            !reads_again,
            "{c}"
        );
        let requests = || async { l.sb.stats().await["apiRequests"].as_u64().unwrap() };
        let before = requests().await;
        l.clock.advance(chrono::Duration::hours(2));
        if reads_again {
            wait_until(
                Duration::from_secs(15),
                "the next scheduled read",
                || async { requests().await > before },
            )
            .await;
        } else {
            // Ten scheduler polls (50 ms apart) and not one read.
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert_eq!(requests().await, before, "no read without an interval");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_command_sends_to_its_webhook_url() {
    let rx = Receiver::start().await;
    let (mut child, line) = crate::support::child::spawn_first_line(
        std::process::Command::new(env!("CARGO_BIN_EXE_ponto-bridge"))
            .args(["sandbox", "--port", "0", "--webhook-url", &rx.url])
            .env("RUST_LOG", "warn")
            .stderr(std::process::Stdio::null()),
    );
    let base = line
        .trim()
        .strip_prefix("sandbox listening on ")
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let control = |path: &str, body: Value| {
        let req = http.post(format!("{base}/_sandbox{path}")).json(&body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let org = control("/organizations", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let event = json!({"type": "organization.blocked", "organization": org});
    let id = control("/webhooks/emit", event).await["id"].clone();
    let got = rx.wait_for(1).await;
    child.kill().ok();
    child.wait().ok();
    assert_eq!(
        got[0].id_and_type(),
        (
            id.as_str().unwrap().to_owned(),
            "pontoConnect.organization.blocked".to_owned()
        )
    );
    assert!(got[0].signature.is_some());
}
