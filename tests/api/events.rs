//! The event log: sequence order equals commit order per organization (DESIGN.md §9.1),
//! dedupe keys, and deliveries written in the same transaction as their event.

use crate::helpers::spawn_app;
use ponto_bridge::domain::event::{ConnectionData, ConnectionEvent, Event, EventType};
use ponto_bridge::domain::ids::OrganizationId;
use ponto_bridge::store::Store;
use ponto_bridge::store::webhooks::NewEndpoint;
use sea_orm::DbBackend;
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

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_resuming_after_a_sequence_never_misses_a_later_commit() {
    let (app, _db) = spawn_app().await;
    let store = app.store.clone();
    let org = store.ensure_organization("acme").await.unwrap();
    let other = store.ensure_organization("other").await.unwrap();

    // T1 begins and writes something unrelated to the event sequence.
    let mut t1 = store.begin_write().await.unwrap();
    t1.append_event(other, &event("t1-unrelated-write"), None)
        .await
        .unwrap();

    match store.backend() {
        DbBackend::Postgres => {
            // T2 appends and commits while T1 is still open.
            let mut t2 = store.begin_write().await.unwrap();
            let a2 = t2
                .append_event(org, &event("t2"), None)
                .await
                .unwrap()
                .unwrap();
            t2.commit().await.unwrap();
            // A reader sees T2's event and remembers its sequence number.
            assert_eq!(
                reasons_after(&store, org, 0).await,
                vec![(a2.seq, "t2".to_owned())]
            );
            // T1 appends and commits last.
            let a1 = t1
                .append_event(org, &event("t1"), None)
                .await
                .unwrap()
                .unwrap();
            t1.commit().await.unwrap();
            assert!(
                a1.seq > a2.seq,
                "the later commit has the higher sequence number"
            );
            // Resuming after T2's sequence number still yields T1's event.
            assert_eq!(
                reasons_after(&store, org, a2.seq).await,
                vec![(a1.seq, "t1".to_owned())]
            );
        }
        _ => {
            // On SQLite T2 cannot even begin while T1 holds the write lock.
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
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(!t2.is_finished(), "T2 must wait for T1's write lock");
            let a1 = t1
                .append_event(org, &event("t1"), None)
                .await
                .unwrap()
                .unwrap();
            t1.commit().await.unwrap();
            let a2 = t2.await.unwrap();
            assert!(a1.seq < a2.seq);
            assert_eq!(
                reasons_after(&store, org, 0).await,
                vec![(a1.seq, "t1".to_owned()), (a2.seq, "t2".to_owned())]
            );
        }
    }
    // Sequences are per organization and start at 1.
    assert_eq!(
        reasons_after(&store, other, 0).await,
        vec![(1, "t1-unrelated-write".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dedupe_key_writes_once_without_a_gap() {
    let (app, _db) = spawn_app().await;
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
    let (app, _db) = spawn_app().await;
    let store = &app.store;
    let org = store.ensure_organization("acme").await.unwrap();
    let other = store.ensure_organization("other").await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    let endpoint = |types: Vec<EventType>| NewEndpoint {
        url: "https://hooks.example/x".into(),
        description: None,
        event_types: types,
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
        .map(|d| (d.endpoint_id, d.status, d.attempt_count))
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
    assert!(
        signals.try_recv().is_err(),
        "nothing announced that did not commit"
    );

    // A committed one is announced after commit.
    let mut tx = store.begin_write().await.unwrap();
    let real = tx
        .append_event(org, &event("real"), None)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let signal = signals.recv().await.unwrap();
    assert_eq!((signal.event_id, signal.seq), (real.id, real.seq));
    assert_eq!(
        real.seq,
        appended.seq + 1,
        "the rolled-back number is reused"
    );
}
