//! Synchronizations and the real-world controls of the sandbox, each shown through the Ponto
//! API as our client sees it.

use crate::support::{Sandbox, day, finished_sync};
use chrono::Duration;
use ponto_bridge::clock::ManualClock;
use ponto_bridge::ponto::PontoClient;
use ponto_bridge::ponto::model::TokenSet;
use ponto_bridge::ponto::sync::SyncSubtype;
use ponto_bridge::ponto::sync::SyncSubtype::{
    AccountDetails, AccountTransactions, AccountTransactionsWithUnsettled,
};
use reqwest::Method;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;

struct World {
    sb: Sandbox,
    clock: ManualClock,
    client: PontoClient,
    org: String,
    account: String,
    other: String,
    tokens: TokenSet,
}

async fn world() -> World {
    let clock = ManualClock::new(crate::support::clock_start());
    let sb = Sandbox::start(Arc::new(clock.clone())).await;
    let org = sb.org("Sync BV").await;
    let account = sb.account(&org, json!({"currentBalance": "100.00"})).await;
    let other = sb
        .account(
            &org,
            json!({"description": "Savings", "subtype": "savings"}),
        )
        .await;
    sb.transactions(
        &account,
        json!([{"amount": "10.00", "remittanceInformation": "before linking"}]),
    )
    .await;
    let client = sb.client();
    let tokens = sb.link(&client, &org, &[&account]).await;
    World {
        sb,
        clock,
        client,
        org,
        account,
        other,
        tokens,
    }
}

impl World {
    async fn sync(&self, subtype: SyncSubtype) -> ponto_bridge::ponto::sync::Synchronization {
        let t = &self.tokens.access_token;
        let s = self
            .client
            .create_synchronization(t, &self.account, subtype, "203.0.113.7")
            .await
            .unwrap();
        assert_eq!(
            s.attributes.status, "pending",
            "asynchronous: created pending"
        );
        finished_sync(&self.client, t, &s.id).await
    }

