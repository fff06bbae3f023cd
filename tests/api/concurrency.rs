//! Many writers and readers at once: no "database is locked" (or any other error) reaches a
//! caller. On SQLite this exercises WAL, the busy timeout and IMMEDIATE write transactions.

use crate::support::{TestApp, error_code};
use ponto_bridge::domain::event::{Event, TransactionData};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const RUN_FOR: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_writers_and_sixteen_readers_for_ten_seconds() {
    let app = TestApp::start().await;
    let app = Arc::new(app);
    let orgs = [
        app.store.ensure_organization("org-1").await.unwrap(),
        app.store.ensure_organization("org-2").await.unwrap(),
    ];
    let writes = Arc::new(AtomicUsize::new(0));
    let reads = Arc::new(AtomicUsize::new(0));
    let deadline = tokio::time::Instant::now() + RUN_FOR;
    let mut tasks = Vec::new();

    for w in 0..4 {
        let (app, writes) = (app.clone(), writes.clone());
        tasks.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            let mut i = 0u64;
            while tokio::time::Instant::now() < deadline {
                i += 1;
                let org = orgs[(i % 2) as usize];
                let result = async {
                    // A write transaction that reads first, then writes: the pattern that
                    // fails with SQLITE_BUSY under DEFERRED transactions.
                    let mut tx = app.store.begin_write().await?;
                    tx.append_event(org, &event(w, i), Some(&format!("w{w}-{i}")))
                        .await?;
                    tx.commit().await?;
                    // New tenants are writes too.
                    app.store
                        .ensure_organization(&format!("new-{w}-{i}"))
                        .await?;
                    Ok::<_, ponto_bridge::error::AppError>(())
                }
                .await;
                match result {
                    Ok(()) => {
                        writes.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => errors.push(format!("writer {w}: {e}")),
                }
            }
            errors
        }));
    }
    for r in 0..16 {
        let (app, reads) = (app.clone(), reads.clone());
        tasks.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            let token = app.full_token(if r % 2 == 0 { "org-1" } else { "org-2" });
            while tokio::time::Instant::now() < deadline {
                let body = app
                    .gql(&token, "{ viewer { organization { id } } }", json!({}))
                    .await;
                if body["errors"].is_array() {
                    errors.push(format!("reader {r}: {:?} {body}", error_code(&body)));
                }
                if let Err(e) = app.store.events_after(orgs[r % 2], 0, 50).await {
                    errors.push(format!("reader {r}: {e}"));
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
            errors
        }));
    }
    let mut errors = Vec::new();
    for t in tasks {
        errors.extend(t.await.unwrap());
    }
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    let (w, r) = (
        writes.load(Ordering::Relaxed),
        reads.load(Ordering::Relaxed),
    );
    assert!(w > 0 && r > 0, "work happened: {w} writes, {r} reads");
    // Every committed write produced exactly one event, numbered without gaps.
    let mut total = 0;
    for org in orgs {
        let mut after = 0;
        loop {
            let page = app.store.events_after(org, after, 1000).await.unwrap();
            let Some(last) = page.last() else { break };
            for (i, e) in page.iter().enumerate() {
                assert_eq!(e.seq, after + 1 + i as i64, "gapless sequence");
            }
            after = last.seq;
            total += page.len();
        }
    }
    assert_eq!(total, w);
}

fn event(w: usize, i: u64) -> Event {
    Event::transaction_created(TransactionData {
        transaction_id: format!("{w}-{i}"),
        account_id: "a".into(),
        status: "BOOKED".into(),
        amount: "1.00".into(),
        currency: "EUR".into(),
        counterpart_name: None,
        value_date: None,
        superseded_by: None,
    })
}
