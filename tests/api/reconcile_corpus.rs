//! The reconciliation corpus (tests/fixtures/reconcile_corpus.json, made by
//! scripts/gen-reconcile-corpus.py): every case runs against a fresh organization through the
//! import path's Ponto-JSON normalizer, the invoices service and the real store, and its outcome
//! must equal what the generator expected from the row it names (ARCHITECTURE.md,
//! Reconciliation).

use crate::seed;
use crate::support::{TestApp, day_date};
use chrono::Duration;
use ponto_bridge::domain::ids::{AccountId, OrganizationId};
use ponto_bridge::domain::invoice::InvoiceKind;
use ponto_bridge::domain::money::parse_decimal;
use ponto_bridge::domain::remittance::ReferenceStyle;
use ponto_bridge::invoices::{InvoiceDraft, InvoiceRef, Invoices};
use ponto_bridge::ponto::model::Transaction;
use ponto_bridge::pull::ingest;
use ponto_bridge::store::Store;
use ponto_bridge::store::page::PageArgs;
use ponto_bridge::store::transactions::TransactionFilter;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};

#[derive(Deserialize)]
pub struct Corpus {
    pub rows: HashMap<String, String>,
    pub cases: Vec<Case>,
}

/// The committed corpus.
pub fn load() -> Corpus {
    serde_json::from_str(include_str!(repo_path!(
        "tests/fixtures/reconcile_corpus.json"
    )))
    .unwrap()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Case {
    pub name: String,
    pub row: String,
    pub tolerance: String,
    pub reference_style: String,
    pub steps: Vec<Step>,
    pub expect: Expect,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    Upsert(Vec<Value>),
    Read(Vec<Value>),
    Void(String),
}

#[derive(Deserialize)]
pub struct Expect {
    pub matches: Vec<ExpectedMatch>,
    pub invoices: HashMap<String, ExpectedInvoice>,
    pub suggestions: Vec<ExpectedSuggestion>,
}

#[derive(Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectedMatch {
    pub transaction: String,
    pub invoice: String,
    pub amount: String,
    pub rule: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpectedInvoice {
    pub status: String,
    pub payment_pending: bool,
    pub open: Option<String>,
    pub written_off: Option<String>,
}

#[derive(Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectedSuggestion {
    pub transaction: String,
    pub invoice: String,
    pub pending: bool,
}

pub fn dec(s: &str) -> Decimal {
    parse_decimal(s).unwrap()
}

/// `"@-3"` is three days before the day the suite runs; Ponto sends dates as midnight UTC.
pub fn with_dates(mut v: Value, ponto: bool) -> Value {
    match &mut v {
        Value::String(s) if s.starts_with('@') => {
            let date = day_date(s[1..].parse().unwrap());
            *s = if ponto {
                format!("{date}T00:00:00.000Z")
            } else {
                date.to_string()
            };
        }
        Value::Array(items) => {
            for i in items {
                *i = with_dates(i.take(), ponto);
            }
        }
        Value::Object(map) => {
            for (_, i) in map.iter_mut() {
                *i = with_dates(i.take(), ponto);
            }
        }
        _ => {}
    }
    v
}

pub fn draft(v: Value) -> InvoiceDraft {
    let v = with_dates(v, false);
    let s = |k: &str| v[k].as_str().map(str::to_owned);
    InvoiceDraft {
        external_id: s("externalId").unwrap(),
        kind: InvoiceKind::parse(&s("kind").unwrap()).unwrap(),
        number: s("number").unwrap(),
        counterparty_name: s("counterpartyName"),
        counterparty_iban: s("counterpartyIban"),
        currency: s("currency").unwrap(),
        total: dec(&s("total").unwrap()),
        issue_date: s("issueDate").unwrap().parse().unwrap(),
        due_date: s("dueDate").map(|d| d.parse().unwrap()),
        structured_reference: s("structuredReference"),
    }
}

