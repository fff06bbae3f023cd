//! `ponto-bridge demo`, the README's first command, as a newcomer runs it: the real binary
//! prints a GraphiQL URL and a token, and that token already sees a connected organization
//! with accounts, booked and pending transactions, invoices and an expiring authorization.

use crate::support::{TestDb, gql_at};
use serde_json::{Value, json};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ponto-bridge");

#[tokio::test(flavor = "multi_thread")]
async fn demo_shows_a_connected_organization_with_its_bank_data() {
    let db = TestDb::fresh().await;
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["demo", "--bind", "127.0.0.1:0", "--database-url", &db.url])
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Each line within a minute, or the test fails (the child is killed).
    let lines = crate::support::child::Lines::of(&mut child);
    let mut graphiql = None;
    let mut token = None;
    let mut webhooks = Vec::new();
    while let Some(line) = lines.next_line() {
        if line.starts_with("webhook ") {
            webhooks.push(line.clone());
        }
        if let Some(url) = line.trim().strip_prefix("GraphiQL:") {
            graphiql = Some(url.trim().to_owned());
        }
        if line.starts_with("eyJ") {
            token = Some(line.trim().to_owned());
            break;
        }
    }
    let (url, token) = (graphiql.expect("GraphiQL URL"), token.expect("token"));
    // The demo's own subscriber printed our deliveries of the link and the import, each
    // verified by the reference Standard Webhooks library.
    // Deliveries come as they come (invoices are paid last, a first attempt may be retried):
    // read on until each kind looked for has been printed, or a line is a minute late.
    let kinds = [
        "connection.connected",
        "bank_account.reauthorization_expiring",
        "invoice.paid",
    ];
    let mut instructions = Vec::new();
    while !kinds
        .iter()
        .all(|k| webhooks.iter().any(|l: &String| l.contains(k)))
    {
        let line = lines
            .next_line()
            .unwrap_or_else(|| panic!("not every kind printed: {webhooks:?}"));
        if line.starts_with("webhook ") {
            webhooks.push(line);
        } else {
            instructions.push(line);
        }
    }
    let printed = webhooks.join("\n");
    for kind in kinds {
        assert!(
            webhooks
                .iter()
                .any(|l| l.contains(kind) && l.ends_with("signature verified")),
            "no verified {kind} delivery printed:\n{printed}"
        );
    }
    assert!(!printed.contains("SIGNATURE INVALID"), "{printed}");
    assert!(
        !printed.contains("bank_transaction."),
        "not subscribed to: {printed}"
    );

    let client = reqwest::Client::new();
    let page = client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200, "GraphiQL is served");
    let q = "{ pontoConnection { status problems { code } }
        bankAccounts { nodes { description problems { code }
            transactions(first: 100) { edges { node { status } } pageInfo { hasNextPage } } } }
        invoices(first: 100) { edges { node { number status } } } }";
    let d = gql_at(&url, &token, q, json!({})).await;
    assert_eq!(d["pontoConnection"]["status"], "CONNECTED", "{d}");
    assert_eq!(d["pontoConnection"]["problems"], json!([]));
    let accounts = d["bankAccounts"]["nodes"].as_array().unwrap();
    assert_eq!(accounts.len(), 3, "{d}");
    let expiring: Vec<&Value> = accounts
        .iter()
        .filter(|a| a["problems"][0]["code"] == "REAUTHORIZATION_EXPIRING")
        .collect();
    assert_eq!(
        expiring.len(),
        1,
        "one account's authorization expires soon"
    );
    let current = accounts
        .iter()
        .find(|a| a["description"] == "Business current account")
        .unwrap();
    let txs = current["transactions"]["edges"].as_array().unwrap();
    assert_eq!(txs.len(), 100);
    assert_eq!(current["transactions"]["pageInfo"]["hasNextPage"], true);
    assert!(txs.iter().any(|t| t["node"]["status"] == "PENDING"));
    assert!(txs.iter().any(|t| t["node"]["status"] == "BOOKED"));
    let invoices = d["invoices"]["edges"].as_array().unwrap();
    assert_eq!(invoices.len(), 55);
    // Its sandbox transactions paid them, in part, too much, or not yet.
    let statuses: std::collections::BTreeSet<&str> = invoices
        .iter()
        .map(|i| i["node"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        ["OPEN", "OVERPAID", "PAID", "PARTIALLY_PAID"],
        "{d}"
    );
    // A payment left as a suggestion, accepted with the README's one mutation.
    let q = "{ invoices(first: 100, filter: {statuses: [OPEN, PARTIALLY_PAID]}) { edges { node { id number
        suggestions { basis evidence transaction { id } } } } } }";
    let d = gql_at(&url, &token, q, json!({})).await;
    let (invoice, slip) = d["invoices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| {
            let n = &e["node"];
            n["suggestions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["basis"] == "NEAR_REFERENCE")
                .map(|s| (n["id"].clone(), s["transaction"]["id"].clone()))
        })
        .unwrap_or_else(|| panic!("the demo leaves its mistyped payment suggested: {d}"));
    let m =
        "mutation($t: ID!, $i: ID!) { matchTransaction(input: {transactionId: $t, invoiceId: $i}) {
        invoice { status } userErrors { code message } } }";
    let vars = json!({"t": slip, "i": invoice});
    let done = gql_at(&url, &token, m, vars).await;
    assert_eq!(done["matchTransaction"]["userErrors"], json!([]), "{done}");
    assert_eq!(
        done["matchTransaction"]["invoice"]["status"], "PAID",
        "{done}"
    );

    // The printed way to watch a webhook bring a transaction in, live.
    let mut curls = Vec::new();
    let mut subscription = None;
    for line in instructions
        .into_iter()
        .chain(std::iter::from_fn(|| lines.next_line()))
    {
        if let Some(c) = line.trim().strip_prefix("curl -X POST ") {
            curls.push(c.split_whitespace().next().unwrap().to_owned());
        }
        if line.trim().starts_with("subscription {") {
            subscription = Some(line.trim().to_owned());
        }
        if line.starts_with("Ctrl-C") {
            break;
        }
    }
    let [book, synchronize] = &curls[..] else {
        panic!("two curl lines: {curls:?}")
    };
    let base = url.trim_end_matches("/graphql");
    let subscription = subscription.expect("a subscription to paste");
    let mut live =
        crate::support::ws::JsSubscriber::start(base, &token, &subscription, json!({}), 1).await;
    crate::subscriptions::started().await;
    let sent = client
        .post(book)
        .json(&json!({"amount": "12.34", "remittanceInformation": "from the demo"}))
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success());
    assert!(
        client
            .post(synchronize)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let q = "{ transactions(first: 5) { edges { node { remittanceInformation } } } }";
    crate::support::wait_until(
        std::time::Duration::from_secs(20),
        "the webhook's transaction",
        || async {
            let d = gql_at(&url, &token, q, json!({})).await;
            d["transactions"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["node"]["remittanceInformation"] == "from the demo")
        },
    )
    .await;
    let got = live.line().await;
    assert_eq!(
        got["next"]["data"]["transactionAdded"]["remittanceInformation"], "from the demo",
        "{got}"
    );

    child.kill().unwrap();
    child.wait().unwrap();
}
