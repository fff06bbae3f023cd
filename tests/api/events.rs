//! The event log: sequence order equals commit order per organization (the PostgreSQL trap),
//! dedupe keys, and deliveries written in the same transaction as their event.

use crate::support::{TestApp, wait_until};
use ponto_bridge::bus::LogSignal;
use ponto_bridge::domain::event::{ConnectionData, ConnectionEvent, Event, EventType};
use ponto_bridge::domain::ids::OrganizationId;
use ponto_bridge::store::Store;
use ponto_bridge::store::webhooks::NewEndpoint;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use std::time::Duration;

fn event(reason: &str) -> Event {
    Event::connection(
        ConnectionEvent::Broken,
        ConnectionData {
            connection_id: "c".into(),
            status: "BROKEN".into(),
            problems: vec!["CONNECTION_BROKEN".into()],
            reason: Some(reason.into()),
        },
    )
}

async fn reasons_after(store: &Store, org: OrganizationId, after: i64) -> Vec<(i64, String)> {
    store
        .events_after(org, after, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
            (e.seq, v["data"]["reason"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// Ungranted locks held in this test's database right now (PostgreSQL).
async fn lock_waits(url: &str) -> i64 {
    let db = Database::connect(url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE NOT l.granted AND a.datname = current_database()",
        ))
        .await
        .unwrap()
        .unwrap();
    db.close().await.ok();
    row.try_get::<i64>("", "n").unwrap()
}

/// Trap 1 of ARCHITECTURE.md built as named: two writers on the *same* organization, the first
/// committing last. T2 must wait for T1 (on PostgreSQL seen as an ungranted lock in `pg_locks`;
/// on SQLite as a bounded wait for the write lock), so sequence order is commit order and a
/// reader resuming after T1's number receives T2's event. A single global sequence would let T2
/// commit first with a higher number and fail this test.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_writer_on_the_same_organization_waits_so_no_reader_misses_an_event() {
    let app = TestApp::start().await;
    let store = app.store.clone();
    let org = store.ensure_organization("acme").await.unwrap();

    // T1 appends for the organization and stays open.
    let mut t1 = store.begin_write().await.unwrap();
    let a1 = t1
        .append_event(org, &event("t1"), None)
        .await
        .unwrap()
        .unwrap();
    // T2 appends for the same organization from another task.
    let s2 = store.clone();
    let t2 = tokio::spawn(async move {
        let mut t2 = s2.begin_write().await.unwrap();
        let a = t2
            .append_event(org, &event("t2"), None)
            .await
            .unwrap()
            .unwrap();
        t2.commit().await.unwrap();
        a
    });
    if store.backend() == DbBackend::Postgres {
        let url = app.db.url.clone();
        wait_until(Duration::from_secs(10), "T2 waits on a lock", || {
            let url = url.clone();
            async move { lock_waits(&url).await > 0 }
        })
        .await;
    } else {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(!t2.is_finished(), "T2 must wait for T1");
    assert!(
        reasons_after(&store, org, 0).await.is_empty(),
        "nothing is visible before a commit"
    );
    t1.commit().await.unwrap();
    let a2 = t2.await.unwrap();
    assert_eq!((a1.seq, a2.seq), (1, 2), "sequence order is commit order");
    // A reader that saw T1's event and resumes after it receives T2's.
    assert_eq!(
        reasons_after(&store, org, a1.seq).await,
        vec![(2, "t2".to_owned())]
    );
    // Sequences are per organization and start at 1.
    let other = store.ensure_organization("other").await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    tx.append_event(other, &event("other"), None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        reasons_after(&store, other, 0).await,
        vec![(1, "other".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dedupe_key_writes_once_without_a_gap() {
    let app = TestApp::start().await;
    let store = &app.store;
    let org = store.ensure_organization("acme").await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    let first = tx
        .append_event(org, &event("a"), Some("tx:123"))
        .await
        .unwrap();
    let again = tx
        .append_event(org, &event("a"), Some("tx:123"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(first.unwrap().seq, 1);
    assert!(
        again.is_none(),
        "second append with the same key writes nothing"
    );

    let mut tx = store.begin_write().await.unwrap();
    assert!(
        tx.append_event(org, &event("a"), Some("tx:123"))
            .await
            .unwrap()
            .is_none()
    );
    let next = tx
        .append_event(org, &event("b"), Some("tx:456"))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        next.seq, 2,
        "a refused duplicate consumes no sequence number"
    );

    // The same key in another organization is another event.
    let other = store.ensure_organization("other").await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    assert!(
        tx.append_event(other, &event("a"), Some("tx:123"))
            .await
            .unwrap()
            .is_some()
    );
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_are_created_with_the_event_for_subscribed_endpoints_only() {
    // No delivery worker: the rows are looked at as the append left them.
    let app = TestApp::builder()
        .flags(&["--background-tasks", "false"])
        .start()
        .await;
    let store = &app.store;
    let org = store.ensure_organization("acme").await.unwrap();
    let other = store.ensure_organization("other").await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    let endpoint = |types: Vec<EventType>| NewEndpoint {
        id: ponto_bridge::domain::ids::EndpointId::new(),
        url: "https://hooks.example/x".into(),
        description: None,
        event_types: types,
        rate_limit_per_second: None,
        secret_enc: vec![1, 2, 3],
    };
    let all = tx.create_endpoint(org, endpoint(vec![])).await.unwrap();
    let broken = tx
        .create_endpoint(org, endpoint(vec![EventType::ConnectionBroken]))
        .await
        .unwrap();
    let _paid_only = tx
        .create_endpoint(org, endpoint(vec![EventType::InvoicePaid]))
        .await
        .unwrap();
    let _other_tenant = tx.create_endpoint(other, endpoint(vec![])).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin_write().await.unwrap();
    let appended = tx
        .append_event(org, &event("x"), None)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(appended.deliveries, 2);
    let mut got: Vec<_> = store
        .deliveries_for_event(org, appended.id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.endpoint_id, d.status.as_str().to_owned(), d.attempt_count))
        .collect();
    got.sort();
    let mut want = vec![
        (all, "PENDING".to_owned(), 0),
        (broken, "PENDING".to_owned(), 0),
    ];
    want.sort();
    assert_eq!(got, want);

    // A rolled-back append leaves neither the event nor its deliveries, and announces nothing.
    let mut signals = store.bus().subscribe();
    let mut tx = store.begin_write().await.unwrap();
    let ghost = tx
        .append_event(org, &event("ghost"), None)
        .await
        .unwrap()
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(
        store
            .deliveries_for_event(org, ghost.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(reasons_after(store, org, appended.seq).await, vec![]);
    // On PostgreSQL the listener also relays earlier commits and says `Resync` when it
    // connects: nothing may name the rolled-back number.
    // Late ones too: the listener is async.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    while let Ok(signal) = signals.try_recv() {
        if let LogSignal::Advanced { seq, .. } = signal {
            assert!(
                seq < ghost.seq,
                "nothing announced that did not commit: {signal:?}"
            );
        }
    }

    // A committed one is announced after commit.
    let mut tx = store.begin_write().await.unwrap();
    let real = tx
        .append_event(org, &event("real"), None)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let announced = async {
        loop {
            match signals.recv().await.unwrap() {
                LogSignal::Advanced {
                    organization_id,
                    seq,
                } if seq >= real.seq => return (organization_id, seq),
                _ => {}
            }
        }
    };
    let announced = tokio::time::timeout(std::time::Duration::from_secs(5), announced)
        .await
        .expect("the commit is announced");
    assert_eq!(announced, (org, real.seq));
    assert_eq!(
        real.seq,
        appended.seq + 1,
        "the rolled-back number is reused"
    );
}