/// One read of the bank: the account's whole booked and pending state, stored and closed as
/// the puller does.
pub async fn read(store: &Store, org: OrganizationId, account: AccountId, bank: Vec<Value>) {
    let (mut booked, mut pending) = (Vec::new(), Vec::new());
    for resource in bank {
        let resource = with_dates(resource, true);
        let is_pending = resource["type"] == "pendingTransaction";
        let t = Transaction::from_resource(&resource.to_string(), is_pending).unwrap();
        if is_pending {
            pending.push(t)
        } else {
            booked.push(t)
        }
    }
    let reported: HashSet<String> = ingest::store_page(store, org, account, booked)
        .await
        .unwrap()
        .ponto_ids
        .into_iter()
        .collect();
    let window_start = day_date(0) - Duration::days(90);
    ingest::close_booked_read(store, org, account, window_start, &reported)
        .await
        .unwrap();
    let listed: HashSet<String> = ingest::store_page(store, org, account, pending)
        .await
        .unwrap()
        .ponto_ids
        .into_iter()
        .collect();
    ingest::close_pending_read(store, org, account, &listed)
        .await
        .unwrap();
}

/// The organization's transactions (a case holds fewer than a page) under `filter`.
pub async fn transactions(
    store: &Store,
    org: OrganizationId,
    filter: TransactionFilter,
) -> Vec<ponto_bridge::store::transactions::Transaction> {
    let page = PageArgs {
        first: Some(100),
        ..Default::default()
    };
    store.transactions(org, &filter, &page).await.unwrap().items
}

/// What a case ended with, in the corpus's terms.
pub struct Outcome {
    /// Live automatic matches.
    pub automatic: BTreeSet<ExpectedMatch>,
    pub manual: usize,
    pub suggestions: BTreeSet<ExpectedSuggestion>,
    /// Invoices whose state differs from the expected one.
    pub problems: Vec<String>,
}

/// How an invoice's state differs from what its case expects (nothing when it does not).
pub fn invoice_problems(
    key: &str,
    want: &ExpectedInvoice,
    status: &str,
    payment_pending: bool,
    open: Decimal,
    written_off: Decimal,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |what: &str, got: String, want: &str| {
        if got != want {
            problems.push(format!("invoice {key}: {what} {got}, expected {want}"));
        }
    };
    check("status", status.into(), &want.status);
    check(
        "paymentPending",
        payment_pending.to_string(),
        &want.payment_pending.to_string(),
    );
    if let Some(want_open) = &want.open {
        check(
            "open",
            open.normalize().to_string(),
            &dec(want_open).normalize().to_string(),
        );
    }
    let want_off = want.written_off.as_deref().unwrap_or("0");
    check(
        "writtenOff",
        written_off.normalize().to_string(),
        &dec(want_off).normalize().to_string(),
    );
    problems
}

/// Everything in which an outcome differs from its case's expectation.
pub fn differences(case: &Case, out: Outcome) -> Vec<String> {
    let expected: BTreeSet<ExpectedMatch> = case
        .expect
        .matches
        .iter()
        .cloned()
        .map(|mut m| {
            m.amount = dec(&m.amount).normalize().to_string();
            m
        })
        .collect();
    let mut problems = out.problems;
    if out.automatic != expected {
        problems.push(format!(
            "matches {:?}, expected {expected:?}",
            out.automatic
        ));
    }
    let want: BTreeSet<_> = case.expect.suggestions.iter().cloned().collect();
    if out.suggestions != want {
        problems.push(format!(
            "suggestions {:?}, expected {want:?}",
            out.suggestions
        ));
    }
    if out.manual > 0 {
        problems.push(format!("{} manual matches, none expected", out.manual));
    }
    problems
}