    async fn remittances(&self, pending: bool) -> HashSet<String> {
        self.client
            .all_transactions(&self.tokens.access_token, &self.account, pending)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.attributes.remittance_information.unwrap_or_default())
            .collect()
    }

    async fn balance(&self) -> String {
        let a = self
            .client
            .account(&self.tokens.access_token, &self.account)
            .await
            .unwrap();
        a.attributes.current_balance.unwrap().to_string()
    }

    /// Past the window in which Ponto refuses a second synchronization (the access token
    /// expired meanwhile, so refresh it).
    async fn later(&mut self) {
        self.clock.advance(Duration::minutes(31));
        self.tokens = self
            .client
            .refresh(self.tokens.refresh_token.as_ref().unwrap())
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_subtype_synchronizes_what_it_covers() {
    let mut w = world().await;
    assert_eq!(
        w.remittances(false).await,
        HashSet::from(["before linking".to_owned()]),
        "linking synchronizes"
    );
    assert_eq!(
        w.balance().await,
        "110.00",
        "opening balance plus the booked transaction"
    );

    w.sb.transactions(
        &w.account,
        json!([{"amount": "25.50", "remittanceInformation": "new booked"},
        {"amount": "-4.00", "pending": true, "remittanceInformation": "new pending"}]),
    )
    .await;
    assert!(
        !w.remittances(false).await.contains("new booked"),
        "invisible until a synchronization"
    );

    let s = w.sync(AccountTransactions).await;
    assert_eq!(s.attributes.status, "success");
    assert!(w.remittances(false).await.contains("new booked"));
    assert!(
        w.remittances(true).await.is_empty(),
        "accountTransactions leaves pending ones alone"
    );
    let updated = w
        .client
        .updated_transactions_page(&w.tokens.access_token, &s.id, false, None)
        .await
        .unwrap();
    assert_eq!(
        updated
            .items
            .iter()
            .map(|t| t.attributes.remittance_information.clone().unwrap())
            .collect::<Vec<_>>(),
        ["new booked"]
    );
    assert_eq!(
        w.balance().await,
        "110.00",
        "balances wait for accountDetails"
    );

    let s = w.sync(AccountDetails).await;
    assert_eq!(s.attributes.status, "success");
    assert_eq!(
        w.balance().await,
        "135.50",
        "pending amounts do not move the balance"
    );

    let s = w.sync(AccountTransactionsWithUnsettled).await;
    assert_eq!(
        w.remittances(true).await,
        HashSet::from(["new pending".to_owned()])
    );
    let pending = w
        .client
        .updated_transactions_page(&w.tokens.access_token, &s.id, true, None)
        .await
        .unwrap();
    assert_eq!(pending.items.len(), 1);
    assert!(pending.items[0].pending);

    // Too soon: Ponto's accountRecentlySynchronized, which we turn into RATE_LIMITED.
    let e = w
        .client
        .create_synchronization(
            &w.tokens.access_token,
            &w.account,
            AccountTransactions,
            "203.0.113.7",
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "PONTO_RECENTLY_SYNCHRONIZED");
    assert_eq!(
        ponto_bridge::error::AppError::from(e).code().as_str(),
        "RATE_LIMITED"
    );

    // The bank stops accepting the consent: the next synchronization ends in error.
    w.sb.authorization(&w.account, "invalid").await;
    w.later().await;
    let s = w.sync(AccountTransactions).await;
    assert_eq!(s.attributes.status, "error");
    assert!(s.authorization_invalid(), "{:?}", s.attributes.errors);
    let meta = w
        .client
        .account(&w.tokens.access_token, &w.account)
        .await
        .unwrap()
        .meta
        .unwrap();
    assert_eq!(
        meta["latestSynchronization"]["attributes"]["errors"][0]["code"],
        "authorizationInvalid"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bank_side_changes_show_after_a_synchronization() {
    let mut w = world().await;
    let ids = w.sb.transactions(&w.account, json!([{"amount": "-7.00", "pending": true, "remittanceInformation": "card"},
        {"amount": "50.00", "remittanceInformation": "to change"}, {"amount": "1.00", "remittanceInformation": "to delete"}])).await;
    w.sync(AccountTransactionsWithUnsettled).await;
    assert_eq!(
        w.remittances(true).await,
        HashSet::from(["card".to_owned()])
    );

    // Book the pending one under a new id; change one; delete one.
    let booked = w.sb.book(&ids[0], &day(-11)).await;
    let new_id = booked["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, ids[0]);
    w.sb.change_transaction(
        &ids[1],
        json!({"amount": "55.55", "remittanceInformation": "changed"}),
    )
    .await;
    w.sb.delete_transaction(&ids[2]).await;
    w.later().await;
    w.sync(AccountTransactionsWithUnsettled).await;

    let all = w
        .client
        .all_transactions(&w.tokens.access_token, &w.account, false)
        .await
        .unwrap();
    let by_id = |id: &str| all.iter().find(|t| t.id == id).cloned();
    assert_eq!(
        by_id(&new_id).unwrap().attributes.amount.to_string(),
        "-7.00",
        "booked under a new id"
    );
    assert_eq!(
        by_id(&new_id)
            .unwrap()
            .attributes
            .value_date
            .unwrap()
            .to_string(),
        day(-11)
    );
    let changed = by_id(&ids[1]).unwrap();
    assert_eq!(
        (
            changed.attributes.amount.to_string(),
            changed.attributes.remittance_information.unwrap()
        ),
        ("55.55".into(), "changed".into())
    );
    assert!(by_id(&ids[2]).is_none(), "deleted at the bank");
    assert!(
        w.remittances(true).await.is_empty(),
        "the pending one is gone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn integration_account_and_organization_controls() {
    let w = world().await;
    let t = &w.tokens.access_token;
    let shared = |c: &PontoClient| {
        let c = c.clone();
        let t = t.clone();
        async move {
            c.accounts(&t)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.id)
                .collect::<HashSet<_>>()
        }
    };
    assert_eq!(shared(&w.client).await, HashSet::from([w.account.clone()]));

    // Switch a slider on, then off.
    w.sb.control(
        Method::PUT,
        &format!("/organizations/{}/integration/accounts/{}", w.org, w.other),
        None,
    )
    .await;
    assert_eq!(
        shared(&w.client).await,
        HashSet::from([w.account.clone(), w.other.clone()])
    );
    w.sb.control(
        Method::DELETE,
        &format!("/organizations/{}/integration/accounts/{}", w.org, w.other),
        None,
    )
    .await;
    assert_eq!(shared(&w.client).await, HashSet::from([w.account.clone()]));

    // A new account at the bank is not shared until activated.
    let opened = w.sb.account(&w.org, json!({"description": "New"})).await;
    assert!(!shared(&w.client).await.contains(&opened));

    // Authorization expiry set at the bank.
    let expiry_day = day(60);
    let expiry = format!("{expiry_day}T00:00:00Z");
    w.sb.change_account(
        &w.account,
        json!({"authorizationExpirationExpectedAt": expiry}),
    )
    .await;
    let a = w.client.account(t, &w.account).await.unwrap();
    assert_eq!(
        a.attributes
            .authorization_expiration_expected_at
            .unwrap()
            .to_rfc3339(),
        format!("{expiry_day}T00:00:00+00:00")
    );
    // An expired authorization makes synchronizations fail.
    w.sb.authorization(&w.account, "expired").await;
    assert!(w.sync(AccountDetails).await.authorization_invalid());

    // Blocked organization: every call is refused until unblocked.
    w.sb.organization_does(&w.org, "block").await;
    assert_eq!(
        w.client.accounts(t).await.unwrap_err().code(),
        "PONTO_ORGANIZATION_BLOCKED"
    );
    w.sb.organization_does(&w.org, "unblock").await;
    assert!(w.client.accounts(t).await.is_ok());

    // A Ponto-side synchronization publishes what the bank has, without a client request.
    w.sb.authorization(&w.account, "valid").await;
    w.sb.transactions(
        &w.account,
        json!({"amount": "3.00", "remittanceInformation": "overnight"}),
    )
    .await;
    let ran = w.sb.organization_does(&w.org, "synchronize").await;
    assert_eq!(ran["synchronizations"].as_array().unwrap().len(), 3);
    assert!(w.remittances(false).await.contains("overnight"));

    // Slow answers: a timed-out request is retried.
    let mut cfg = w.sb.config();
    cfg.timeout = std::time::Duration::from_millis(300);
    let impatient = PontoClient::new(cfg).unwrap();
    w.sb.fault(json!({"status": 200, "delayMs": 800, "count": 1, "path": "/userinfo"}))
        .await;
    assert!(
        impatient.userinfo(t).await.is_ok(),
        "recovered after a slow answer"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reauthorization_requests_renew_the_consent() {
    let w = world().await;
    let t = &w.tokens.access_token;
    w.sb.authorization(&w.account, "invalid").await;
    let before = w.client.account(t, &w.account).await.unwrap().attributes;
    w.clock.advance(Duration::minutes(1));

    let link = w
        .client
        .request_reauthorization(t, &w.account, "https://app.example/reauthorized")
        .await
        .unwrap();
    assert!(
        link.contains(&format!("/organizations/{}/sandbox/integrations/", w.org))
            && link.contains(&w.account),
        "{link}"
    );
    let page =
        w.sb.http
            .get(&link)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    assert!(page.contains("value=allow"));
    let resp =
        w.sb.http
            .post(&link)
            .form(&[("decision", "allow")])
            .send()
            .await
            .unwrap();
    assert_eq!(
        resp.headers()["location"],
        "https://app.example/reauthorized"
    );
    let after = w.client.account(t, &w.account).await.unwrap().attributes;
    assert!(after.authorized_at.unwrap() > before.authorized_at.unwrap());
    assert!(
        after.authorization_expiration_expected_at.unwrap()
            > before.authorization_expiration_expected_at.unwrap()
    );
    assert_eq!(
        w.sync(AccountTransactions).await.attributes.status,
        "success",
        "consent renewed"
    );
    // A link is single use; cancelling returns with an error.
    assert_eq!(w.sb.http.get(&link).send().await.unwrap().status(), 404);
    let link = w
        .client
        .request_reauthorization(t, &w.account, "https://app.example/r")
        .await
        .unwrap();
    let resp =
        w.sb.http
            .post(&link)
            .form(&[("decision", "deny")])
            .send()
            .await
            .unwrap();
    assert_eq!(
        resp.headers()["location"],
        "https://app.example/r?error=access_denied"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_data_api_creates_and_patches_bank_transactions() {
    let w = world().await;
    let t = w.tokens.access_token.expose();
    let base = format!(
        "{}/ponto-connect/sandbox/financial-institutions/9251e765-bfbe-48b0-a082-3b043c386131/financial-institution-accounts",
        w.sb.base
    );
    let accounts: serde_json::Value =
        w.sb.http
            .get(&base)
            .bearer_auth(t)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        accounts["data"].as_array().unwrap().len(),
        2,
        "every account at the bank, shared or not"
    );
    let url = format!("{base}/{}/financial-institution-transactions", w.account);
    let created: serde_json::Value = w
        .sb
        .http
        .post(&url)
        .bearer_auth(t)
        .header("content-type", "application/json")
        .body(format!(r#"{{"data":{{"type":"financialInstitutionTransaction","attributes":{{"amount":84.42,"currency":"EUR","valueDate":"{d}T00:00:00Z","executionDate":"{d}T00:00:00Z","description":"Shoes","remittanceInformationType":"unstructured","remittanceInformation":"NEW SHOES"}}}}}}"#, d = day(-30)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["data"]["attributes"]["amount"], 84.42);
    let id = created["data"]["id"].as_str().unwrap();
    let patched: serde_json::Value = w
        .sb
        .http
        .patch(format!("{url}/{id}"))
        .bearer_auth(t)
        .json(&json!({"data": {"type": "financialInstitutionTransaction", "attributes": {"counterpartName": "Otro Bank"}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        patched["data"]["attributes"]["counterpartName"],
        "Otro Bank"
    );
    assert!(
        !w.remittances(false).await.contains("NEW SHOES"),
        "visible only after a synchronization"
    );
    w.sync(AccountTransactions).await;
    let all = w
        .client
        .all_transactions(&w.tokens.access_token, &w.account, false)
        .await
        .unwrap();
    let shoes = all.iter().find(|t| t.id == id).unwrap();
    assert_eq!(
        (
            shoes.attributes.amount.to_string(),
            shoes.attributes.counterpart_name.as_deref()
        ),
        ("84.42".into(), Some("Otro Bank"))
    );
}
