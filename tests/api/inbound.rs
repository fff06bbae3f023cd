//! Ponto's webhooks acted on, end to end: the sandbox signs and sends them as Ponto does, the
//! service stores and processes them, and GraphQL shows the effect. Scheduled reads are off
//! (`--read-interval-secs 0`) so every change here came through a webhook.

use crate::support::{Linked, day, wait_until};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) struct Hooked {
    pub l: Linked,
    pub token: String,
    pub ponto_org: String,
    pub acc: String,
}

/// A tenant "acme" linked to one sandbox account holding one transaction, with the sandbox's
/// webhooks pointed at the service from before the link (so the authorization's own events
/// arrive before the link commits, and wait for it).
pub(crate) async fn hooked(extra: &[&str]) -> Hooked {
    let flags = [&["--read-interval-secs", "0"], extra].concat();
    let l = Linked::start(&flags).await;
    l.webhooks_on().await;
    let ponto_org = l.sb.org("Hooks BV").await;
    let acc =
        l.sb.account(&ponto_org, json!({"currentBalance": "100.00"}))
            .await;
    l.sb.transactions(
        &acc,
        json!({"amount": "5.00", "remittanceInformation": "first", "valueDate": day(-3)}),
    )
    .await;
    let token = l.token("acme");
    let landing = l.connect(&token, &ponto_org, &[&acc], true, false).await;
    assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
    let h = Hooked {
        l,
        token,
        ponto_org,
        acc,
    };
    h.settled().await;
    h
}

