//! Benchmark: Ponto webhooks end to end — the sandbox publishes new transactions and sends
//! Ponto's signed webhooks; the service verifies and stores them, its workers pull, and the
//! transactions are committed (what GraphQL shows) — next to the pull alone, measured in the
//! same run: the same `transactionsCreated` effects applied directly (`Puller::apply_webhook`),
//! with the same concurrency, no webhook, no intake, no queue.
//!
//! Run: `cargo bench --bench webhook_latency` (SQLite in a temp dir), or with
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<empty db>`. Knobs: `BENCH_ACCOUNTS`
//! (20) accounts, `BENCH_ROUNDS` (10) rounds of one new transaction per account.

mod support;

use futures::StreamExt;
use ponto_bridge::app::App;
use ponto_bridge::clock::SystemClock;
use ponto_bridge::domain::ids::OrganizationId;
use ponto_bridge::domain::scope::Scope;
use ponto_bridge::ponto::event::WebhookEvent;
use ponto_sandbox as sandbox;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 8;

async fn count(db: &DatabaseConnection, org: OrganizationId) -> u64 {
    entity::bank_transaction::Entity::find()
        .filter(entity::bank_transaction::Column::OrganizationId.eq(org.0))
        .count(db)
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    ponto_bridge::install_crypto_provider();
    let accounts_n: usize = support::env_or("BENCH_ACCOUNTS", 20);
    let rounds: usize = support::env_or("BENCH_ROUNDS", 10);
    let bench_db = support::BenchDb::new();
    let engine = bench_db.engine();
    let sb = support::sandbox().await;
    let http = reqwest::Client::new();
    let control = |path: String, body: Value| {
        let req = http
            .post(format!("{}/_sandbox{path}", sb.base_url))
            .json(&body);
        async move {
            let resp = req.send().await.unwrap();
            assert!(resp.status().is_success(), "{}", resp.status());
            resp.json::<Value>().await.unwrap()
        }
    };
    let ponto_org = control("/organizations".into(), json!({"name": "Bench BV"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut accounts = Vec::new();
    for _ in 0..accounts_n {
        let a = control(format!("/organizations/{ponto_org}/accounts"), json!({})).await;
        accounts.push(a["id"].as_str().unwrap().to_owned());
    }
    let mut by_id = accounts.clone();
    by_id.sort_by_key(|a| uuid::Uuid::parse_str(a).unwrap());

    let authorization_url = format!("{}/oauth2/auth", sb.base_url);
    let concurrency = CONCURRENCY.to_string();
    let serve = bench_db.serve_settings(&[
        "--ponto-api-root",
        &sb.base_url,
        "--ponto-authorization-url",
        &authorization_url,
        "--ponto-client-id",
        sandbox::DEFAULT_CLIENT_ID,
        "--ponto-client-secret",
        sandbox::DEFAULT_CLIENT_SECRET,
        "--ponto-application-id",
        sandbox::webhooks::DEFAULT_APPLICATION_ID,
        "--read-interval-secs",
        "0",
        "--scheduler-poll-ms",
        "20",
        "--inbound-concurrency",
        &concurrency,
        "--inbound-per-organization",
        &concurrency,
        "--db-max-connections",
        "16",
    ]);
    let app = App::build(&serve, Arc::new(SystemClock)).await.unwrap();
    let store = app.store().clone();
    let puller = app.puller().clone();
    let token = app
        .authenticator()
        .mint_hs256("bench", &Scope::ALL, "bench", 3600)
        .unwrap();
    let graphql = format!("{}graphql", app.public_url());
    let hook = format!("{}webhooks/ponto", app.public_url());
    tokio::spawn(app.run(std::future::pending()));
    let org = store.ensure_organization("bench").await.unwrap();
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
    let db = ponto_bridge::store::connect(&bench_db.url, 4)
        .await
        .unwrap();

    // Publishes one new transaction per account; returns each account's `accountTransactions`
    // synchronization (the sandbox runs every subtype for each account, accounts by id).
    let round = |tag: String| {
        let (control, accounts, by_id, ponto_org) = (&control, &accounts, &by_id, &ponto_org);
        async move {
            for a in accounts {
                let tx = json!({"amount": "1.00", "remittanceInformation": format!("{tag} {a}")});
                control(format!("/accounts/{a}/transactions"), tx).await;
            }
            let ran = control(format!("/organizations/{ponto_org}/synchronize"), json!({})).await;
            let syncs = ran["synchronizations"].as_array().unwrap().clone();
            by_id
                .iter()
                .enumerate()
                .map(|(k, a)| (a.clone(), syncs[3 * k + 1].as_str().unwrap().to_owned()))
                .collect::<Vec<_>>()
        }
    };

    // End to end: webhooks on, `rounds` rounds, until every new transaction is committed.
    sb.send_webhooks_to(Some(hook.parse().unwrap()));
    let base = count(&db, org).await;
    let started = Instant::now();
    for r in 0..rounds {
        round(format!("hooked {r}")).await;
    }
    let want = base + (rounds * accounts_n) as u64;
    while count(&db, org).await < want {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let end_to_end = started.elapsed();
    let delivered = reqwest::get(format!("{}/_sandbox/webhooks/deliveries", sb.base_url))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["deliveries"]
        .as_array()
        .unwrap()
        .len();

    // The pull alone: webhooks off, the same work applied directly.
    sb.send_webhooks_to(None);
    let mut work = Vec::new();
    for r in 0..rounds {
        for (account, sync) in round(format!("direct {r}")).await {
            work.push(WebhookEvent {
                id: uuid::Uuid::new_v4().to_string(),
                event_type: "pontoConnect.account.transactionsCreated".into(),
                organization: Some(ponto_org.clone()),
                account: Some(account),
                synchronization: Some(sync),
            });
        }
    }
    let base = count(&db, org).await;
    let started = Instant::now();
    futures::stream::iter(work.iter())
        .for_each_concurrent(CONCURRENCY, |e| {
            let puller = &puller;
            async move {
                puller.apply_webhook(org, e).await.unwrap();
            }
        })
        .await;
    let direct = started.elapsed();
    assert_eq!(count(&db, org).await, base + work.len() as u64);

    let n = (rounds * accounts_n) as f64;
    println!(
        "webhooks end to end: {rounds} rounds × {accounts_n} accounts ({engine}, {CONCURRENCY} at once)"
    );
    println!(
        "  end to end: {:.2} s, {:.0} new transactions/s, {delivered} webhooks delivered ({:.0}/s)",
        end_to_end.as_secs_f64(),
        n / end_to_end.as_secs_f64(),
        delivered as f64 / end_to_end.as_secs_f64()
    );
    println!(
        "  pull alone: {:.2} s, {:.0} transactions/s",
        direct.as_secs_f64(),
        n / direct.as_secs_f64()
    );
    println!(
        "  ratio end to end / pull alone (throughput): {:.2}",
        direct.as_secs_f64() / end_to_end.as_secs_f64()
    );
}