/// A fresh organization with these settings and one account.
pub async fn organization(
    store: &Store,
    name: &str,
    tolerance: i64,
    style: ReferenceStyle,
) -> (OrganizationId, AccountId) {
    let org = store.ensure_organization(name).await.unwrap();
    store
        .set_reconciliation_settings(org, tolerance, style)
        .await
        .unwrap();
    let mut tx = store.begin_write().await.unwrap();
    let (_, account) = tx
        .upsert_account(
            org,
            None,
            seed::account("corpus-account", "BE71096123456769"),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (org, account.id)
}

async fn run(store: &Store, invoices: &Invoices, case: &Case) -> Outcome {
    let tolerance = (dec(&case.tolerance) * Decimal::from(100))
        .try_into()
        .unwrap();
    let style = ReferenceStyle::parse(&case.reference_style).unwrap();
    let name = format!("corpus-{}", case.name);
    let (org, account) = organization(store, &name, tolerance, style).await;

    for step in &case.steps {
        match step {
            Step::Upsert(items) => {
                let drafts: Vec<InvoiceDraft> = items.iter().cloned().map(draft).collect();
                let done = invoices.upsert(org, &drafts).await.unwrap();
                assert!(
                    done.problems.is_empty(),
                    "{}: {:?}",
                    case.name,
                    done.problems
                );
            }
            Step::Read(bank) => read(store, org, account, bank.clone()).await,
            Step::Void(key) => {
                let which = InvoiceRef::ExternalId(key.clone());
                assert!(invoices.void(org, &which).await.unwrap().is_some());
            }
        }
    }

    let filter = TransactionFilter {
        include_removed: true,
        ..Default::default()
    };
    let transactions = transactions(store, org, filter).await;
    let ponto_id: HashMap<_, _> = transactions
        .iter()
        .map(|t| (t.id, t.ponto_id.clone()))
        .collect();
    let ids: Vec<_> = transactions.iter().map(|t| t.id).collect();
    let mut external = HashMap::new();
    let mut problems = Vec::new();
    for (key, want) in &case.expect.invoices {
        let inv = store
            .invoice_by_external_id(org, key)
            .await
            .unwrap()
            .unwrap();
        external.insert(inv.id, key.clone());
        problems.extend(invoice_problems(
            key,
            want,
            inv.status.as_str(),
            inv.payment_pending,
            inv.open_amount().to_decimal(),
            inv.written_off.to_decimal(),
        ));
    }
    let name = |id| {
        external
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("unexpected invoice {id}"))
    };
    let mut automatic = BTreeSet::new();
    let mut manual = 0;
    for m in store
        .matches_by_transactions(org, &ids)
        .await
        .unwrap()
        .into_values()
        .flatten()
        .filter(|m| m.reversed_at.is_none())
    {
        if m.rule == ponto_bridge::store::matches::MatchRule::Manual {
            manual += 1;
            continue;
        }
        automatic.insert(ExpectedMatch {
            transaction: ponto_id[&m.transaction_id].clone(),
            invoice: name(m.invoice_id),
            amount: m.amount.to_decimal().normalize().to_string(),
            rule: m.rule.as_str().into(),
        });
    }
    let suggestions = store
        .suggestions_by_transactions(org, &ids)
        .await
        .unwrap()
        .into_values()
        .flatten()
        .map(|s| ExpectedSuggestion {
            transaction: ponto_id[&s.transaction_id].clone(),
            invoice: name(s.invoice_id),
            pending: s.pending,
        })
        .collect();
    Outcome {
        automatic,
        manual,
        suggestions,
        problems,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_corpus_matches_exactly_what_its_rows_expect() {
    let corpus = load();
    assert!(corpus.cases.len() >= 300, "the issue asks for 300 cases");
    let app = TestApp::start().await;
    let invoices = Invoices::new(app.store.clone());

    let (mut made, mut acceptable, mut expecting, mut got_all, mut suggestions) = (0, 0, 0, 0, 0);
    let mut failures = Vec::new();
    for case in &corpus.cases {
        assert!(corpus.rows.contains_key(&case.row), "{}", case.name);
        let out = run(&app.store, &invoices, case).await;
        let expected: BTreeSet<ExpectedMatch> = case
            .expect
            .matches
            .iter()
            .cloned()
            .map(|mut m| {
                m.amount = dec(&m.amount).normalize().to_string();
                m
            })
            .collect();
        let accept: BTreeSet<_> = expected
            .iter()
            .map(|m| (&m.transaction, &m.invoice, &m.amount))
            .collect();
        made += out.automatic.len();
        acceptable += out
            .automatic
            .iter()
            .filter(|m| accept.contains(&(&m.transaction, &m.invoice, &m.amount)))
            .count();
        if !expected.is_empty() {
            expecting += 1;
            got_all += usize::from(expected.is_subset(&out.automatic));
        }
        suggestions += out.suggestions.len();
        let problems = differences(case, out);
        if !problems.is_empty() {
            failures.push(format!(
                "{} (row {}): {}",
                case.name,
                case.row,
                problems.join("; ")
            ));
        }
    }
    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    println!(
        "reconciliation corpus: {} cases; precision {:.1}% ({acceptable}/{made} automatic matches \
         acceptable); recall {:.1}% ({got_all}/{expecting} cases expecting an automatic match); \
         {suggestions} suggestions left",
        corpus.cases.len(),
        pct(acceptable, made),
        pct(got_all, expecting),
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        corpus.cases.len(),
        failures.join("\n")
    );
    // 0 of 0 is no evidence: the corpus must have made automatic matches, all acceptable.
    assert!(made > 0 && acceptable == made && got_all == expecting);
    app.stop().await;
}