impl Hooked {
    /// Waits until the sandbox delivered everything and every stored event reached its status.
    pub async fn settled(&self) {
        wait_until(
            Duration::from_secs(30),
            "webhooks delivered and processed",
            || async {
                let log = self
                    .l
                    .sb
                    .control(Method::GET, "/webhooks/deliveries", None)
                    .await;
                let busy: Vec<&Value> = log["deliveries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| d["status"] != "delivered")
                    .collect();
                let counts = self.l.app.store.inbound_counts().await.unwrap();
                let waiting: Vec<_> = counts
                    .iter()
                    .filter(|(s, _, _)| s == "PENDING" || s == "PARKED")
                    .collect();
                (busy.is_empty() && waiting.is_empty())
                    .then_some(())
                    .ok_or_else(|| format!("deliveries {busy:?}, stored {waiting:?}"))
            },
        )
        .await;
    }

    /// Statuses of the stored events of one Ponto type (short form, e.g. `account.detailsUpdated`).
    pub async fn statuses(&self, kind: &str) -> BTreeMap<String, i64> {
        let full = format!("pontoConnect.{kind}");
        let mut out = BTreeMap::new();
        for (status, t, n) in self.l.app.store.inbound_counts().await.unwrap() {
            if t == full {
                *out.entry(status).or_default() += n;
            }
        }
        out
    }

    pub async fn synchronize(&self) {
        self.l
            .sb
            .organization_does(&self.ponto_org, "synchronize")
            .await;
        self.settled().await;
    }

    pub async fn events(&self) -> Vec<String> {
        self.l.event_types("acme").await
    }

    pub async fn account(&self, q: &str) -> Value {
        let q = format!("{{ bankAccounts {{ nodes {{ {q} }} }} }}");
        self.l.app.gql_data(&self.token, &q, json!({})).await["bankAccounts"]["nodes"][0].take()
    }
}

fn only_processed(statuses: &BTreeMap<String, i64>) -> bool {
    !statuses.is_empty() && statuses.keys().all(|s| s == "PROCESSED")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_transaction_reaches_graphql_through_webhooks_alone() {
    let h = hooked(&[]).await;
    // The authorization's own events came before the link, waited, and then took effect.
    for kind in ["integration.created", "integration.accountAdded"] {
        assert!(
            only_processed(&h.statuses(kind).await),
            "{kind}: {:?}",
            h.statuses(kind).await
        );
    }
    assert_eq!(h.l.transactions(&h.token, false).await.len(), 1);

    h.l.sb
        .transactions(
            &h.acc,
            json!({"amount": "7.50", "remittanceInformation": "second"}),
        )
        .await;
    let before = h.events().await.len();
    h.synchronize().await;
    let txs = h.l.transactions(&h.token, false).await;
    assert!(
        txs.iter()
            .any(|(r, a, s)| (r.as_str(), a.as_str(), s.as_str()) == ("second", "7.50", "BOOKED")),
        "{txs:?}"
    );
    let new: Vec<String> = h.events().await[before..].to_vec();
    assert!(
        new.contains(&"bank_transaction.created".to_owned()),
        "{new:?}"
    );
    assert!(only_processed(
        &h.statuses("account.transactionsCreated").await
    ));
    // Nothing asked Ponto to synchronize: the webhook told us.
    let stats = h.l.sb.stats().await;
    assert!(
        stats["requests"]["POST /synchronizations"].is_null(),
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_pending_and_booked_transactions_and_their_events() {
    let h = hooked(&[]).await;
    let first = h.l.sb.handle.transaction_id_by_remittance("first").unwrap();
    h.l.sb
        .change_transaction(&first, json!({"remittanceInformation": "first, corrected"}))
        .await;
    let pending =
        h.l.sb
            .transactions(
                &h.acc,
                json!({"amount": "-9.99", "pending": true, "remittanceInformation": "card",
                       "valueDate": day(0), "executionDate": day(0)}),
            )
            .await;
    h.synchronize().await;
    let txs = h.l.transactions(&h.token, true).await;
    assert!(
        txs.iter()
            .any(|(r, _, s)| r == "first, corrected" && s == "BOOKED"),
        "{txs:?}"
    );
    assert!(
        txs.iter().any(|(r, _, s)| r == "card" && s == "PENDING"),
        "{txs:?}"
    );
    let events = h.events().await;
    assert!(
        events.contains(&"bank_transaction.updated".to_owned()),
        "{events:?}"
    );
    assert!(only_processed(
        &h.statuses("account.transactionsUpdated").await
    ));
    assert!(only_processed(
        &h.statuses("account.pendingTransactionsCreated").await
    ));

    // Booked under a new id: the pending one is gone from Ponto's list, and retired here.
    h.l.sb.book(&pending[0], &day(0)).await;
    h.synchronize().await;
    let txs = h.l.transactions(&h.token, true).await;
    assert!(
        txs.iter().any(|(r, _, s)| r == "card" && s == "SUPERSEDED"),
        "{txs:?}"
    );
    assert!(
        txs.iter().any(|(r, _, s)| r == "card" && s == "BOOKED"),
        "{txs:?}"
    );
    assert!(only_processed(
        &h.statuses("account.pendingTransactionsUpdated").await
    ));

    // Deleted at the bank, once no pull started by the booking above is still running (one
    // finishing after the deletion would count as the first read missing it).
    wait_until(Duration::from_secs(15), "no pull in flight", || async {
        let text = h.l.app.metrics().await;
        let pulls = text
            .lines()
            .find_map(|l| l.strip_prefix("ponto_inbound_pulls_in_flight "))
            .map(str::trim);
        (pulls == Some("0"))
            .then_some(())
            .ok_or(format!("{pulls:?}"))
    })
    .await;
    let gone =
        h.l.sb
            .handle
            .transaction_id_by_remittance("first, corrected")
            .unwrap();
    h.l.sb.delete_transaction(&gone).await;
    h.synchronize().await;
    // A synchronization's updated list cannot show an absence: the read (the safety net)
    // does, and announces it — once a second read misses it too.
    let org = h.l.app.store.ensure_organization("acme").await.unwrap();
    h.l.app.puller.read(org).await.unwrap();
    let txs = h.l.transactions(&h.token, true).await;
    assert!(
        txs.iter()
            .any(|(r, _, s)| r == "first, corrected" && s == "BOOKED"),
        "one read missing it is not enough: {txs:?}"
    );
    h.l.app.puller.read(org).await.unwrap();
    let txs = h.l.transactions(&h.token, true).await;
    assert!(
        txs.iter()
            .any(|(r, _, s)| r == "first, corrected" && s == "REMOVED"),
        "{txs:?}"
    );
    assert!(
        h.events()
            .await
            .contains(&"bank_transaction.removed".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn details_failures_reauthorization_and_quiet_synchronizations() {
    let h = hooked(&[]).await;
    // A synchronization that found nothing new: when Ponto reached the bank, nothing else.
    let before = h.account("lastSyncedAt bankSynchronizedAt").await;
    h.synchronize().await;
    let after = h.account("lastSyncedAt bankSynchronizedAt").await;
    assert_eq!(
        after["lastSyncedAt"], before["lastSyncedAt"],
        "our import bookkeeping"
    );
    assert!(after["bankSynchronizedAt"].is_string(), "{after}");
    assert!(only_processed(
        &h.statuses("synchronization.succeededWithoutChange").await
    ));

    // New balances.
    h.l.sb
        .change_account(
            &h.acc,
            json!({"currentBalance": "250.00", "availableBalance": "250.00"}),
        )
        .await;
    h.synchronize().await;
    assert_eq!(
        h.account("currentBalance { amount }").await["currentBalance"]["amount"],
        "250.00"
    );
    assert!(
        h.events()
            .await
            .contains(&"bank_account.balance_updated".to_owned())
    );
    assert!(only_processed(&h.statuses("account.detailsUpdated").await));

    // The bank refuses the consent: re-authorization required, announced once.
    h.l.sb.authorization(&h.acc, "invalid").await;
    h.synchronize().await;
    let problems = h.account("problems { code }").await;
    assert_eq!(
        problems["problems"][0]["code"], "REAUTHORIZATION_REQUIRED",
        "{problems}"
    );
    let required = |e: &Vec<String>| {
        e.iter()
            .filter(|t| *t == "bank_account.reauthorization_required")
            .count()
    };
    assert_eq!(required(&h.events().await), 1);
    h.synchronize().await;
    assert_eq!(required(&h.events().await), 1, "announced once");
    assert!(only_processed(&h.statuses("synchronization.failed").await));

    // Renewed at the bank and synchronized again: the problem clears, announced once; Ponto's
    // own `account.reauthorized` then changes nothing.
    h.l.sb.authorization(&h.acc, "valid").await;
    h.synchronize().await;
    let reauthorized = |e: &Vec<String>| {
        e.iter()
            .filter(|t| *t == "bank_account.reauthorized")
            .count()
    };
    for _ in 0..2 {
        let e =
            json!({"type": "account.reauthorized", "organization": h.ponto_org, "account": h.acc});
        h.l.sb.emit(e).await;
        h.settled().await;
        assert_eq!(h.account("problems { code }").await["problems"], json!([]));
        assert_eq!(reauthorized(&h.events().await), 1, "announced once");
    }
    assert!(only_processed(&h.statuses("account.reauthorized").await));
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_switched_on_and_off() {
    let h = hooked(&[]).await;
    let second = h.l.sb.account(&h.ponto_org, json!({})).await;
    h.l.sb
        .transactions(
            &second,
            json!({"amount": "3.00", "remittanceInformation": "on the second"}),
        )
        .await;
    let slider = format!(
        "/organizations/{}/integration/accounts/{second}",
        h.ponto_org
    );
    h.l.sb.control(Method::PUT, &slider, None).await;
    h.settled().await;
    let q = "{ bankAccounts { nodes { status } } }";
    let statuses = |v: Value| {
        v["bankAccounts"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["status"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        statuses(h.l.app.gql_data(&h.token, q, json!({})).await),
        ["ACTIVE", "ACTIVE"]
    );
    let txs = h.l.transactions(&h.token, false).await;
    assert!(
        txs.iter().any(|(r, _, _)| r == "on the second"),
        "imported: {txs:?}"
    );
    assert!(h.events().await.contains(&"bank_account.added".to_owned()));
    assert!(only_processed(
        &h.statuses("integration.accountAdded").await
    ));

    h.l.sb.control(Method::DELETE, &slider, None).await;
    h.settled().await;
    let mut got = statuses(h.l.app.gql_data(&h.token, q, json!({})).await);
    got.sort();
    assert_eq!(got, ["ACTIVE", "REVOKED"]);
    assert!(
        h.events()
            .await
            .contains(&"bank_account.revoked".to_owned())
    );
    assert!(only_processed(
        &h.statuses("integration.accountRevoked").await
    ));
    let txs = h.l.transactions(&h.token, false).await;
    assert!(
        txs.iter().any(|(r, _, _)| r == "on the second"),
        "history kept: {txs:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn link_level_events_change_the_connection_as_a_read_would() {
    let h = hooked(&[]).await;
    let status = || async {
        h.l.connection(&h.token).await["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    h.l.sb.organization_does(&h.ponto_org, "block").await;
    h.settled().await;
    assert_eq!(status().await, "BROKEN");
    assert!(only_processed(&h.statuses("organization.blocked").await));
    h.l.sb.organization_does(&h.ponto_org, "unblock").await;
    h.settled().await;
    assert_eq!(status().await, "CONNECTED");
    let events = h.events().await;
    assert!(
        events.contains(&"connection.broken".to_owned())
            && events.contains(&"connection.restored".to_owned()),
        "{events:?}"
    );

    // A closed payment request is recorded, with no effect here.
    let before = h.events().await.len();
    h.l.sb
        .emit(
            json!({"type": "paymentRequest.closed", "organization": h.ponto_org, "account": h.acc}),
        )
        .await;
    h.settled().await;
    assert!(only_processed(&h.statuses("paymentRequest.closed").await));
    assert_eq!(h.events().await.len(), before);

    // A type Ponto does not document: acknowledged, ignored, counted.
    let body = json!({"data": {"id": uuid::Uuid::new_v4().to_string(), "type": "pontoConnect.account.somethingNew",
        "attributes": {}, "relationships": {"organization": {"data": {"id": h.ponto_org, "type": "organization"}}}}}).to_string();
    let signed =
        h.l.sb
            .http
            .post(format!("{}/_sandbox/webhooks/sign", h.l.sb.base))
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
    let answer =
        h.l.app
            .client
            .post(format!("{}/webhooks/ponto", h.l.app.base))
            .header("signature", signed["signature"].as_str().unwrap())
            .body(body)
            .send()
            .await
            .unwrap();
    assert_eq!(answer.status(), 200);
    h.settled().await;
    assert_eq!(
        h.statuses("account.somethingNew").await,
        BTreeMap::from([("IGNORED".to_owned(), 1)])
    );
    wait_until(Duration::from_secs(5), "the counter", || async {
        h.l.app
            .metrics()
            .await
            .contains(r#"ponto_inbound_events_total{type="other",status="IGNORED"} 1"#)
    })
    .await;

    // Revoked at Ponto: broken here.
    h.l.sb
        .organization_does(&h.ponto_org, "revoke-integration")
        .await;
    h.settled().await;
    assert_eq!(status().await, "BROKEN");
    assert!(only_processed(&h.statuses("integration.revoked").await));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_user_s_own_disconnect_is_ignored_when_ponto_announces_it() {
    let h = hooked(&[]).await;
    let m = "mutation { disconnectPonto { pontoConnection { status } } }";
    h.l.app.gql_data(&h.token, m, json!({})).await;
    let before = h.events().await;
    h.settled().await;
    assert_eq!(
        h.statuses("integration.revoked").await,
        BTreeMap::from([("IGNORED".to_owned(), 1)])
    );
    assert_eq!(h.events().await, before, "no effect");
    assert_eq!(h.l.connection(&h.token).await["status"], "DISCONNECTED");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_that_came_before_its_link_is_processed_when_the_link_commits() {
    let l = Linked::start(&["--read-interval-secs", "0"]).await;
    l.webhooks_on().await;
    let ponto_org = l.sb.org("Early BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    let counted = || async {
        let m = l.app.metrics().await;
        let line = r#"ponto_inbound_events_total{type="pontoConnect.organization.unblocked",status="PROCESSED"} "#;
        m.lines()
            .find_map(|x| x.strip_prefix(line))
            .map_or(0, |n| n.trim().parse::<u64>().unwrap())
    };
    let id =
        l.sb.emit(json!({"type": "organization.unblocked", "organization": ponto_org}))
            .await;
    wait_until(Duration::from_secs(15), "the event parked", || async {
        l.app.store.inbound_status(&id).await.unwrap().as_deref() == Some("PARKED")
    })
    .await;
    assert_eq!(counted().await, 0);
    let token = l.token("acme");
    l.connect(&token, &ponto_org, &[&acc], true, false).await;
    wait_until(Duration::from_secs(15), "the event processed", || async {
        l.app.store.inbound_status(&id).await.unwrap().as_deref() == Some("PROCESSED")
    })
    .await;
    wait_until(Duration::from_secs(5), "its counter", || async {
        counted().await == 1
    })
    .await;
}
