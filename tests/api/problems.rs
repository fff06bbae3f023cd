//! The three problem states of Billit's help page, produced by the sandbox and cleared by their
//! fix, each announced once; `syncNow` limits; re-authorization links.

use crate::support::{Browser, Linked, RETURN, error_code, get_text, wait_until};
use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration as Wait;

struct World {
    l: Linked,
    token: String,
    ponto_org: String,
    acc: String,
}

async fn world(extra: &[&str]) -> World {
    let l = Linked::start(extra).await;
    let ponto_org = l.sb.org("Acme BV").await;
    let acc =
        l.sb.account(&ponto_org, json!({"reference": "BE68539007547034"}))
            .await;
    l.sb.transactions(&acc, json!([{"amount": "1.00", "remittanceInformation": "a"}, {"amount": "2.00", "remittanceInformation": "b"}])).await;
    let token = l.token("acme");
    assert!(
        l.connect(&token, &ponto_org, &[&acc], true, false)
            .await
            .ends_with("ponto_status=CONNECTED")
    );
    let w = World {
        l,
        token,
        ponto_org,
        acc,
    };
    w.read().await;
    w
}

impl World {
    async fn org(&self) -> ponto_bridge::domain::ids::OrganizationId {
        self.l.app.store.ensure_organization("acme").await.unwrap()
    }

    async fn read(&self) {
        let _ = self.l.app.puller.read(self.org().await).await;
    }

