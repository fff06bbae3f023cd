//! `POST /webhooks/ponto` through real HTTP, signed by the sandbox exactly as Ponto signs:
//! genuine events stored raw once, forgeries and replays rejected with their reason and never
//! stored, key fetches bounded, key rotation, and `/metrics`.

use crate::support::Linked;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

const APP_ID: &str = "sandbox-application";

async fn linked() -> Linked {
    Linked::start(&["--ponto-application-id", APP_ID]).await
}

/// A Ponto event body, compact and with keys in alphabetical order as Ponto sends them.
fn event(id: &str, ponto_org: &str) -> String {
    format!(
        r#"{{"data":{{"attributes":{{"count":3,"createdAt":"{created}T08:00:01.123Z"}},"id":"{id}","relationships":{{"account":{{"data":{{"id":"1d89d411-e310-4802-bbb7-aad7d98371e7","type":"account"}}}},"organization":{{"data":{{"id":"{ponto_org}","type":"organization"}}}}}},"type":"pontoConnect.account.transactionsCreated"}}}}"#,
        created = crate::support::day(-1)
    )
}

impl Linked {
    /// The sandbox's `Signature` for `body`, with optional claim overrides (`aud=…&iat=…`).
    async fn sign(&self, body: &str, query: &str) -> String {
        let resp = self
            .sb
            .http
            .post(format!("{}/_sandbox/webhooks/sign?{query}", self.sb.base))
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        resp.json::<Value>().await.unwrap()["signature"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Posts a webhook; returns the status and the body's `status` or `error.code`.
    async fn deliver(&self, body: &str, signature: Option<&str>) -> (u16, String) {
        let mut req = self
            .app
            .client
            .post(format!("{}/webhooks/ponto", self.app.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(s) = signature {
            req = req.header("Signature", s);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap();
        let what = v["status"].as_str().or(v["error"]["code"].as_str());
        (status, what.unwrap().to_owned())
    }

    async fn key_fetches(&self) -> u64 {
        self.sb.stats().await["webhookKeyRequests"]
            .as_u64()
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_genuine_webhook_is_stored_raw_once() {
    let l = linked().await;
    let body = event(
        "3465fd2f-6c9a-484e-971e-56bf44c9181a",
        "9315d6b3-129a-481a-9604-e2a95e0f967d",
    );
    let sig = l.sign(&body, "").await;
    assert_eq!(l.deliver(&body, Some(&sig)).await, (200, "stored".into()));
    assert_eq!(
        l.app
            .store
            .inbound_event_body("3465fd2f-6c9a-484e-971e-56bf44c9181a")
            .await
            .unwrap()
            .unwrap(),
        body.as_bytes(),
        "the bytes received"
    );
    assert_eq!(
        l.deliver(&body, Some(&sig)).await,
        (200, "duplicate".into())
    );
    assert_eq!(l.app.store.inbound_event_count().await.unwrap(), 1);
    let m = l.app.metrics().await;
    assert!(m.contains("ponto_webhooks_received_total 2"), "{m}");
    assert!(m.contains("ponto_webhooks_stored_total 1"), "{m}");
    assert!(m.contains("ponto_webhooks_duplicates_total 1"), "{m}");
    assert!(m.contains("ponto_webhook_key_fetches_total 1"), "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_webhook_ten_times_at_once_is_stored_once() {
    let l = linked().await;
    let body = event(
        "0b6c2f3e-5d1a-4f7e-9a51-1f3c5e7a9b01",
        "9315d6b3-129a-481a-9604-e2a95e0f967d",
    );
    let sig = l.sign(&body, "").await;
    let answers: Vec<(u16, String)> =
        futures::future::join_all((0..10).map(|_| l.deliver(&body, Some(&sig)))).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert_eq!(answers.iter().filter(|(_, w)| w == "stored").count(), 1);
    assert_eq!(l.app.store.inbound_event_count().await.unwrap(), 1);
}

/// A JWS with the given header over the payload of `genuine`, signed with HMAC-SHA512 keyed
/// by `secret` (or with no signature for `none`).
fn resigned(genuine: &str, header: Value, secret: Option<&[u8]>) -> String {
    use hmac::{Hmac, Mac};
    let payload = genuine.split('.').nth(1).unwrap();
    let header = URL_SAFE_NO_PAD.encode(header.to_string());
    let signature = secret.map_or_else(String::new, |k| {
        let mut mac = Hmac::<sha2::Sha512>::new_from_slice(k).unwrap();
        mac.update(format!("{header}.{payload}").as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    });
    format!("{header}.{payload}.{signature}")
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_forged_or_replayed_webhooks_are_all_rejected() {
    let l = linked().await;
    let now = l.clock_now().timestamp();
    let body = event(
        "7f2a1e3d-4c5b-4d6e-9f0a-1b2c3d4e5f60",
        "9315d6b3-129a-481a-9604-e2a95e0f967d",
    );
    let genuine = l.sign(&body, "").await;
    let jwks = l.sb.handle.webhook_keys();
    let public_n = jwks["keys"][0]["n"].as_str().unwrap().to_owned();
    let mut bad_sig = genuine.clone().into_bytes();
    let i = bad_sig.len() - 20;
    bad_sig[i] = if bad_sig[i] == b'A' { b'B' } else { b'A' };
    let replayed = l
        .sign(&body, &format!("iat={}&exp={}", now - 200, now - 140))
        .await;
    let cases: Vec<(&str, String, Option<String>)> = vec![
        (
            "SIGNATURE_INVALID",
            body.clone(),
            Some(String::from_utf8(bad_sig).unwrap()),
        ),
        (
            "UNKNOWN_KID",
            body.clone(),
            Some(resigned(
                &genuine,
                json!({"alg": "RS512", "kid": "nope"}),
                None,
            )),
        ),
        (
            "AUDIENCE_INVALID",
            body.clone(),
            Some(l.sign(&body, "aud=someone-else").await),
        ),
        (
            "ISSUER_INVALID",
            body.clone(),
            Some(
                l.sign(&body, "iss=https://api.ibanity.com.evil.example")
                    .await,
            ),
        ),
        ("EXPIRED", body.clone(), Some(replayed)),
        (
            "IAT_IN_FUTURE",
            body.clone(),
            Some(l.sign(&body, &format!("iat={}", now + 600)).await),
        ),
        (
            "DIGEST_MISMATCH",
            body.replace("\"count\":3", "\"count\":4"),
            Some(genuine.clone()),
        ),
        (
            "DIGEST_MISMATCH",
            format!("{body}\n"),
            Some(genuine.clone()),
        ),
        (
            "ALGORITHM_NOT_ALLOWED",
            body.clone(),
            Some(resigned(
                &genuine,
                json!({"alg": "none", "kid": "sandbox_events_signature_1"}),
                None,
            )),
        ),
        (
            "ALGORITHM_NOT_ALLOWED",
            body.clone(),
            Some(resigned(
                &genuine,
                json!({"alg": "HS512", "kid": "sandbox_events_signature_1"}),
                Some(public_n.as_bytes()),
            )),
        ),
        ("SIGNATURE_MALFORMED", body.clone(), Some("garbage".into())),
        ("SIGNATURE_MISSING", body.clone(), None),
    ];
    let fetches_before = l.key_fetches().await;
    let run = |n: usize| {
        let cases = &cases;
        let l = &l;
        futures::stream::iter(0..n)
            .map(move |i| async move {
                let (code, body, sig) = &cases[i % cases.len()];
                let got = l.deliver(body, sig.as_deref()).await;
                assert_eq!(got, (400, (*code).to_owned()), "case {code}");
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
    };
    run(5_000).await;
    assert!(
        l.key_fetches().await - fetches_before <= 1,
        "at most one key-set fetch in these 10 seconds"
    );
    l.clock.advance(Duration::seconds(10));
    run(5_000).await;
    assert!(
        l.key_fetches().await - fetches_before <= 2,
        "at most one more in the next 10 seconds"
    );
    assert_eq!(
        l.app.store.inbound_event_count().await.unwrap(),
        0,
        "nothing stored"
    );
    let m = l.app.metrics().await;
    assert!(m.contains("ponto_webhooks_received_total 10000"), "{m}");
    assert!(m.contains("ponto_webhooks_stored_total 0"), "{m}");
    assert!(
        m.contains("ponto_webhooks_rejected_total{reason=\"DIGEST_MISMATCH\"}"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_key_verifies_after_one_refetch_and_a_removed_one_is_refused() {
    let l = linked().await;
    let org = "9315d6b3-129a-481a-9604-e2a95e0f967d";
    let first = event("00000000-0000-4000-8000-000000000001", org);
    assert_eq!(
        l.deliver(&first, Some(&l.sign(&first, "").await)).await.0,
        200
    );
    assert_eq!(l.key_fetches().await, 1);
    // Signed with the first key, delivered late (still inside its 60 s + 30 s window).
    let late = event("00000000-0000-4000-8000-000000000002", org);
    let late_sig = l.sign(&late, "").await;

    let rotated =
        l.sb.control(
            Method::POST,
            "/webhooks/keys/rotate",
            Some(json!({"kid": "sandbox_events_signature_2"})),
        )
        .await;
    assert_eq!(rotated["kid"], "sandbox_events_signature_2");
    let second = event("00000000-0000-4000-8000-000000000003", org);
    let second_sig = l.sign(&second, "").await;
    assert_eq!(
        l.deliver(&second, Some(&second_sig)).await,
        (400, "UNKNOWN_KID".into()),
        "no refetch within 10 s of the last one"
    );
    l.clock.advance(Duration::seconds(11));
    assert_eq!(
        l.deliver(&second, Some(&second_sig)).await,
        (200, "stored".into())
    );
    assert_eq!(l.key_fetches().await, 2, "one refetch");

    l.sb.control(
        Method::DELETE,
        "/webhooks/keys/sandbox_events_signature_1",
        None,
    )
    .await;
    l.clock.advance(Duration::seconds(61));
    assert_eq!(
        l.deliver(&late, Some(&late_sig)).await,
        (400, "UNKNOWN_KID".into()),
        "the removed key no longer verifies once the cached set expires"
    );
    assert_eq!(l.key_fetches().await, 3);
    assert_eq!(l.app.store.inbound_event_count().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_requests_get_clear_codes_and_store_nothing() {
    let l = linked().await;
    let org = "9315d6b3-129a-481a-9604-e2a95e0f967d";
    // Over the size limit (64 KiB by default).
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000));
    let sig = l.sign(&huge, "").await;
    assert_eq!(
        l.deliver(&huge, Some(&sig)).await,
        (413, "PAYLOAD_TOO_LARGE".into())
    );
    // Signed by Ponto but not an event.
    let not_event = r#"{"hello":"world"}"#;
    let sig = l.sign(not_event, "").await;
    assert_eq!(
        l.deliver(not_event, Some(&sig)).await,
        (400, "NOT_AN_EVENT".into())
    );
    assert_eq!(l.app.store.inbound_event_count().await.unwrap(), 0);

    // Ponto's key endpoint is down and nothing is cached: not the sender's fault (503, retried).
    let fresh = linked().await;
    fresh
        .sb
        .fault(json!({"status": 503, "count": 1, "path": "/webhooks/keys"}))
        .await;
    let body = event("00000000-0000-4000-8000-000000000009", org);
    let sig = fresh.sign(&body, "").await;
    assert_eq!(
        fresh.deliver(&body, Some(&sig)).await,
        (503, "KEYS_UNAVAILABLE".into())
    );
    fresh.clock.advance(Duration::seconds(10));
    assert_eq!(
        fresh.deliver(&body, Some(&sig)).await,
        (200, "stored".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_application_id_webhooks_are_refused_as_not_configured() {
    let l = crate::support::TestApp::builder()
        .adjust(|s| s.ponto.ponto_application_id = None)
        .start_linked()
        .await;
    let body = event("00000000-0000-4000-8000-000000000010", "x");
    let sig = l.sign(&body, "").await;
    assert_eq!(
        l.deliver(&body, Some(&sig)).await,
        (503, "WEBHOOKS_NOT_CONFIGURED".into())
    );
}
