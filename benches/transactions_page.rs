//! Benchmark: `transactions(first: 100)` through the real server over HTTP against 100,000
//! seeded transactions, next to a baseline measured in the same run — a minimal axum handler
//! that reads the same page straight from the database and returns it as JSON.
//!
//! Run: `cargo bench --bench transactions_page` (SQLite in a temp dir), or with
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db>` for PostgreSQL (the database
//! must exist and be empty). `BENCH_ROWS`, `BENCH_SECS`, `BENCH_CONCURRENCY` tune the run.

use axum::extract::{Query, State};
use axum::routing::get;
use chrono::{Duration, NaiveDate, Utc};
mod support;

use ponto_bridge::app::App;
use ponto_bridge::clock::SystemClock;
use ponto_bridge::domain::money::{Currency, Money};
use ponto_bridge::domain::scope::Scope;
use ponto_bridge::domain::transaction::TransactionStatus;
use ponto_bridge::store::accounts::AccountUpsert;
use ponto_bridge::store::transactions::TransactionUpsert;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

#[tokio::main]
async fn main() {
    ponto_bridge::install_crypto_provider();
    let rows: usize = support::env_or("BENCH_ROWS", 100_000);
    let secs: u64 = support::env_or("BENCH_SECS", 10);
    let concurrency: usize = support::env_or("BENCH_CONCURRENCY", 8);
    let db = support::BenchDb::new();
    let url = db.url.clone();
    let serve = db.serve_settings(&["--db-max-connections", "16"]);
    let app = App::build(&serve, Arc::new(SystemClock)).await.unwrap();
    let store = app.store().clone();
    let token = app
        .authenticator()
        .mint_hs256("bench", &[Scope::Read], "bench", 3600)
        .unwrap();
    let graphql = format!("http://{}/graphql", app.local_addr());
    tokio::spawn(app.run(std::future::pending()));

    let started = Instant::now();
    let org = store.ensure_organization("bench").await.unwrap();
    let eur = Currency::parse("EUR").unwrap();
    let mut accounts = Vec::new();
    let mut tx = store.begin_write().await.unwrap();
    for a in 0..5 {
        let (_, acc) = tx.upsert_account(org, None, account(a, eur)).await.unwrap();
        accounts.push(acc.id);
    }
    tx.commit().await.unwrap();
    for chunk in (0..rows).collect::<Vec<_>>().chunks(1000) {
        let mut tx = store.begin_write().await.unwrap();
        for &i in chunk {
            tx.upsert_transaction(org, accounts[i % 5], transaction(i, eur))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    eprintln!(
        "seeded {rows} transactions in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    // A production database has statistics; give both engines theirs before measuring.
    let stats_db = ponto_bridge::store::connect(&url, 2).await.unwrap();
    stats_db.execute_unprepared("ANALYZE").await.unwrap();
    stats_db.close().await.unwrap();

    // Cursors spread over the whole history, so pages are read from everywhere.
    let client = reqwest::Client::new();
    let query = "query($after: String) { transactions(first: 100, after: $after) { edges { node { id amount { amount currency }
        counterpartName remittanceInformation valueDate status } } pageInfo { endCursor hasNextPage } } }";
    let mut cursors: Vec<Option<String>> = vec![None];
    let mut after: Option<String> = None;
    for page in 0..(rows / 100).min(1000) {
        let body: Value =
            support::gql(&client, &graphql, &token, query, json!({"after": after})).await;
        after = body["data"]["transactions"]["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
        if page % 20 == 0 {
            cursors.push(after.clone());
        }
    }

    let baseline_db = ponto_bridge::store::connect(&url, 16).await.unwrap();
    let baseline = spawn_baseline(baseline_db, org.0).await;
    let baseline_cursors: Vec<Option<String>> = {
        let mut out = vec![None];
        let mut after: Option<String> = None;
        for page in 0..(rows / 100).min(1000) {
            let url = match &after {
                Some(a) => format!("{baseline}/page?after={a}"),
                None => format!("{baseline}/page"),
            };
            let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            after = body["endCursor"].as_str().map(str::to_owned);
            if page % 20 == 0 {
                out.push(after.clone());
            }
        }
        out
    };

    let run = StdDuration::from_secs(secs);
    let (base_rps, base_p50, base_p99) = load(concurrency, run, baseline_cursors, {
        let client = client.clone();
        let baseline = baseline.clone();
        move |cursor: Option<String>| {
            let client = client.clone();
            let url = match cursor {
                Some(a) => format!("{baseline}/page?after={a}"),
                None => format!("{baseline}/page"),
            };
            async move {
                let v: Value = client.get(url).send().await.unwrap().json().await.unwrap();
                assert_eq!(v["rows"].as_array().unwrap().len(), 100);
            }
        }
    })
    .await;
    let (api_rps, api_p50, api_p99) = load(concurrency, run, cursors, {
        let (client, graphql, token) = (client.clone(), graphql.clone(), token.clone());
        move |cursor: Option<String>| {
            let (client, graphql, token) = (client.clone(), graphql.clone(), token.clone());
            async move {
                let v =
                    support::gql(&client, &graphql, &token, query, json!({"after": cursor})).await;
                assert_eq!(
                    v["data"]["transactions"]["edges"].as_array().unwrap().len(),
                    100,
                    "{v}"
                );
            }
        }
    })
    .await;

    let backend = db.engine();
    println!(
        "transactions(first: 100) over {rows} rows on {backend}, {concurrency} concurrent clients, {secs}s each"
    );
    println!("| | requests/s | p50 | p99 |");
    println!("|---|---|---|---|");
    println!(
        "| baseline (minimal handler, same page straight from the DB) | {base_rps:.0} | {:.2} ms | {:.2} ms |",
        base_p50, base_p99
    );
    println!(
        "| GraphQL `transactions(first: 100)` | {api_rps:.0} | {:.2} ms | {:.2} ms |",
        api_p50, api_p99
    );
    println!(
        "| ratio (GraphQL / baseline) | {:.2} | {:.2} | {:.2} |",
        api_rps / base_rps,
        api_p50 / base_p50,
        api_p99 / base_p99
    );
}

/// Runs `call` from `concurrency` tasks for `run`; returns requests/s, p50 and p99 in ms.
async fn load<F, Fut>(
    concurrency: usize,
    run: StdDuration,
    cursors: Vec<Option<String>>,
    call: F,
) -> (f64, f64, f64)
where
    F: Fn(Option<String>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let cursors = Arc::new(cursors);
    let deadline = Instant::now() + run;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (call, cursors) = (call.clone(), cursors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = worker;
            while Instant::now() < deadline {
                let t = Instant::now();
                call(cursors[i % cursors.len()].clone()).await;
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                i += 7;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    (all.len() as f64 / elapsed, pct(0.50), pct(0.99))
}

/// The baseline: one axum route that reads the same page with one SQL statement.
async fn spawn_baseline(db: DatabaseConnection, org: uuid::Uuid) -> String {
    #[derive(serde::Deserialize)]
    struct Page {
        after: Option<String>,
    }
    async fn page(
        State((db, org)): State<(DatabaseConnection, uuid::Uuid)>,
        Query(p): Query<Page>,
    ) -> axum::Json<Value> {
        let backend = db.get_database_backend();
        let (ph, sql_cursor) = match backend {
            DbBackend::Sqlite => ("?", "(sort_date, id) < (?2, ?3)"),
            _ => ("$", "(sort_date, id) < ($2, $3)"),
        };
        let cols = "id, amount_minor, currency, counterpart_name, remittance_information, value_date, status, sort_date";
        let stmt = match p.after.as_deref().and_then(|a| a.split_once('_')) {
            Some((d, id)) => Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT {cols} FROM bank_transaction WHERE organization_id = {ph}1 AND {sql_cursor} ORDER BY sort_date DESC, id DESC LIMIT 100"
                ),
                [
                    org.into(),
                    d.parse::<NaiveDate>().unwrap().into(),
                    uuid::Uuid::parse_str(id).unwrap().into(),
                ],
            ),
            None => Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT {cols} FROM bank_transaction WHERE organization_id = {ph}1 ORDER BY sort_date DESC, id DESC LIMIT 100"
                ),
                [org.into()],
            ),
        };
        let rows = db.query_all_raw(stmt).await.unwrap();
        let mut out = Vec::new();
        let mut end = None;
        for r in rows {
            let id: uuid::Uuid = r.try_get_by_index(0).unwrap();
            let sort: NaiveDate = r.try_get_by_index(7).unwrap();
            out.push(json!({
                "id": id.to_string(),
                "amount": r.try_get_by_index::<i64>(1).unwrap(),
                "currency": r.try_get_by_index::<String>(2).unwrap(),
                "counterpartName": r.try_get_by_index::<Option<String>>(3).unwrap(),
                "remittanceInformation": r.try_get_by_index::<Option<String>>(4).unwrap(),
                "valueDate": r.try_get_by_index::<Option<NaiveDate>>(5).unwrap(),
                "status": r.try_get_by_index::<String>(6).unwrap(),
            }));
            end = Some(format!("{sort}_{id}"));
        }
        axum::Json(json!({"rows": out, "endCursor": end}))
    }
    let router = axum::Router::new()
        .route("/page", get(page))
        .with_state((db, org));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn account(a: usize, currency: Currency) -> AccountUpsert {
    AccountUpsert {
        ponto_id: format!("bench-acc-{a}"),
        reference: Some("BE68539007547034".into()),
        reference_type: Some("IBAN".into()),
        currency,
        description: None,
        holder_name: None,
        product: None,
        subtype: None,
        financial_institution_id: None,
        current_balance_minor: Some(0),
        current_balance_reference_date: Some(Utc::now()),
        available_balance_minor: None,
        available_balance_reference_date: None,
        authorized_at: None,
        authorization_expires_at: None,
        availability: None,
    }
}

fn transaction(i: usize, currency: Currency) -> TransactionUpsert {
    let d = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + Duration::days((i / 50) as i64);
    TransactionUpsert {
        ponto_id: format!("bench-tx-{i}"),
        status: TransactionStatus::Booked,
        amount: Money::new(
            if i.is_multiple_of(3) {
                -((i as i64 % 9_999) + 1)
            } else {
                (i as i64 % 99_999) + 1
            },
            currency,
        ),
        counterpart_name: Some(format!("Counterparty {}", i % 500)),
        counterpart_reference: Some("BE68539007547034".into()),
        remittance_information: Some(format!("Invoice 2024-{i:06}")),
        remittance_information_type: Some("unstructured".into()),
        structured_reference: None,
        description: None,
        execution_date: Some(d),
        value_date: Some(d),
        bank_transaction_code: None,
        proprietary_bank_transaction_code: None,
        end_to_end_id: None,
        purpose_code: None,
        mandate_id: None,
        creditor_id: None,
        additional_information: None,
        card_reference: None,
        raw_json: format!(r#"{{"id":"bench-tx-{i}"}}"#),
    }
}
