//! Twenty cases of the reconciliation corpus end to end: invoices pushed through GraphQL, the
//! bank's transactions created at the sandbox and imported by the real link and read, the
//! outcome read back through GraphQL — the same outcome the engine test expects of each.

use crate::reconcile_corpus::{
    Case, ExpectedMatch, ExpectedSuggestion, Outcome, Step, dec, differences, invoice_problems,
    load, with_dates,
};
use crate::support::{Linked, wait_until};
use ponto_bridge::graphql::ids;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// The cases run: per row of the corpus's table, its first case with a single read of the bank,
/// until twenty (rows that need several reads, such as removal, stay with the engine test).
fn subset(cases: &[Case]) -> Vec<&Case> {
    let mut rows: BTreeSet<&str> = BTreeSet::new();
    let mut picked: Vec<&Case> = Vec::new();
    let single_read = |c: &Case| {
        c.steps
            .iter()
            .filter(|s| matches!(s, Step::Read(_)))
            .count()
            == 1
    };
    for c in cases.iter().filter(|c| single_read(c)) {
        if rows.insert(c.row.as_str()) {
            picked.push(c);
        }
    }
    // Fill up with the next cases of the busiest rows.
    for c in cases.iter().filter(|c| single_read(c)) {
        if picked.len() >= 20 {
            break;
        }
        if !picked.iter().any(|p| p.name == c.name) && picked.len() < 20 {
            picked.push(c);
        }
    }
    picked.truncate(20);
    picked
}

const UPSERT: &str = "mutation($i: [InvoiceInput!]!) { upsertInvoices(input: {invoices: $i}) { userErrors { code message } } }";

const OUTCOME: &str = "{ invoices(first: 100) { edges { node { externalId status paymentPending
    openAmount { amount } writtenOffAmount { amount }
    matches { rule method amount { amount } reversedAt transaction { id } }
    suggestions { pending transaction { id } } } } } }";

