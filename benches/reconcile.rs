//! Benchmark: the reconciliation engine over N open invoices and N booked transactions (80%
//! paying with the invoice's structured reference, 10% naming its number with the exact
//! amount, 10% with nothing to go on), run as the import runs it — pages of 100 transactions,
//! each in one write transaction under the organization's lock, matches, settled invoices and
//! `invoice.paid` events written — next to a baseline measured in the same run and database: one
//! plain SQL statement inserting the pairs that join on the normalized reference.
//!
//! Run: `cargo bench --bench reconcile` (SQLite in a temp dir), or with
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<empty db>`. `BENCH_SIZES`
//! ("10000,100000"; add 1000000 by hand) sets the sizes, each in its own organization.
//! Peak memory from `/proc/self/status` (Linux), the peak reset before each engine run.

mod support;

use chrono::{Duration, NaiveDate, Utc};
use ponto_bridge::app::App;
use ponto_bridge::clock::SystemClock;
use ponto_bridge::domain::ids::{OrganizationId, TransactionId};
use ponto_bridge::domain::invoice::InvoiceKind;
use ponto_bridge::domain::money::{Currency, Money};
use ponto_bridge::domain::reference::ogm_from_base;
use ponto_bridge::domain::transaction::TransactionStatus;
use ponto_bridge::invoices::{InvoiceDraft, Invoices};
use ponto_bridge::store::Store;
use ponto_bridge::store::accounts::AccountUpsert;
use ponto_bridge::store::invoices::InvoiceUpsert;
use ponto_bridge::store::transactions::TransactionUpsert;
use sea_orm::{ConnectionTrait, Statement};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn reference(i: usize) -> String {
    ogm_from_base(1_000_000_000 + i as u64)
        .normalized()
        .to_owned()
}

fn total(i: usize) -> i64 {
    10_000 + (i as i64 * 7_919) % 490_000
}

fn day(i: usize) -> NaiveDate {
    Utc::now().date_naive() - Duration::days(300) + Duration::days((i % 250) as i64)
}

fn invoice(i: usize) -> InvoiceUpsert {
    InvoiceUpsert {
        external_id: format!("inv-{i}"),
        kind: InvoiceKind::SalesInvoice,
        number: format!("2026-{i:07}"),
        counterparty_name: Some(format!("Customer {}", i % 5_000)),
        counterparty_iban: None,
        total: Money::new(total(i), eur()),
        issue_date: day(i),
        due_date: Some(day(i) + Duration::days(30)),
        structured_reference: Some(reference(i)),
    }
}

fn transaction(i: usize) -> TransactionUpsert {
    let (text, structured) = match i % 10 {
        0..=7 => (format!("+++{}+++", reference(i)), Some(reference(i))),
        8 => (format!("Factuur 2026-{i:07}"), None),
        _ => ("Payment".to_owned(), None),
    };
    let d = day(i) + Duration::days(10);
    TransactionUpsert {
        ponto_id: format!("bench-tx-{i}"),
        status: TransactionStatus::Booked,
        amount: Money::new(total(i), eur()),
        counterpart_name: Some(format!("Payer {}", i % 7_000)),
        counterpart_reference: None,
        remittance_information: Some(text),
        remittance_information_type: Some("unstructured".into()),
        structured_reference: structured,
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

fn account() -> AccountUpsert {
    AccountUpsert {
        ponto_id: "bench-account".into(),
        reference: Some("BE71096123456769".into()),
        reference_type: Some("IBAN".into()),
        currency: eur(),
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

/// N transactions (and, with `invoices`, N invoices first), written without reconciling; the
/// transactions' ids.
async fn seed(store: &Store, org: OrganizationId, n: usize, invoices: bool) -> Vec<TransactionId> {
    let mut tx = store.begin_write().await.unwrap();
    let (_, acc) = tx.upsert_account(org, None, account()).await.unwrap();
    tx.commit().await.unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1_000) {
        if !invoices {
            break;
        }
        let mut tx = store.begin_write().await.unwrap();
        for &i in chunk {
            tx.upsert_invoice(org, invoice(i)).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let mut tx = store.begin_write().await.unwrap();
        let rows = chunk.iter().map(|&i| transaction(i)).collect();
        let done = tx.upsert_transactions(org, acc.id, rows).await.unwrap();
        ids.extend(done.iter().map(|u| u.id()));
        tx.commit().await.unwrap();
    }
    ids
}

/// The engine, page by page as the import runs it.
async fn engine(store: &Store, org: OrganizationId, ids: &[TransactionId]) -> StdDuration {
    let started = Instant::now();
    for page in ids.chunks(100) {
        let mut tx = store.begin_write().await.unwrap();
        tx.lock_organization(org).await.unwrap();
        ponto_bridge::reconcile::transactions(&mut tx, org, page)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    started.elapsed()
}

/// Payments read before their invoices: the invoices pushed in batches of 100 through the
/// invoices service, each batch reconciled against the transactions already there.
async fn invoices_after(
    store: &Store,
    org: OrganizationId,
    n: usize,
    mut autoanalyze: Option<AutoAnalyze<'_>>,
) -> StdDuration {
    let service = Invoices::new(store.clone());
    let started = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        if let Some(a) = autoanalyze.as_mut() {
            a.wrote(chunk.len()).await;
        }
        let drafts: Vec<InvoiceDraft> = chunk
            .iter()
            .map(|&i| {
                let u = invoice(i);
                InvoiceDraft {
                    external_id: u.external_id,
                    kind: u.kind,
                    number: u.number,
                    counterparty_name: u.counterparty_name,
                    counterparty_iban: u.counterparty_iban,
                    currency: "EUR".into(),
                    total: u.total.to_decimal(),
                    issue_date: u.issue_date,
                    due_date: u.due_date,
                    structured_reference: u.structured_reference,
                }
            })
            .collect();
        let done = service.upsert(org, &drafts).await.unwrap();
        assert!(done.problems.is_empty());
    }
    started.elapsed()
}

/// Stands in for autovacuum's analyze on a PostgreSQL server that runs without it (this
/// machine's has `autovacuum = off`; PostgreSQL's default is on): `ANALYZE invoice` once the
/// rows written since the last one exceed PostgreSQL's default trigger, 50 plus 10% of the
/// table. Without fresh statistics an organization first seen after the last analyze is
/// estimated at one row, and the planner's custom plan for `organization_id = $1 AND
/// external_id = $2` walks that organization through whichever `(organization_id, …)` index is
/// smallest instead of the unique one (BENCHMARKS.md).
struct AutoAnalyze<'a> {
    db: &'a sea_orm::DatabaseConnection,
    since: usize,
    threshold: usize,
}

