//! Benchmark: the first import of 100,000 transactions across 5 accounts from the built-in
//! sandbox — linked through the real connect flow, read page by page over HTTP, upserted with
//! their events — next to a baseline measured in the same run: inserting the very same rows
//! (read back from the import) into the same database with multi-row `INSERT`s of 100, one
//! transaction each, and nothing else.
//!
//! Run: `cargo bench --bench first_import` (SQLite in a temp dir), or with
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db>` for PostgreSQL (the database
//! must exist and be empty). `BENCH_ROWS` (100000) tunes the size. Linux only for memory
//! figures (`/proc/self/status`; the peak is reset through `/proc/self/clear_refs`).

mod support;

use ponto_bridge::app::App;
use ponto_bridge::clock::SystemClock;
use ponto_bridge::domain::ids::OrganizationId;
use ponto_bridge::domain::scope::Scope;
use ponto_bridge::store::Store;
use ponto_sandbox as sandbox;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ACCOUNTS: usize = 5;

#[tokio::main]
async fn main() {
    ponto_bridge::install_crypto_provider();
    let rows: usize = support::env_or("BENCH_ROWS", 100_000);
    let bench_db = support::BenchDb::new();
    let url = bench_db.url.clone();
    let engine = bench_db.engine();

    // The bank: 5 accounts holding `rows` booked transactions over two years.
    let sb = support::sandbox().await;
    let http = reqwest::Client::new();
    let control = |path: String, body: Value| {
        let http = http.clone();
        let url = format!("{}/_sandbox{path}", sb.base_url);
        async move {
            let resp = http.post(url).json(&body).send().await.unwrap();
            assert!(resp.status().is_success(), "{}", resp.status());
            resp.json::<Value>().await.unwrap()
        }
    };
    let ponto_org = control("/organizations".into(), json!({"name": "Bench BV"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut accounts = Vec::new();
    for _ in 0..ACCOUNTS {
        let id = control(
            format!("/organizations/{ponto_org}/accounts"),
            json!({"currentBalance": "1000.00"}),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        accounts.push(id);
    }
    let today = chrono::Utc::now().date_naive();
    for (a, account) in accounts.iter().enumerate() {
        let per_account = rows / ACCOUNTS + usize::from(a < rows % ACCOUNTS);
        for chunk in (0..per_account).collect::<Vec<_>>().chunks(2000) {
            let batch: Vec<Value> = chunk
                .iter()
                .map(|&i| {
                    let date = today - chrono::Duration::days((i % 730) as i64);
                    json!({
                        "amount": format!("{}.{:02}", (i % 5000) as i64 - 2500, i % 100),
                        "counterpartName": format!("Counterparty {}", i % 800),
                        "counterpartReference": "BE68539007547034",
                        "remittanceInformation": format!("+++090/9337/{:05}+++", i % 100_000),
                        "remittanceInformationType": "structured",
                        "valueDate": date, "executionDate": date,
                        "endToEndId": format!("E2E-{a}-{i}"),
                    })
                })
                .collect();
            control(format!("/accounts/{account}/transactions"), json!(batch)).await;
        }
    }

    // ponto-bridge on a fresh database, pointed at the sandbox.
    let authorization_url = format!("{}/oauth2/auth", sb.base_url);
    let serve = bench_db.serve_settings(&[
        "--ponto-api-root",
        &sb.base_url,
        "--ponto-authorization-url",
        &authorization_url,
        "--ponto-client-id",
        sandbox::DEFAULT_CLIENT_ID,
        "--ponto-client-secret",
        sandbox::DEFAULT_CLIENT_SECRET,
        "--scheduler-poll-ms",
        "20",
    ]);
    let app = App::build(&serve, Arc::new(SystemClock)).await.unwrap();
    let store = app.store().clone();
    let token = app
        .authenticator()
        .mint_hs256("bench", &Scope::ALL, "bench", 3600)
        .unwrap();
    let graphql = format!("{}graphql", app.public_url());
    tokio::spawn(app.run(std::future::pending()));
    let org = store.ensure_organization("bench").await.unwrap();

    // Measured: from the start of the connect flow to the end of the first read.
    let (rss_before, _) = support::memory();
    support::reset_peak();
    let started = Instant::now();
    support::link_and_read(
        &store,
        org,
        &graphql,
        &token,
        &sb.base_url,
        &ponto_org,
        &accounts,
    )
    .await;
    let import = started.elapsed();
    let (_, peak) = support::memory();
    // The benchmark's own pool, outside the store (as a raw client would be).
    let db = ponto_bridge::store::connect(&url, 4).await.unwrap();
    let imported = count(&db, org).await;
    assert_eq!(imported, rows as u64, "every transaction was imported");
    let events = {
        use sea_orm::PaginatorTrait;
        entity::event::Entity::find()
            .filter(entity::event::Column::OrganizationId.eq(org.0))
            .count(&db)
            .await
            .unwrap()
    };

    let raw = raw_insert(&store, &db, org).await;
    let import_rate = rows as f64 / import.as_secs_f64();
    let raw_rate = rows as f64 / raw.as_secs_f64();
    println!("first import of {rows} transactions across {ACCOUNTS} accounts ({engine})");
    println!(
        "  import:   {:.1} s, {import_rate:.0} tx/s ({events} events written)",
        import.as_secs_f64()
    );
    println!(
        "  baseline: {:.1} s, {raw_rate:.0} rows/s (same rows, INSERT of 100 per transaction)",
        raw.as_secs_f64()
    );
    println!("  ratio import/baseline: {:.2}", import_rate / raw_rate);
    println!(
        "  memory: {rss_before:.0} MiB resident before (sandbox holding the bank included), peak {peak:.0} MiB during the import (+{:.0} MiB)",
        peak - rss_before
    );
}

async fn count(db: &DatabaseConnection, org: OrganizationId) -> u64 {
    use sea_orm::PaginatorTrait;
    entity::bank_transaction::Entity::find()
        .filter(entity::bank_transaction::Column::OrganizationId.eq(org.0))
        .count(db)
        .await
        .unwrap()
}

/// Inserts the imported rows again, under a second organization with the same accounts,
/// 100 per transaction; returns the time taken.
async fn raw_insert(store: &Store, db: &DatabaseConnection, org: OrganizationId) -> Duration {
    use entity::{bank_account, bank_transaction};
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    let raw_org = store.ensure_organization("bench-raw").await.unwrap();
    let accounts = bank_account::Entity::find()
        .filter(bank_account::Column::OrganizationId.eq(org.0))
        .all(db)
        .await
        .unwrap();
    let mut mapping = std::collections::HashMap::new();
    for a in accounts {
        let old = a.id;
        let mut am = a.into_active_model();
        let new = uuid::Uuid::now_v7();
        am.id = sea_orm::Set(new);
        am.organization_id = sea_orm::Set(raw_org.0);
        am.connection_id = sea_orm::Set(None);
        am.reset_all().insert(db).await.unwrap();
        mapping.insert(old, new);
    }
    let rows: Vec<bank_transaction::ActiveModel> = bank_transaction::Entity::find()
        .filter(bank_transaction::Column::OrganizationId.eq(org.0))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|t| {
            let account = mapping[&t.account_id];
            let mut am = t.into_active_model();
            am.id = sea_orm::Set(uuid::Uuid::now_v7());
            am.organization_id = sea_orm::Set(raw_org.0);
            am.account_id = sea_orm::Set(account);
            am.superseded_by_id = sea_orm::Set(None);
            am.reset_all()
        })
        .collect();
    let started = Instant::now();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<_> = rows.by_ref().take(100).collect();
        let txn = db.begin().await.unwrap();
        bank_transaction::Entity::insert_many(batch)
            .exec_without_returning(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();
    }
    started.elapsed()
}
