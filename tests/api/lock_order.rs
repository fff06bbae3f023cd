//! Lock order (ARCHITECTURE invariant 5) for every writer that changes the connection or its
//! accounts and announces it: the organization's event log is taken before any connection or
//! account row, so two such writers never wait on each other the other way round (a deadlock,
//! one side failing). Built as the race: the event log is held on a connection of the test's
//! own; once the writer waits for it, no connection or account row of the organization may be
//! locked yet (`FOR UPDATE NOWAIT` succeeds). PostgreSQL only: SQLite has one writer at a time.

use crate::support::{Linked, pg_admin_url, wait_until};
use ponto_bridge::domain::ids::OrganizationId;
use ponto_bridge::ponto::event::WebhookEvent;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, TransactionTrait};
use serde_json::json;
use std::future::Future;
use std::time::Duration;

/// Runs `writer` while the organization's event log is held elsewhere; once it waits, checks
/// that it holds no connection or account row, then lets it go. Returns what it returned.
async fn takes_the_event_log_first<T>(
    l: &Linked,
    org: OrganizationId,
    what: &str,
    writer: impl Future<Output = T>,
) -> T {
    let url = &l.app.db.url;
    let (holder, watcher, prober) = (
        Database::connect(url).await.unwrap(),
        Database::connect(url).await.unwrap(),
        Database::connect(url).await.unwrap(),
    );
    let held = holder.begin().await.unwrap();
    let locked = held
        .execute_unprepared(&format!(
            "UPDATE organization_event_seq SET last_seq = last_seq WHERE organization_id = '{}'",
            org.0
        ))
        .await
        .unwrap();
    assert_eq!(locked.rows_affected(), 1);
    let pid: i32 = held
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_backend_pid() AS pid",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "pid")
        .unwrap();
    let check = async {
        // Until a session waits for this very lock (the writer: nothing else takes it).
        wait_until(
            Duration::from_secs(15),
            &format!("{what} waiting for the event log"),
            || async {
                let row = watcher
                    .query_one_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!(
                            "SELECT count(*) AS n FROM pg_stat_activity \
                             WHERE datname = current_database() AND {pid} = ANY(pg_blocking_pids(pid))"
                        ),
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get::<i64>("", "n").unwrap() > 0
            },
        )
        .await;
        for table in ["ponto_connection", "bank_account"] {
            let probe = prober.begin().await.unwrap();
            let free = probe
                .execute_unprepared(&format!(
                    "SELECT 1 FROM {table} WHERE organization_id = '{}' FOR UPDATE NOWAIT",
                    org.0
                ))
                .await;
            probe.rollback().await.unwrap();
            assert!(
                free.is_ok(),
                "{what} locked a {table} row before the event log: {free:?}"
            );
        }
        held.rollback().await.unwrap();
    };
    let (out, ()) = tokio::join!(writer, check);
    out
}

/// A Ponto webhook of `kind` about `account`, as the inbound processor hands it on.
fn webhook(kind: &str, account: &str) -> WebhookEvent {
    WebhookEvent {
        id: uuid::Uuid::new_v4().to_string(),
        event_type: format!("pontoConnect.{kind}"),
        organization: None,
        account: Some(account.to_owned()),
        synchronization: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn writers_of_the_connection_and_its_accounts_take_the_event_log_first() {
    if pg_admin_url().is_none() {
        return;
    }
    let l = Linked::start(&["--read-interval-secs", "0"]).await;
    let ponto_org = l.sb.org("Lock Order BV").await;
    let kept = l.sb.account(&ponto_org, json!({})).await;
    let dropped = l.sb.account(&ponto_org, json!({})).await;
    let token = l.token("acme");
    let org = l.app.store.ensure_organization("acme").await.unwrap();
    let both = [kept.as_str(), dropped.as_str()];
    let landing = l.connect(&token, &ponto_org, &both, true, false).await;
    assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
    wait_until(Duration::from_secs(15), "the first read", || async {
        let q = "{ pontoConnection { lastReadAt } }";
        !l.app.gql_data(&token, q, json!({})).await["pontoConnection"]["lastReadAt"].is_null()
    })
    .await;

    // Each writer below has a change to record and announce: balances moved at the bank.
    let puller = &l.app.puller;
    l.sb.change_account(&kept, json!({"currentBalance": "321.00"}))
        .await;
    l.sb.organization_does(&ponto_org, "synchronize").await;
    takes_the_event_log_first(&l, org, "a read", puller.read(org))
        .await
        .unwrap();
    l.sb.change_account(&kept, json!({"currentBalance": "654.00"}))
        .await;
    l.sb.organization_does(&ponto_org, "synchronize").await;
    let details = webhook("account.detailsUpdated", &kept);
    takes_the_event_log_first(&l, org, "an account's webhook", async {
        puller.apply_webhook(org, &details).await
    })
    .await
    .unwrap();
    l.sb.control(
        reqwest::Method::DELETE,
        &format!("/organizations/{ponto_org}/integration/accounts/{dropped}"),
        None,
    )
    .await;
    let revoked = webhook("integration.accountRevoked", &dropped);
    takes_the_event_log_first(&l, org, "a revocation's webhook", async {
        puller.apply_webhook(org, &revoked).await
    })
    .await
    .unwrap();
    let statuses: Vec<String> = l.connection(&token).await["accounts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["status"].as_str().unwrap().to_owned())
        .collect();
    assert!(statuses.contains(&"REVOKED".to_owned()), "{statuses:?}");

    let store = &l.app.store;
    takes_the_event_log_first(&l, org, "breaking the link", async {
        let mut tx = store.begin_write().await?;
        tx.mark_broken(org, "organizationBlocked").await?;
        tx.commit().await
    })
    .await
    .unwrap();
    assert_eq!(l.connection(&token).await["status"], "BROKEN");
    takes_the_event_log_first(&l, org, "disconnecting", async {
        let mut tx = store.begin_write().await?;
        let done = tx.disconnect(org).await?;
        tx.commit().await.map(|()| done)
    })
    .await
    .unwrap();
    assert_eq!(l.connection(&token).await["status"], "DISCONNECTED");

    // Linked again: the connection and account rows exist now (rows a transaction inserts are
    // invisible to the others, so only a relink can show the order).
    let landing = takes_the_event_log_first(
        &l,
        org,
        "relinking (the OAuth callback)",
        l.connect(&token, &ponto_org, &both, true, false),
    )
    .await;
    assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
}