impl<'a> AutoAnalyze<'a> {
    async fn new(db: &'a sea_orm::DatabaseConnection) -> Option<Self> {
        if !support::autovacuum_off(db).await {
            return None;
        }
        let mut me = Self {
            db,
            since: 0,
            threshold: 0,
        };
        me.reset().await;
        Some(me)
    }

    /// PostgreSQL's default trigger, from the table as it is now.
    async fn reset(&mut self) {
        let rows: i64 = support::pg_scalar(self.db, "SELECT count(*) FROM invoice").await;
        self.since = 0;
        self.threshold = 50 + rows as usize / 10;
    }

    async fn wrote(&mut self, rows: usize) {
        self.since += rows;
        if self.since > self.threshold {
            self.db.execute_unprepared("ANALYZE invoice").await.unwrap();
            self.reset().await;
        }
    }
}

/// The plain SQL join on the normalized reference, into a scratch table.
async fn baseline(db: &sea_orm::DatabaseConnection, org: OrganizationId) -> (StdDuration, u64) {
    let backend = db.get_database_backend();
    db.execute_unprepared("DROP TABLE IF EXISTS bench_match")
        .await
        .unwrap();
    db.execute_unprepared(
        "CREATE TABLE bench_match (transaction_id uuid, invoice_id uuid, amount_minor bigint)",
    )
    .await
    .unwrap();
    let sql = "INSERT INTO bench_match (transaction_id, invoice_id, amount_minor) \
               SELECT t.id, i.id, t.amount_minor FROM bank_transaction t \
               JOIN invoice i ON i.organization_id = t.organization_id \
                 AND i.structured_reference = t.structured_reference \
               WHERE t.organization_id = $1";
    let started = Instant::now();
    let done = db
        .execute_raw(Statement::from_sql_and_values(backend, sql, [org.0.into()]))
        .await
        .unwrap();
    (started.elapsed(), done.rows_affected())
}

