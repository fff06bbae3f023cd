//! The connect flow end to end through real HTTP and the sandbox: linking, denying, attacks,
//! conflicts, disconnecting, and reconnecting without losing history.

use crate::support::{Browser, Linked, RETURN, error_code};
use serde_json::json;

fn status_of(landing: &str) -> String {
    let url = url::Url::parse(landing).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(&landing[..RETURN.len()], RETURN, "lands on the return URL");
    assert_eq!(
        pairs.iter().filter(|(k, _)| k != "tab").count(),
        1,
        "only ponto_status is added: {landing}"
    );
    pairs
        .into_iter()
        .find(|(k, _)| k == "ponto_status")
        .unwrap()
        .1
}

#[tokio::test(flavor = "multi_thread")]
async fn linking_two_of_three_accounts_and_denying() {
    let l = Linked::start(&[]).await;
    let ponto_org = l.sb.org("Acme BV").await;
    let mut accounts = Vec::new();
    for (i, balance) in ["1000.00", "250.50", "0.00"].iter().enumerate() {
        accounts.push(
            l.sb.account(
                &ponto_org,
                json!({"description": format!("Account {i}"), "currentBalance": balance}),
            )
            .await,
        );
    }
    let token = l.token("acme");
    assert_eq!(l.connection(&token).await["status"], "NOT_CONNECTED");

    // Denying at Ponto.
    let landing = l.connect(&token, &ponto_org, &[], false, false).await;
    assert_eq!(status_of(&landing), "ACCESS_DENIED");
    assert_eq!(l.connection(&token).await["status"], "NOT_CONNECTED");

    let landing = l
        .connect(
            &token,
            &ponto_org,
            &[&accounts[0], &accounts[1]],
            true,
            false,
        )
        .await;
    assert_eq!(status_of(&landing), "CONNECTED");
    let c = l.connection(&token).await;
    assert_eq!(c["status"], "CONNECTED");
    assert_eq!(c["problems"], json!([]));
    let mut balances: Vec<String> = c["accounts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["node"]["currentBalance"]["amount"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    balances.sort();
    assert_eq!(balances, ["1000.00", "250.50"]);
    assert!(c["accounts"]["edges"][0]["node"]["authorizationExpiresAt"].is_string());

    // While connected, connecting again is a CONFLICT unless reconnecting.
    let refused = l.connect_url(&token, RETURN, false).await.unwrap_err();
    assert_eq!(error_code(&refused), Some("CONFLICT"), "{refused}");
    assert!(l.connect_url(&token, RETURN, true).await.is_ok());

    // Events: connected once.
    let types = l.event_types("acme").await;
    assert_eq!(types, ["connection.connected"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_accounts_activated_is_a_problem_with_its_way_out() {
    let l = Linked::start(&[]).await;
    let ponto_org = l.sb.org("Empty BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    let token = l.token("acme");
    let landing = l.connect(&token, &ponto_org, &[], true, false).await;
    assert_eq!(status_of(&landing), "NO_ACCOUNTS_ACTIVATED");
    let c = l.connection(&token).await;
    assert_eq!(c["status"], "CONNECTED");
    assert_eq!(c["problems"][0]["code"], "NO_ACCOUNTS_ACTIVATED");
    assert!(
        c["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("haven't activated any bank accounts")
    );
    // Activating an account and linking again clears it, and says so.
    let landing = l.connect(&token, &ponto_org, &[&acc], true, true).await;
    assert_eq!(status_of(&landing), "CONNECTED");
    assert_eq!(l.connection(&token).await["problems"], json!([]));
    let types = l.event_types("acme").await;
    assert_eq!(
        types,
        [
            "connection.connected",
            "connection.no_accounts_activated",
            "connection.connected",
            "connection.restored"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn attacks_on_the_flow_fail() {
    let l = Linked::start(&[]).await;
    let ponto_org = l.sb.org("Acme BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    let token = l.token("acme");

    // Return URLs off the list.
    for bad in [
        "https://evil.example/x",
        "//evil.example",
        "https://app.example@evil.example/",
        "javascript:alert(1)",
        "http://app.example/",
        "https://user:pw@app.example/",
    ] {
        let body = l.connect_url(&token, bad, false).await.unwrap_err();
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{bad}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"],
            json!(["returnUrl"])
        );
    }

    // A ticket works once (the confirmation page alone uses nothing).
    let start = l.connect_url(&token, RETURN, false).await.unwrap();
    assert_eq!(
        Browser::new().page(&start).await.0,
        200,
        "a link scanner's GET"
    );
    let mut victim = Browser::new();
    let (_, to_ponto, _) = victim.confirm(&start, "continue").await;
    let (status, _, headers) = Browser::new().get(&start).await;
    assert_eq!(
        (status, headers["x-error-code"].to_str().unwrap()),
        (400, "TICKET_ALREADY_USED")
    );
    let (status, _, headers) = Browser::new()
        .get(&format!("{}/oauth/ponto/start?ticket=forged", l.app.base))
        .await;
    assert_eq!(
        (status, headers["x-error-code"].to_str().unwrap()),
        (400, "INVALID_TICKET")
    );

    // The callback only works in the browser that started the flow.
    let back =
        l.sb.decide(&to_ponto.unwrap(), &ponto_org, &[&acc], true)
            .await;
    let (status, _, headers) = Browser::new().get(back.as_str()).await;
    assert_eq!(
        (status, headers["x-error-code"].to_str().unwrap()),
        (400, "BROWSER_MISMATCH"),
        "no cookie"
    );
    let mut attacker = Browser::new();
    let attacker_start = l
        .connect_url(&l.token("attacker"), RETURN, false)
        .await
        .unwrap();
    attacker.confirm(&attacker_start, "continue").await;
    let (status, _, headers) = attacker.get(back.as_str()).await;
    assert_eq!(
        (status, headers["x-error-code"].to_str().unwrap()),
        (400, "BROWSER_MISMATCH"),
        "another browser's cookie"
    );
    assert_eq!(
        l.connection(&token).await["status"],
        "NOT_CONNECTED",
        "nothing linked by the attempts"
    );

    // Unknown state.
    let forged = back.as_str().replace("state=", "state=forged");
    let (status, _, headers) = victim.get(&forged).await;
    assert_eq!(
        (status, headers["x-error-code"].to_str().unwrap()),
        (400, "INVALID_STATE")
    );

    // The real one succeeds once; replaying it fails.
    let cookie = victim.cookie.clone();
    let (status, landing, _) = victim.get(back.as_str()).await;
    assert_eq!(status, 303);
    assert_eq!(status_of(&landing.unwrap()), "CONNECTED");
    victim.cookie = cookie;
    let (status, _, headers) = victim.get(back.as_str()).await;
    assert_eq!(
        (status, headers["x-error-code"].to_str().unwrap()),
        (400, "STATE_ALREADY_USED")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ponto_organization_linked_elsewhere_is_refused() {
    let l = Linked::start(&[]).await;
    let ponto_org = l.sb.org("Shared BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    let (a, b) = (l.token("tenant-a"), l.token("tenant-b"));
    assert_eq!(
        status_of(&l.connect(&a, &ponto_org, &[&acc], true, false).await),
        "CONNECTED"
    );
    let tokens_before = l.sb.handle.live_refresh_tokens();
    assert_eq!(
        status_of(&l.connect(&b, &ponto_org, &[&acc], true, false).await),
        "CONFLICT"
    );
    let c = l.connection(&b).await;
    assert_eq!(c["status"], "NOT_CONNECTED", "stored nothing");
    assert_eq!(c["accounts"]["edges"], json!([]));
    let tokens_after = l.sb.handle.live_refresh_tokens();
    assert_eq!(
        tokens_after, tokens_before,
        "the new tokens were revoked at Ponto"
    );
    // Tenant A's link still works.
    let org_a = l.app.store.ensure_organization("tenant-a").await.unwrap();
    assert!(l.app.connect.tokens.access_token(org_a).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn disconnecting_revokes_at_ponto_and_keeps_the_data() {
    let l = Linked::start(&[]).await;
    let ponto_org = l.sb.org("Acme BV").await;
    let acc =
        l.sb.account(&ponto_org, json!({"currentBalance": "12.00"}))
            .await;
    let token = l.token("acme");
    l.connect(&token, &ponto_org, &[&acc], true, false).await;
    let m = "mutation { disconnectPonto(input: {reason: \"moving banks\"}) { pontoConnection { status problems { code } } } }";
    let data = l.app.gql_data(&token, m, json!({})).await;
    assert_eq!(
        data["disconnectPonto"]["pontoConnection"]["status"], "DISCONNECTED",
        "{data}"
    );
    let c = l.connection(&token).await;
    assert_eq!(c["accounts"]["edges"][0]["node"]["status"], "REVOKED");
    assert_eq!(
        c["accounts"]["edges"][0]["node"]["currentBalance"]["amount"], "12.00",
        "data kept"
    );
    let integration =
        l.sb.control(
            reqwest::Method::GET,
            &format!("/organizations/{ponto_org}"),
            None,
        )
        .await;
    assert_eq!(
        integration["integration"]["revoked"], true,
        "revoked at Ponto"
    );
    let org = l.app.store.ensure_organization("acme").await.unwrap();
    let last = crate::support::catalogue::checked_events(&l.app.store, org, 0)
        .await
        .pop()
        .unwrap();
    assert_eq!(last.event_type.as_str(), "connection.disconnected");
    // Disconnecting again changes nothing and announces nothing.
    l.app.gql(&token, m, json!({})).await;
    assert_eq!(
        l.app
            .store
            .events_after(org, last.seq, 100)
            .await
            .unwrap()
            .len(),
        0
    );
}