    async fn state(&self) -> Value {
        let q = "{ pontoConnection { status problems { code message fix } accounts { edges { node { id status problems { code }
            authorizationExpiresAt lastSyncedAt nextSyncAllowedAt } } } } }";
        self.l.app.gql_data(&self.token, q, json!({})).await["pontoConnection"].clone()
    }

    async fn count(&self, event: &str) -> usize {
        self.l
            .event_types("acme")
            .await
            .iter()
            .filter(|t| *t == event)
            .count()
    }

    async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        self.l.sb.control(method, path, body).await
    }

    fn account_problems(state: &Value) -> Vec<String> {
        state["accounts"]["edges"][0]["node"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["code"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_broken_when_the_integration_is_revoked_and_fixed_by_reconnecting() {
    let w = world(&[]).await;
    let created = w.count("bank_transaction.created").await;
    assert_eq!(created, 2);
    w.l.sb
        .organization_does(&w.ponto_org, "revoke-integration")
        .await;
    w.read().await;
    let s = w.state().await;
    assert_eq!(s["status"], "BROKEN");
    assert_eq!(s["problems"][0]["code"], "CONNECTION_BROKEN");
    assert!(
        s["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("problem connecting your account with Ponto")
    );
    w.read().await;
    assert_eq!(w.count("connection.broken").await, 1, "announced once");

    assert!(
        w.l.connect(&w.token, &w.ponto_org, &[&w.acc], true, true)
            .await
            .ends_with("ponto_status=CONNECTED")
    );
    w.read().await;
    assert_eq!(w.state().await["status"], "CONNECTED");
    assert_eq!(w.count("connection.restored").await, 1);
    assert_eq!(
        w.count("bank_transaction.created").await,
        created,
        "no second bank_transaction.created"
    );
    assert_eq!(
        w.l.transactions(&w.token, true).await.len(),
        2,
        "the same transactions"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_organization_breaks_the_link_until_unblocked() {
    let w = world(&[]).await;
    w.l.sb.organization_does(&w.ponto_org, "block").await;
    w.read().await;
    assert_eq!(w.state().await["status"], "BROKEN");
    w.l.sb.organization_does(&w.ponto_org, "unblock").await;
    // The scheduler keeps reading blocked links; the next read heals it.
    w.l.clock.advance(Duration::minutes(61));
    wait_until(Wait::from_secs(15), "restored after unblocking", || async {
        w.state().await["status"] == "CONNECTED"
    })
    .await;
    assert_eq!(
        (
            w.count("connection.broken").await,
            w.count("connection.restored").await
        ),
        (1, 1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_accounts_activated_clears_when_an_account_is_switched_on() {
    let l = Linked::start(&[]).await;
    let ponto_org = l.sb.org("Empty BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    let token = l.token("acme");
    assert!(
        l.connect(&token, &ponto_org, &[], true, false)
            .await
            .ends_with("NO_ACCOUNTS_ACTIVATED")
    );
    let w = World {
        l,
        token,
        ponto_org,
        acc,
    };
    w.read().await;
    assert_eq!(
        w.state().await["problems"][0]["code"],
        "NO_ACCOUNTS_ACTIVATED"
    );
    w.control(
        Method::PUT,
        &format!(
            "/organizations/{}/integration/accounts/{}",
            w.ponto_org, w.acc
        ),
        None,
    )
    .await;
    w.read().await;
    let s = w.state().await;
    assert_eq!(s["problems"], json!([]));
    assert_eq!(s["accounts"]["edges"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            w.count("connection.no_accounts_activated").await,
            w.count("connection.restored").await
        ),
        (1, 1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reauthorization_required_expiring_and_fixed() {
    let w = world(&[]).await;
    // Expiring in 10 days: announced ahead of time.
    let soon = (w.l.clock_now() + Duration::days(10)).to_rfc3339();
    w.l.sb
        .change_account(&w.acc, json!({"authorizationExpirationExpectedAt": soon}))
        .await;
    w.read().await;
    assert_eq!(
        World::account_problems(&w.state().await),
        ["REAUTHORIZATION_EXPIRING"]
    );
    // Written once, whatever the number of reads within the same threshold.
    w.read().await;
    w.read().await;
    assert_eq!(w.count("bank_account.reauthorization_expiring").await, 1);

    // Expired: required, once.
    w.l.sb.authorization(&w.acc, "expired").await;
    w.read().await;
    w.read().await;
    assert_eq!(
        World::account_problems(&w.state().await),
        ["REAUTHORIZATION_REQUIRED"]
    );
    assert_eq!(w.count("bank_account.reauthorization_required").await, 1);

    // The fix: requestReauthorization, the user confirms at the bank, comes back through us.
    let gid = w.state().await["accounts"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m = "mutation($a: ID!, $r: String!) { requestReauthorization(input: {accountId: $a, returnUrl: $r}) { url } }";
    let data =
        w.l.app
            .gql_data(&w.token, m, json!({"a": gid, "r": RETURN}))
            .await;
    let ours = data["requestReauthorization"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{data}"))
        .to_owned();
    assert!(ours.starts_with(&format!("{}/oauth/ponto/reauthorize?ticket=", w.l.app.base)));
    let mut browser = Browser::new();
    let (status, link, _) = browser.get(&ours).await;
    assert_eq!(status, 303, "our one-time URL goes on to Ponto");
    assert!(browser.cookie.is_some(), "and binds this browser");
    let link = link.unwrap();
    let resp = w.l.sb.renew_consent(&link).await;
    let back = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&format!("{}/oauth/ponto/reauthorized?state=", w.l.app.base)),
        "{back}"
    );
    let (status, _, h) = Browser::new().get(&back).await;
    assert_eq!(
        (status, h["x-error-code"].to_str().unwrap()),
        (400, "BROWSER_MISMATCH"),
        "the return needs the browser that went to Ponto"
    );
    let (status, landing, _) = browser.get(&back).await;
    assert_eq!(status, 303);
    assert_eq!(
        landing.unwrap(),
        format!("{RETURN}&ponto_status=REAUTHORIZED")
    );
    wait_until(Wait::from_secs(15), "the consent renewed", || async {
        World::account_problems(&w.state().await).is_empty()
    })
    .await;
    assert_eq!(w.count("bank_account.reauthorized").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_consent_found_by_sync_now_and_its_link_from_the_event() {
    let w = world(&[]).await;
    w.l.sb.authorization(&w.acc, "invalid").await;
    let gid = w.state().await["accounts"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m = "mutation($a: ID!) { syncNow(input: {accountId: $a, customerIpAddress: \"203.0.113.5\"}) {
        synchronizations { subtype status } nextSyncAllowedAt bankAccount { nextSyncAllowedAt } } }";
    let data = w.l.app.gql_data(&w.token, m, json!({"a": gid})).await;
    assert_eq!(
        data["syncNow"]["synchronizations"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{data}"
    );
    assert!(data["syncNow"]["bankAccount"]["nextSyncAllowedAt"].is_string());
    wait_until(
        Wait::from_secs(15),
        "the failed synchronization is noticed",
        || async { World::account_problems(&w.state().await) == ["REAUTHORIZATION_REQUIRED"] },
    )
    .await;
    // Our limit: one per account per 30 minutes.
    let again = w.l.app.gql(&w.token, m, json!({"a": gid})).await;
    assert_eq!(error_code(&again), Some("RATE_LIMITED"), "{again}");
    assert!(
        again["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            > 1700
    );

    // The event's link still works two weeks later, and only as issued.
    let org = w.org().await;
    let event = crate::support::catalogue::checked_events(&w.l.app.store, org, 0)
        .await
        .into_iter()
        .find(|e| e.event_type.as_str() == "bank_account.reauthorization_required")
        .unwrap();
    let payload: Value = serde_json::from_str(&event.payload).unwrap();
    let url = payload["data"]["reauthorizationUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with(&format!("{}/reauthorize/", w.l.app.base)));
    // Several reads later, still announced once.
    w.read().await;
    w.read().await;
    assert_eq!(w.count("bank_account.reauthorization_required").await, 1);
    w.l.clock.advance(Duration::days(14));
    let mut browser = Browser::new();
    let (status, to, _) = browser.get(&url).await;
    assert_eq!(status, 303);
    let to = to.unwrap();
    let page = get_text(&w.l.sb.http, &to).await;
    assert!(
        page.contains("BE68539007547034"),
        "the sandbox's page for that account"
    );
    // The user confirms at the bank: the problem clears, announced once.
    let resp =
        w.l.sb
            .http
            .post(&to)
            .form(&[("decision", "allow")])
            .send()
            .await
            .unwrap();
    let back = resp.headers()["location"].to_str().unwrap().to_owned();
    let (status, landing, _) = browser.get(&back).await;
    assert_eq!(status, 303);
    assert!(landing.unwrap().ends_with("ponto_status=REAUTHORIZED"));
    wait_until(
        Wait::from_secs(15),
        "the invalidated consent cleared",
        || async { World::account_problems(&w.state().await).is_empty() },
    )
    .await;
    w.read().await;
    w.read().await;
    assert_eq!(w.count("bank_account.reauthorized").await, 1);
    assert_eq!(w.count("bank_account.reauthorization_required").await, 1);

    let refused = |u: String| async move {
        let (status, _, h) = Browser::new().get(&u).await;
        (
            status,
            h.get("x-error-code")
                .map(|v| v.to_str().unwrap().to_owned()),
        )
    };
    let tampered = format!("{}x", &url[..url.len() - 2]);
    assert_eq!(refused(tampered).await, (400, Some("LINK_INVALID".into())));
    let other_account = url.replace(&gid_uuid(&url), &uuid::Uuid::now_v7().to_string());
    assert_eq!(
        refused(other_account).await,
        (400, Some("LINK_INVALID".into()))
    );
    w.l.clock.advance(Duration::days(17));
    assert_eq!(refused(url).await, (410, Some("LINK_EXPIRED".into())));
}

fn gid_uuid(url: &str) -> String {
    url.split("/reauthorize/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_minted_for_another_organization_opens_nothing() {
    let w = world(&[]).await;
    let org = w.org().await;
    let acme_account = w.l.app.store.accounts_of(org).await.unwrap()[0].id;
    let intruder = w.l.app.store.ensure_organization("intruder").await.unwrap();
    let forged =
        w.l.app
            .connect
            .reauthorization_link(intruder, acme_account)
            .unwrap();
    let (status, _, h) = Browser::new().get(&forged).await;
    assert_eq!(
        (status, h["x-error-code"].to_str().unwrap()),
        (400, "LINK_INVALID")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_sync_now_over_two_instances_claim_one_slot() {
    let w = world(&[]).await;
    let gid = w.state().await["accounts"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = w.l.second_instance().await;
    w.l.reads_settled("acme").await;
    w.l.clock.advance(Duration::minutes(31)); // the access token expired
    let before = w.l.sb.stats().await["tokenRequests"].as_u64().unwrap();
    let m = "mutation($a: ID!) { syncNow(input: {accountId: $a, customerIpAddress: \"198.51.100.7\"}) { nextSyncAllowedAt } }";
    let calls = (0..20).map(|i| {
        let (app, token, gid) = (
            if i % 2 == 0 { &w.l.app } else { &second },
            w.token.clone(),
            gid.clone(),
        );
        async move { app.gql(&token, m, json!({"a": gid})).await }
    });
    let results = futures::future::join_all(calls).await;
    let ok = results
        .iter()
        .filter(|r| r["data"]["syncNow"].is_object())
        .count();
    let limited = results
        .iter()
        .filter(|r| error_code(r) == Some("RATE_LIMITED"))
        .count();
    assert_eq!((ok, limited), (1, 19), "{results:?}");
    assert_eq!(
        w.l.sb.stats().await["tokenRequests"].as_u64().unwrap() - before,
        1,
        "exactly one token call"
    );
}