async fn live_matches(db: &sea_orm::DatabaseConnection, org: OrganizationId) -> u64 {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    entity::payment_match::Entity::find()
        .filter(entity::payment_match::Column::OrganizationId.eq(org.0))
        .filter(entity::payment_match::Column::ReversedAt.is_null())
        .count(db)
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    ponto_bridge::install_crypto_provider();
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("BENCH_SIZES: numbers"))
        .collect();
    let bench_db = support::BenchDb::new();
    let serve = bench_db.serve_settings(&[]);
    let app = App::build(&serve, Arc::new(SystemClock)).await.unwrap();
    let store = app.store().clone();
    let db = ponto_bridge::store::connect(&bench_db.url, 2)
        .await
        .unwrap();
    let engine_name = bench_db.engine();
    let (mut rows, mut late_rows) = (Vec::new(), Vec::new());
    for &n in &sizes {
        let org = store
            .ensure_organization(&format!("bench-{n}"))
            .await
            .unwrap();
        let seeding = Instant::now();
        let ids = seed(&store, org, n, true).await;
        // A production database has statistics; both sides get them.
        db.execute_unprepared("ANALYZE").await.unwrap();
        eprintln!("{n}: seeded in {:.1}s", seeding.elapsed().as_secs_f64());

        let (base_time, joined) = baseline(&db, org).await;
        support::reset_peak();
        let (rss_before, _) = support::memory();
        let took = engine(&store, org, &ids).await;
        let (_, peak) = support::memory();
        let matched = live_matches(&db, org).await;
        // Every reference and every number with its amount is paid; nothing else.
        assert_eq!(
            matched as usize,
            n / 10 * 9,
            "the engine matched what it should"
        );
        assert_eq!(joined as usize, n / 10 * 8, "the join found the references");

        // The other way round, in an organization of its own.
        let late = store
            .ensure_organization(&format!("bench-late-{n}"))
            .await
            .unwrap();
        seed(&store, late, n, false).await;
        db.execute_unprepared("ANALYZE").await.unwrap();
        support::reset_peak();
        let (rss_late, _) = support::memory();
        let autoanalyze = AutoAnalyze::new(&db).await;
        if autoanalyze.is_some() {
            eprintln!("{n}: autovacuum is off here; the bench analyzes as it would");
        }
        let late_took = invoices_after(&store, late, n, autoanalyze).await;
        let (_, late_peak) = support::memory();
        assert_eq!(live_matches(&db, late).await as usize, n / 10 * 9);
        rows.push((n, took, base_time, peak - rss_before));
        late_rows.push((n, late_took, late_peak - rss_late));
    }
    println!("reconciliation of N open invoices against N transactions ({engine_name})");
    println!("| N | engine | per 1,000 tx | baseline join | engine/baseline | peak memory added |");
    println!("|---|---|---|---|---|---|");
    for (n, took, base, mem) in &rows {
        println!(
            "| {n} | {:.2} s | {:.1} ms | {:.3} s | {:.0} | {mem:.0} MiB |",
            took.as_secs_f64(),
            took.as_secs_f64() * 1000.0 / (*n as f64 / 1000.0),
            base.as_secs_f64(),
            took.as_secs_f64() / base.as_secs_f64(),
        );
    }
    println!("payments read first, then the invoices pushed 100 per upsert:");
    println!("| N | upserts reconciled | per 1,000 invoices | peak memory added |");
    println!("|---|---|---|---|");
    for (n, took, mem) in &late_rows {
        println!(
            "| {n} | {:.2} s | {:.1} ms | {mem:.0} MiB |",
            took.as_secs_f64(),
            took.as_secs_f64() * 1000.0 / (*n as f64 / 1000.0),
        );
    }
    let engine: Vec<_> = rows.iter().map(|r| (r.0, r.1)).collect();
    let late: Vec<_> = late_rows.iter().map(|r| (r.0, r.1)).collect();
    for (what, times) in [("engine", engine), ("invoices after", late)] {
        if let [(n0, t0), .., (n1, t1)] = times[..] {
            println!(
                "growth ({what}): {:.1}x the time for {:.0}x the rows (linear is {:.0}x)",
                t1.as_secs_f64() / t0.as_secs_f64(),
                n1 as f64 / n0 as f64,
                n1 as f64 / n0 as f64
            );
        }
    }
}