async fn run(l: &Linked, case: &Case) -> Outcome {
    let tenant = format!("gql-{}", case.name);
    let token = l.token(&tenant);
    let settings = "mutation($t: Decimal, $s: ReferenceStyle) { updateReconciliationSettings(input: {matchTolerance: $t, referenceStyle: $s}) { userErrors { code } } }";
    let done = l
        .app
        .gql_data(
            &token,
            settings,
            json!({"t": case.tolerance, "s": case.reference_style}),
        )
        .await;
    assert_eq!(
        done["updateReconciliationSettings"]["userErrors"],
        json!([]),
        "{}",
        case.name
    );
    let ponto_org = l.sb.org(&format!("Corpus {}", case.name)).await;
    let acc =
        l.sb.account(&ponto_org, json!({"reference": "BE71096123456769"}))
            .await;
    // Sandbox id → the corpus's transaction name.
    let mut names: HashMap<String, String> = HashMap::new();
    let mut linked = false;
    let mut expected_rows = 0;
    for step in &case.steps {
        match step {
            Step::Upsert(items) => {
                let items: Vec<Value> =
                    items.iter().map(|i| with_dates(i.clone(), false)).collect();
                let data = l.app.gql_data(&token, UPSERT, json!({"i": items})).await;
                assert_eq!(
                    data["upsertInvoices"]["userErrors"],
                    json!([]),
                    "{}",
                    case.name
                );
            }
            Step::Void(key) => {
                let m = "mutation($e: String) { voidInvoice(input: {externalId: $e}) { userErrors { code } } }";
                let data = l.app.gql_data(&token, m, json!({"e": key})).await;
                assert_eq!(
                    data["voidInvoice"]["userErrors"],
                    json!([]),
                    "{}",
                    case.name
                );
            }
            Step::Read(bank) => {
                assert!(!linked, "{}: one read per case", case.name);
                for resource in bank {
                    let r = with_dates(resource.clone(), false);
                    let mut body = r["attributes"].clone();
                    body["pending"] = json!(r["type"] == "pendingTransaction");
                    // Exact amounts: the corpus writes them as JSON numbers.
                    let text = body.to_string();
                    let id =
                        l.sb.transactions_raw(&acc, format!("[{text}]"))
                            .await
                            .remove(0);
                    names.insert(id, r["id"].as_str().unwrap().to_owned());
                    expected_rows += 1;
                }
                let landing = l.connect(&token, &ponto_org, &[&acc], true, false).await;
                assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
                linked = true;
                l.reads_settled(&tenant).await;
                wait_until(Duration::from_secs(15), "the first import", || async {
                    l.transactions(&token, true).await.len() == expected_rows
                })
                .await;
            }
        }
    }
    // Our transaction ids → the corpus's names, through the Ponto ids the sandbox gave.
    let org = l.app.store.ensure_organization(&tenant).await.unwrap();
    let filter = ponto_bridge::store::transactions::TransactionFilter {
        include_removed: true,
        ..Default::default()
    };
    let ours: HashMap<String, String> =
        crate::reconcile_corpus::transactions(&l.app.store, org, filter)
            .await
            .into_iter()
            .map(|t| {
                (
                    ids::encode("BankTransaction", t.id.0),
                    names[&t.ponto_id].clone(),
                )
            })
            .collect();
    let data = l.app.gql_data(&token, OUTCOME, json!({})).await;
    let (mut automatic, mut manual, mut suggestions, mut problems) =
        (BTreeSet::new(), 0, BTreeSet::new(), Vec::new());
    // Every invoice the case expects is there to be compared.
    for key in case.expect.invoices.keys() {
        let listed = data["invoices"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["node"]["externalId"] == key.as_str());
        if !listed {
            problems.push(format!("{key}: missing from invoices"));
        }
    }
    for e in data["invoices"]["edges"].as_array().unwrap() {
        let n = &e["node"];
        let key = n["externalId"].as_str().unwrap();
        if let Some(want) = case.expect.invoices.get(key) {
            problems.extend(invoice_problems(
                key,
                want,
                n["status"].as_str().unwrap(),
                n["paymentPending"].as_bool().unwrap(),
                dec(n["openAmount"]["amount"].as_str().unwrap()),
                dec(n["writtenOffAmount"]["amount"].as_str().unwrap()),
            ));
        }
        for m in n["matches"].as_array().unwrap() {
            if !m["reversedAt"].is_null() {
                continue;
            }
            if m["method"] == "MANUAL" {
                manual += 1;
                continue;
            }
            automatic.insert(ExpectedMatch {
                transaction: ours[m["transaction"]["id"].as_str().unwrap()].clone(),
                invoice: key.to_owned(),
                amount: dec(m["amount"]["amount"].as_str().unwrap())
                    .normalize()
                    .to_string(),
                rule: m["rule"].as_str().unwrap().to_owned(),
            });
        }
        for s in n["suggestions"].as_array().unwrap() {
            suggestions.insert(ExpectedSuggestion {
                transaction: ours[s["transaction"]["id"].as_str().unwrap()].clone(),
                invoice: key.to_owned(),
                pending: s["pending"].as_bool().unwrap(),
            });
        }
    }
    Outcome {
        automatic,
        manual,
        suggestions,
        problems,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_corpus_cases_end_the_same_through_graphql_and_the_sandbox() {
    let corpus = load();
    let cases = subset(&corpus.cases);
    assert_eq!(cases.len(), 20);
    let rows: BTreeSet<&str> = cases.iter().map(|c| c.row.as_str()).collect();
    assert!(rows.len() >= 15, "the subset spans the table: {rows:?}");
    let l = Linked::start(&[]).await;
    let mut failures = Vec::new();
    let mut automatic = 0;
    for case in &cases {
        let out = run(&l, case).await;
        automatic += out.automatic.len();
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
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Not vacuous: the subset pays invoices automatically.
    assert!(automatic >= 10, "{automatic} automatic matches");
}
