//! A read of Ponto's data that fails is visible (`PontoConnection.lastReadError`: code, words,
//! time) while the service stays ready; the first read once Ponto answers again succeeds and
//! clears it.

use crate::support::{Linked, wait_until};
use serde_json::{Value, json};
use std::time::Duration;

const Q: &str = "{ pontoConnection { status lastReadAt lastReadError { code message at } } }";

async fn connection(l: &Linked, token: &str) -> Value {
    l.app.gql_data(token, Q, json!({})).await["pontoConnection"].take()
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_reads_are_visible_and_the_first_read_after_the_faults_succeeds() {
    let l = Linked::start(&["--read-interval-secs", "0", "--ponto-max-retries", "0"]).await;
    let ponto_org = l.sb.org("Faulty BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    let token = l.token("acme");
    let landing = l.connect(&token, &ponto_org, &[&acc], true, false).await;
    assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
    wait_until(Duration::from_secs(15), "the first read", || async {
        let c = connection(&l, &token).await;
        (c["lastReadAt"].is_string() && c["lastReadError"].is_null())
            .then_some(())
            .ok_or(c.to_string())
    })
    .await;

    // The failed read's time is its own, not the first read's.
    l.clock.advance(chrono::Duration::minutes(7));
    l.sb.fault(json!({"status": 503, "count": 200})).await;
    let org = l.app.store.ensure_organization("acme").await.unwrap();
    let mut failed = 0;
    while l.app.puller.read(org).await.is_err() {
        failed += 1;
        assert!(
            failed <= 200,
            "reads keep failing after the faults are used up"
        );
        if failed == 1 {
            let c = connection(&l, &token).await;
            assert_eq!(c["lastReadError"]["code"], "UPSTREAM_UNAVAILABLE", "{c}");
            assert!(
                c["lastReadError"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
            assert_eq!(c["lastReadError"]["at"], c["lastReadAt"]);
            let at =
                chrono::DateTime::parse_from_rfc3339(c["lastReadError"]["at"].as_str().unwrap())
                    .unwrap();
            assert_eq!(at, l.clock_now(), "{c}");
            assert_eq!(
                c["status"], "CONNECTED",
                "a failed read breaks nothing: {c}"
            );
            assert_eq!(l.app.get("/readyz").await.status(), 200, "still ready");
        }
    }
    assert!(failed > 1, "the faults made reads fail ({failed})");
    let c = connection(&l, &token).await;
    assert!(
        c["lastReadError"].is_null(),
        "cleared by the read that succeeded: {c}"
    );
}
