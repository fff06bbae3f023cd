//! The browser flows as an attacker sees them: a connect link shows where it leads and is used
//! only by a POST from its own page; flow kinds cannot stand in for each other; re-authorization
//! is bound to the browser and limited per account; old flow rows are deleted.

use crate::support::{Browser, Linked, RETURN, wait_until};
use chrono::Duration;
use ponto_bridge::domain::scope::Scope;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;
use std::time::Duration as Wait;

fn code(headers: &reqwest::header::HeaderMap) -> &str {
    headers
        .get("x-error-code")
        .map(|v| v.to_str().unwrap())
        .unwrap_or("-")
}

fn named_token(l: &Linked, org: &str, name: Option<&str>) -> String {
    l.app
        .auth
        .mint_hs256_named(org, name, &Scope::ALL, "tester", 3600)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connect_link_shows_where_it_leads_and_only_its_page_can_continue() {
    let l = Linked::start(&[]).await;
    let token = named_token(&l, "acme", Some("Acme <Holding> & Co"));
    let start = l.connect_url(&token, RETURN, false).await.unwrap();

    // Forwarded to someone else: they see whose bank link it is, as often as they look.
    let mut other = Browser::new();
    for _ in 0..2 {
        let (status, page) = other.page(&start).await;
        assert_eq!(status, 200);
        assert!(page.contains("Acme &lt;Holding&gt; &amp; Co"), "{page}");
        assert!(page.contains("https://app.example"), "the return origin");
        assert!(!page.contains("<Holding>"), "escaped");
    }
    let resp = reqwest::get(&start).await.unwrap();
    for (name, want) in [
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(resp.headers()[name], want, "{name}");
    }
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );

    // Without its page's cookie and token, the form does nothing (and uses nothing).
    let (_, page) = other.page(&start).await;
    let form = ponto_bridge_cli::demo::confirmation_form(&page, "continue").unwrap();
    let post_url = start.split('?').next().unwrap();
    let (status, _, h) = Browser::new().post(post_url, &form).await;
    assert_eq!(
        (status, code(&h)),
        (400, "BROWSER_MISMATCH"),
        "a cross-site POST has no cookie"
    );
    let mut forged = form.clone();
    forged[1].1 = "0".repeat(64);
    let (status, _, h) = other.post(post_url, &forged).await;
    assert_eq!(
        (status, code(&h)),
        (400, "BROWSER_MISMATCH"),
        "a wrong token"
    );

    // Declining links nothing and ends the link.
    let (status, to, _) = other.confirm(&start, "decline").await;
    assert_eq!(status, 303);
    assert_eq!(to.unwrap(), format!("{RETURN}&ponto_status=ACCESS_DENIED"));
    assert_eq!(l.connection(&token).await["status"], "NOT_CONNECTED");
    let (status, _, h) = Browser::new().get(&start).await;
    assert_eq!((status, code(&h)), (400, "TICKET_ALREADY_USED"));

    // Without a display name the page names the organization's external id.
    let plain = l
        .connect_url(&l.token("globex"), RETURN, false)
        .await
        .unwrap();
    let (_, page) = Browser::new().page(&plain).await;
    assert!(page.contains(">globex<"), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn flow_kinds_cannot_stand_in_for_each_other() {
    let l = Linked::start(&[]).await;
    let ponto_org = l.sb.org("Kinds BV").await;
    let acc =
        l.sb.account(&ponto_org, json!({"reference": "BE68539007547034"}))
            .await;
    let token = l.token("acme");
    assert!(
        l.connect(&token, &ponto_org, &[&acc], true, false)
            .await
            .ends_with("ponto_status=CONNECTED")
    );
    let q = "{ bankAccounts { nodes { id } } }";
    let account = l.app.gql_data(&token, q, json!({})).await["bankAccounts"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m = "mutation($a: ID!, $r: String!) { requestReauthorization(input: {accountId: $a, returnUrl: $r}) { url expiresAt } }";
    let data = l
        .app
        .gql_data(&token, m, json!({"a": account, "r": RETURN}))
        .await;
    let reauth_url = data["requestReauthorization"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{data}"))
        .to_owned();
    let reauth_ticket = reauth_url.split("ticket=").nth(1).unwrap().to_owned();
    let connect_url = l.connect_url(&token, RETURN, true).await.unwrap();
    let connect_ticket = connect_url.split("ticket=").nth(1).unwrap().to_owned();
    let base = &l.app.base;

    // A re-authorization ticket is no connect ticket, and the other way round.
    let (status, _, h) = Browser::new()
        .get(&format!("{base}/oauth/ponto/start?ticket={reauth_ticket}"))
        .await;
    assert_eq!((status, code(&h)), (400, "INVALID_TICKET"));
    let (status, _, h) = Browser::new()
        .get(&format!(
            "{base}/oauth/ponto/reauthorize?ticket={connect_ticket}"
        ))
        .await;
    assert_eq!((status, code(&h)), (400, "INVALID_TICKET"));

    // Through Ponto and back: the state of a re-authorization opens nothing else.
    let mut browser = Browser::new();
    let (status, ponto_page, _) = browser.get(&reauth_url).await;
    assert_eq!(status, 303);
    let resp =
        l.sb.http
            .post(ponto_page.unwrap())
            .form(&[("decision", "allow")])
            .send()
            .await
            .unwrap();
    let back = resp.headers()["location"].to_str().unwrap().to_owned();
    let state = url::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    for ticket in [format!("reauth:{state}"), state.clone()] {
        let (status, _, h) = Browser::new()
            .get(&format!("{base}/oauth/ponto/start?ticket={ticket}"))
            .await;
        assert_eq!((status, code(&h)), (400, "INVALID_TICKET"), "{ticket}");
    }
    let (status, _, h) = browser
        .get(&format!("{base}/oauth/ponto/callback?state={state}&code=x"))
        .await;
    assert_eq!(
        (status, code(&h)),
        (400, "INVALID_STATE"),
        "not a connect state"
    );
    let (status, _, h) = Browser::new().get(&back).await;
    assert_eq!(
        (status, code(&h)),
        (400, "BROWSER_MISMATCH"),
        "another browser"
    );
    let (status, landing, _) = browser.get(&back).await;
    assert_eq!(
        (status, landing.unwrap()),
        (303, format!("{RETURN}&ponto_status=REAUTHORIZED"))
    );
    // The one-time URL was used.
    let (status, _, h) = Browser::new().get(&reauth_url).await;
    assert_eq!((status, code(&h)), (400, "TICKET_ALREADY_USED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn re_authorization_requests_are_limited_per_account_and_old_flows_are_deleted() {
    let l = Linked::start(&[]).await;
    let ponto_org = l.sb.org("Limits BV").await;
    let acc =
        l.sb.account(&ponto_org, json!({"reference": "BE68539007547034"}))
            .await;
    let token = l.token("acme");
    assert!(
        l.connect(&token, &ponto_org, &[&acc], true, false)
            .await
            .ends_with("ponto_status=CONNECTED")
    );
    let org = l.app.store.ensure_organization("acme").await.unwrap();
    let account = l.app.store.accounts_of(org).await.unwrap()[0].id;
    let link = l.app.connect.reauthorization_link(org, account).unwrap();
    let ponto_requests = || l.sb.handle.reauthorization_requests();
    assert_eq!(ponto_requests(), 0);

    // 100 opens of one link, ten at a time: at most the allowed five reach Ponto.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let opens = (0..10).map(|_| {
            let link = link.clone();
            async move { Browser::new().get(&link).await }
        });
        for (status, _, h) in futures::future::join_all(opens).await {
            if status == 429 {
                assert_eq!(code(&h), "RATE_LIMITED");
                assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
            }
            statuses.push(status);
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(ponto_requests(), 5, "the sandbox counted five requests");
    let gid = ponto_bridge::graphql::ids::encode("BankAccount", account.0);
    let m = "mutation($a: ID!) { requestReauthorization(input: {accountId: $a, returnUrl: \"https://app.example/\"}) { url } }";
    let body = l.app.gql(&token, m, json!({"a": gid})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{body}"
    );
    assert!(
        body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            > 0
    );
    // The next window allows again (the positive control of the limit).
    l.clock.advance(Duration::minutes(11));
    let data = l.app.gql_data(&token, m, json!({"a": gid})).await;
    assert!(data["requestReauthorization"]["url"].is_string(), "{data}");

    // Flow rows: kept through their retention (24 h by default), then deleted.
    let db = Database::connect(&l.app.db.url).await.unwrap();
    let count = || async {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM oauth_flow",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    assert!(
        count().await >= 7,
        "the connect flow and the re-authorizations"
    );
    l.clock.advance(Duration::hours(23));
    tokio::time::sleep(Wait::from_millis(300)).await;
    assert!(count().await >= 7, "still within the retention");
    l.clock.advance(Duration::hours(2));
    wait_until(Wait::from_secs(10), "old flows deleted", || async {
        count().await == 0
    })
    .await;
    db.close().await.unwrap();
}
