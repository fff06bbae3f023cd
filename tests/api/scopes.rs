//! Scopes hold on every field, as a class: for every mutation listed by introspection, a document
//! reaching every object and connection of its payload. A `write`-only token gets FORBIDDEN on
//! every field outside the pinned list and no tenant data; the same document with `read write`
//! returns data, and every object type it names is seen (so the test proves it reached them).

use crate::schema_walk::{Field, Schema};
use crate::support::Linked;
use chrono::Duration;
use ponto_bridge::domain::scope::Scope;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// Pinned: what a payload may show a caller without `read`, besides `id` and `__typename`.
const PAYLOAD_VISIBLE: [&str; 6] = [
    "userErrors",
    "status",
    "nextSyncAllowedAt",
    "expiresAt",
    "url",
    "requeued",
];
const STATUS: [&str; 5] = [
    "status",
    "nextSyncAllowedAt",
    "expiresAt",
    "url",
    "requeued",
];

/// Where a field stands for a caller without `read`, by its position in a payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Vis {
    Visible,
    /// Leads to an object whose ids (and, for the mutation's own report, statuses) are visible.
    Traverse,
    Forbidden,
}

#[derive(Clone, Copy)]
enum Position {
    Payload,
    Held {
        node: bool,
        user_error: bool,
    },
    /// Only reachable through a forbidden field: never executed for a `write`-only caller.
    Beyond,
}

fn visibility(schema: &Schema, pos: Position, f: &Field) -> Vis {
    let ty = f.ty.named();
    if f.name == "id" || f.name == "__typename" {
        return Vis::Visible;
    }
    match pos {
        Position::Payload if PAYLOAD_VISIBLE.contains(&f.name.as_str()) => Vis::Visible,
        Position::Payload if schema.is_object(ty) && !schema.is_connection(ty) => Vis::Traverse,
        Position::Held {
            user_error: true, ..
        } => Vis::Visible,
        Position::Held { node: false, .. } if STATUS.contains(&f.name.as_str()) => Vis::Visible,
        _ => Vis::Forbidden,
    }
}

/// One field of a generated document.
struct Selected {
    path: Vec<String>,
    vis: Vis,
    /// Executed for a `write`-only caller (no forbidden field above it).
    reached: bool,
    object: bool,
}

struct Doc<'a> {
    schema: &'a Schema,
    selected: Vec<Selected>,
    types: BTreeSet<String>,
}

impl Doc<'_> {
    /// Every field of `ty` (objects recursively, each type at most once per path), with
    /// `__typename` everywhere and `first: 2` on lists that page.
    fn selection(
        &mut self,
        ty: &str,
        path: &[String],
        on_path: &[String],
        pos: Position,
    ) -> String {
        let t = self.schema.ty(ty);
        assert_eq!(
            t.kind, "OBJECT",
            "{ty} in a payload: extend the generator for {}",
            t.kind
        );
        self.types.insert(ty.to_owned());
        let mut out = vec!["__typename".to_owned()];
        for f in &t.fields {
            let inner = f.ty.named().to_owned();
            let composite =
                self.schema.ty(&inner).kind != "SCALAR" && self.schema.ty(&inner).kind != "ENUM";
            if composite && (on_path.contains(&inner) || path.len() >= 10) {
                continue;
            }
            for a in &f.args {
                assert!(
                    !a.ty.non_null() || a.name == "first",
                    "{ty}.{} has a required argument: extend the generator",
                    f.name
                );
            }
            let vis = visibility(self.schema, pos, f);
            let reached = !matches!(pos, Position::Beyond);
            let mut p = path.to_vec();
            p.push(f.name.clone());
            self.selected.push(Selected {
                path: p.clone(),
                vis,
                reached,
                object: composite,
            });
            let args = if f.args.iter().any(|a| a.name == "first") {
                "(first: 2)"
            } else {
                ""
            };
            if composite {
                let next = match (pos, vis) {
                    (Position::Payload, Vis::Traverse) => Position::Held {
                        node: self.schema.is_node(&inner),
                        user_error: inner == "UserError",
                    },
                    _ => Position::Beyond,
                };
                let mut on = on_path.to_vec();
                on.push(inner.clone());
                let sel = self.selection(&inner, &p, &on, next);
                out.push(format!("{}{args} {{ {sel} }}", f.name));
            } else {
                out.push(format!("{}{args}", f.name));
            }
        }
        out.join(" ")
    }
}

/// Objects at `path` (field names) in `data`, through lists.
fn instances<'v>(data: &'v Value, path: &[String]) -> Vec<&'v Value> {
    match data {
        Value::Array(items) => items.iter().flat_map(|i| instances(i, path)).collect(),
        Value::Object(map) => match path.split_first() {
            None => vec![data],
            Some((head, rest)) => map
                .get(head)
                .map(|v| instances(v, rest))
                .unwrap_or_default(),
        },
        _ => vec![],
    }
}

fn typenames(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| typenames(i, out)),
        Value::Object(map) => {
            if let Some(Value::String(t)) = map.get("__typename") {
                out.insert(t.clone());
            }
            map.values().for_each(|i| typenames(i, out));
        }
        _ => {}
    }
}

/// Field names of an error path, list indexes dropped.
fn error_path(e: &Value) -> Vec<String> {
    e["path"]
        .as_array()
        .unwrap_or_else(|| panic!("an error without a path: {e}"))
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

struct World {
    l: Linked,
    /// Global ids of the three accounts: re-authorization, `syncNow` write-only, read-write.
    accounts: Vec<String>,
    /// The two incoming transactions inv-1 did not take (it suggests them): write-only's,
    /// read-write's.
    spare: [String; 2],
    /// Two outgoing fees to ignore, and one ignored in advance to restore.
    fees: [String; 3],
    /// Manual matches of `spare` to inv-4, to unmatch.
    matches: [String; 2],
    /// inv-1, inv-3 (open, for matching).
    invoices: [String; 2],
    /// Two keyword rules, to delete.
    rules: [String; 2],
    /// Webhook endpoints: two to update and rotate, two to delete.
    endpoints: [String; 4],
}

#[derive(Clone, Copy, PartialEq)]
enum Caller {
    WriteOnly,
    ReadWrite,
}

/// The arguments (and variable definitions) of each mutation; a new mutation must be added here.
fn call(name: &str, w: &World, who: Caller) -> (String, String, Value) {
    let today = w.l.clock_now().date_naive().to_string();
    let invoice = |ext: &str, number: &str, total: &str| {
        json!({"externalId": ext, "kind": "SALES_INVOICE", "number": number, "currency": "EUR",
               "total": total, "issueDate": today})
    };
    let i = usize::from(who == Caller::ReadWrite);
    let (defs, args, vars) = match name {
        "matchTransaction" => (
            "($t: ID!, $i: ID!)",
            "(input: {transactionId: $t, invoiceId: $i, amount: \"1.00\"})",
            json!({"t": w.spare[i], "i": w.invoices[1]}),
        ),
        "unmatchTransaction" => (
            "($m: ID!)",
            "(input: {matchId: $m, reason: \"scopes\"})",
            json!({"m": w.matches[i]}),
        ),
        "dismissSuggestion" => (
            "($t: ID!, $i: ID!)",
            "(input: {transactionId: $t, invoiceId: $i})",
            json!({"t": w.spare[i], "i": w.invoices[0]}),
        ),
        "ignoreTransaction" => (
            "($t: ID!)",
            "(input: {transactionId: $t, reason: \"fees\"})",
            json!({"t": w.fees[i]}),
        ),
        // The second call finds it restored already: a user error, and the payload still answers.
        "restoreTransaction" => (
            "($t: ID!)",
            "(input: {transactionId: $t})",
            json!({"t": w.fees[2]}),
        ),
        "createIgnoreRule" => (
            "($k: String!)",
            "(input: {keyword: $k, direction: OUTGOING, reason: \"scopes\"})",
            json!({"k": format!("scope rule {i}")}),
        ),
        "deleteIgnoreRule" => ("($r: ID!)", "(input: {id: $r})", json!({"r": w.rules[i]})),
        "updateReconciliationSettings" => (
            "",
            "(input: {matchTolerance: \"0.02\", referenceStyle: OGM})",
            json!({}),
        ),
        "createWebhookEndpoint" => (
            "($u: String!)",
            "(input: {url: $u, eventTypes: [\"invoice.paid\"], rateLimitPerSecond: 5})",
            json!({"u": format!("https://127.0.0.1/scopes/{i}")}),
        ),
        "updateWebhookEndpoint" => (
            "($e: ID!)",
            "(input: {id: $e, description: \"scopes\", enabled: false})",
            json!({"e": w.endpoints[i]}),
        ),
        "rotateWebhookSecret" => (
            "($e: ID!)",
            "(input: {id: $e})",
            json!({"e": w.endpoints[i]}),
        ),
        // Deleted last of the endpoint calls (mutations run in schema order): the others' ids stay.
        "deleteWebhookEndpoint" => (
            "($e: ID!)",
            "(input: {id: $e})",
            json!({"e": w.endpoints[2 + i]}),
        ),
        "upsertInvoices" => (
            "($items: [InvoiceInput!]!)",
            "(input: {invoices: $items})",
            json!({"items": [invoice("inv-1", "2026-0001", "12.10"), invoice("inv-9", "2026-0009", "5.00"),
                             invoice("bad", "2026-0010", "0")]}),
        ),
        "voidInvoice" => ("", "(input: {externalId: \"inv-9\"})", json!({})),
        "connectPonto" => (
            "",
            "(input: {returnUrl: \"https://app.example/\", reconnect: true})",
            json!({}),
        ),
        "disconnectPonto" => ("", "(input: {reason: \"scopes test\"})", json!({})),
        "requestReauthorization" => (
            "($a: ID!)",
            "(input: {accountId: $a, returnUrl: \"https://app.example/\"})",
            json!({"a": w.accounts[0]}),
        ),
        "syncNow" => (
            "($a: ID!)",
            "(input: {accountId: $a, customerIpAddress: \"203.0.113.9\"})",
            json!({"a": w.accounts[if who == Caller::WriteOnly { 1 } else { 2 }]}),
        ),
        "retryInboundEvents" => (
            "($s: DateTime!)",
            "(input: {since: $s})",
            json!({"s": (w.l.clock_now() - Duration::days(1)).to_rfc3339()}),
        ),
        other => panic!("no call for mutation `{other}`: add one to tests/api/scopes.rs"),
    };
    (defs.to_owned(), args.to_owned(), vars)
}

async fn world() -> World {
    let l = Linked::start(&["--webhook-allowed-targets", "127.0.0.1/32"]).await;
    let ponto_org = l.sb.org("Scopes BV").await;
    // Expiring soon, so accounts carry a problem and `BankProblem` is reached.
    let soon = (l.clock_now() + Duration::days(5)).to_rfc3339();
    let mut sandbox_accounts = Vec::new();
    for (i, iban) in ["BE68539007547034", "BE71096123456769", "BE43068999999501"]
        .iter()
        .enumerate()
    {
        let acc =
            l.sb.account(
                &ponto_org,
                json!({"reference": iban, "authorizationExpirationExpectedAt": soon}),
            )
            .await;
        l.sb.transactions(
            &acc,
            json!([{"amount": "12.10", "remittanceInformation": format!("2026-0001 #{i}")},
                                        {"amount": "-3.00", "remittanceInformation": "fee"}]),
        )
        .await;
        sandbox_accounts.push(acc);
    }
    // Names inv-3 with another amount: a suggestion, so payloads reach `MatchSuggestion`.
    l.sb.transactions(
        &sandbox_accounts[0],
        json!([{"amount": "50.00", "remittanceInformation": "2026-0003 in part"}]),
    )
    .await;
    let token = l.token("acme");
    let refs: Vec<&str> = sandbox_accounts.iter().map(String::as_str).collect();
    assert!(
        l.connect(&token, &ponto_org, &refs, true, false)
            .await
            .ends_with("ponto_status=CONNECTED")
    );
    // The first import runs as soon as the link commits; wait for all seven transactions.
    l.reads_settled("acme").await;
    crate::support::wait_until(
        std::time::Duration::from_secs(15),
        "the first import",
        || async { l.transactions(&token, false).await.len() == 7 },
    )
    .await;

    let q = "{ bankAccounts { edges { node { id reference transactions { edges { node { id amount { amount } } } } } } } }";
    let data = l.app.gql_data(&token, q, json!({})).await;
    let mut by_ref: HashMap<String, (String, Vec<(String, String)>)> = HashMap::new();
    for e in data["bankAccounts"]["edges"].as_array().unwrap() {
        let n = &e["node"];
        let txs = n["transactions"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["node"]["id"].as_str().unwrap().to_owned(),
                    t["node"]["amount"]["amount"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        by_ref.insert(
            n["reference"].as_str().unwrap().to_owned(),
            (n["id"].as_str().unwrap().to_owned(), txs),
        );
    }
    let accounts: Vec<String> = ["BE68539007547034", "BE71096123456769", "BE43068999999501"]
        .iter()
        .map(|r| by_ref[*r].0.clone())
        .collect();

    // inv-1, paid by the first account's incoming transaction, so payloads reach PaymentMatch.
    let m = "mutation($i: [InvoiceInput!]!) { upsertInvoices(input: {invoices: $i}) { invoices { id } userErrors { code } } }";
    let today = l.clock_now().date_naive().to_string();
    let data = l
        .app
        .gql_data(
            &token,
            m,
            json!({"i": [{"externalId": "inv-1", "kind": "SALES_INVOICE", "number": "2026-0001",
        "currency": "EUR", "total": "12.10", "issueDate": today}]}),
        )
        .await;
    let invoice = data["upsertInvoices"]["invoices"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{data}"));
    // The engine pays it from one of the three "2026-0001" transactions as the upsert commits.
    let q = "query($id: ID!) { node(id: $id) { ... on Invoice { status matches { rule } } } }";
    let paid = l.app.gql_data(&token, q, json!({"id": invoice})).await;
    assert_eq!(
        paid["node"],
        json!({"status": "PAID", "matches": [{"rule": "INVOICE_NUMBER"}]}),
    );
    let token_id = |v: &Value, path: &[&str]| -> String {
        let mut x = v;
        for p in path {
            x = match p.parse::<usize>() {
                Ok(i) => &x[i],
                Err(_) => &x[*p],
            };
        }
        x.as_str()
            .unwrap_or_else(|| panic!("{path:?} in {v}"))
            .to_owned()
    };
    let inv3 = l
        .app
        .gql_data(
            &token,
            m,
            json!({"i": [{"externalId": "inv-3", "kind": "SALES_INVOICE", "number": "2026-0003",
        "currency": "EUR", "total": "100.00", "issueDate": today},
        {"externalId": "inv-4", "kind": "SALES_INVOICE", "number": "2026-0004",
        "currency": "EUR", "total": "100.00", "issueDate": today}]}),
        )
        .await;
    let inv4 = token_id(&inv3, &["upsertInvoices", "invoices", "1", "id"]);
    let inv3 = token_id(&inv3, &["upsertInvoices", "invoices", "0", "id"]);
    // Every transaction of the three accounts, by amount.
    let all: Vec<(String, String)> = by_ref.values().flat_map(|(_, t)| t.clone()).collect();
    let q =
        "query($id: ID!) { node(id: $id) { ... on Invoice { matches { transaction { id } } } } }";
    let taken = l.app.gql_data(&token, q, json!({"id": invoice})).await;
    let taken = token_id(&taken, &["node", "matches", "0", "transaction", "id"]);
    let spare: Vec<String> = all
        .iter()
        .filter(|(id, amount)| amount == "12.10" && *id != taken)
        .map(|(id, _)| id.clone())
        .collect();
    let fees: Vec<String> = all
        .iter()
        .filter(|(_, amount)| amount == "-3.00")
        .map(|(id, _)| id.clone())
        .collect();
    let mut matches = Vec::new();
    for t in &spare {
        let m = "mutation($t: ID!, $i: ID!) { matchTransaction(input: {transactionId: $t, invoiceId: $i, amount: \"1.00\"}) { match { id } userErrors { code } } }";
        let done = l.app.gql_data(&token, m, json!({"t": t, "i": inv4})).await;
        matches.push(token_id(&done, &["matchTransaction", "match", "id"]));
    }
    let m = "mutation($t: ID!) { ignoreTransaction(input: {transactionId: $t}) { userErrors { code } } }";
    let done = l.app.gql_data(&token, m, json!({"t": fees[2]})).await;
    assert_eq!(done["ignoreTransaction"]["userErrors"], json!([]), "{done}");
    let mut rules = Vec::new();
    for k in ["to delete 0", "to delete 1"] {
        let m = "mutation($k: String!) { createIgnoreRule(input: {keyword: $k}) { ignoreRule { id } } }";
        let done = l.app.gql_data(&token, m, json!({"k": k})).await;
        rules.push(token_id(&done, &["createIgnoreRule", "ignoreRule", "id"]));
    }
    let mut endpoints = Vec::new();
    for n in 0..4 {
        let m =
            "mutation($u: String!) { createWebhookEndpoint(input: {url: $u}) { endpoint { id } } }";
        let u = format!("https://127.0.0.1/seeded/{n}");
        let done = l.app.gql_data(&token, m, json!({"u": u})).await;
        endpoints.push(token_id(
            &done,
            &["createWebhookEndpoint", "endpoint", "id"],
        ));
    }
    World {
        l,
        accounts,
        spare: spare.try_into().expect("two spare payments"),
        fees: fees.try_into().expect("three fees"),
        matches: matches.try_into().unwrap(),
        invoices: [invoice.to_owned(), inv3],
        rules: rules.try_into().unwrap(),
        endpoints: endpoints.try_into().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_only_token_sees_ids_and_statuses_in_payloads_and_no_tenant_data() {
    let w = world().await;
    let schema = Schema::fetch(&w.l.app).await;
    let mut mutations: Vec<&Field> = schema.mutations().iter().collect();
    // Unlinking last: the others need the link.
    mutations.sort_by_key(|f| f.name == "disconnectPonto");
    let (mut expected_types, mut seen_types) = (BTreeSet::new(), BTreeSet::new());
    for m in mutations {
        let mut doc = Doc {
            schema: &schema,
            selected: vec![],
            types: BTreeSet::new(),
        };
        let payload = m.ty.named();
        let sel = doc.selection(payload, &[], &[payload.to_owned()], Position::Payload);
        expected_types.extend(doc.types.iter().cloned());
        // Webhook endpoints are the `admin` scope's data: its own token reads all of them.
        if ponto_bridge::graphql::authz::ADMIN_DATA_ROOTS.contains(&m.name.as_str()) {
            for s in &mut doc.selected {
                s.vis = Vis::Visible;
                s.reached = true;
            }
        }

        // The mutation's own scope without `read`, then with it (`write`, or `admin`).
        let scope =
            crate::surface::call(&format!("mutation.{}", m.name)).map_or(Scope::Write, |c| c.scope);
        let write_only = w.l.app.token("acme", &[scope]);
        let read_write = w.l.app.token("acme", &[Scope::Read, scope]);
        let (defs, args, vars) = call(&m.name, &w, Caller::WriteOnly);
        let query = format!("mutation{defs} {{ {}{args} {{ {sel} }} }}", m.name);
        let body = w.l.app.gql(&write_only, &query, vars).await;
        let data = &body["data"][&m.name];
        assert!(
            data.is_object(),
            "{}: the mutation ran for a write-only token: {body}",
            m.name
        );

        // Every error is FORBIDDEN, on a field the rule forbids and that was reached.
        let errors = body["errors"].as_array().cloned().unwrap_or_default();
        for e in &errors {
            assert_eq!(e["extensions"]["code"], "FORBIDDEN", "{}: {e}", m.name);
            let path = error_path(e);
            assert!(
                doc.selected
                    .iter()
                    .any(|s| s.path == path[1..] && s.vis == Vis::Forbidden && s.reached),
                "{}: FORBIDDEN on a field the rule allows: {path:?}",
                m.name
            );
        }
        for s in &doc.selected {
            let (parent, field) = s.path.split_at(s.path.len() - 1);
            for obj in instances(data, parent) {
                let present = obj.get(&field[0]);
                match (s.vis, s.reached) {
                    // Outside the pinned list: FORBIDDEN there, and no value.
                    (Vis::Forbidden, true) => {
                        assert!(
                            present.is_none_or(Value::is_null),
                            "{}: {:?} leaked: {obj}",
                            m.name,
                            s.path
                        );
                        assert!(
                            errors.iter().any(|e| error_path(e)[1..] == s.path[..]),
                            "{}: {:?} did not answer FORBIDDEN: {body}",
                            m.name,
                            s.path
                        );
                    }
                    // The pinned fields answer (ids and statuses may be null, never missing).
                    (Vis::Visible, true) if !s.object => {
                        assert!(
                            present.is_some(),
                            "{}: {:?} missing: {body}",
                            m.name,
                            s.path
                        )
                    }
                    _ => {}
                }
            }
        }

        let (_, _, vars) = call(&m.name, &w, Caller::ReadWrite);
        let body = w.l.app.gql(&read_write, &query, vars).await;
        assert!(body["errors"].is_null(), "{}: read write: {body}", m.name);
        typenames(&body["data"], &mut seen_types);
    }
    let unreached: Vec<&String> = expected_types.difference(&seen_types).collect();
    assert!(
        unreached.is_empty(),
        "types never reached with data (seed them): {unreached:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alias_shared_with_an_admin_root_reads_nothing_more() {
    let w = world().await;
    // The same response key on an admin root and on a write mutation (allowed in a fragment):
    // `admin` reads the endpoint's types, never the transaction or invoice behind the other.
    let doc = "mutation($e: ID!, $t: ID!, $i: ID!) {
        a: rotateWebhookSecret(input: {id: $e}) { userErrors { code } }
        ... on Mutation { a: matchTransaction(input: {transactionId: $t, invoiceId: $i, amount: \"1.00\"}) {
            transaction { amount { amount } } invoice { number } } } }";
    let app = &w.l.app;
    let run = |scopes: &[Scope], t: usize| {
        let token = app.token("acme", scopes);
        let vars = json!({"e": w.endpoints[0], "t": w.spare[t], "i": w.invoices[1]});
        async move { app.gql(&token, doc, vars).await }
    };
    let body = run(&[Scope::Admin, Scope::Write], 0).await;
    let text = body.to_string();
    assert!(
        !text.contains("2026-0003") && !text.contains("12.10"),
        "{body}"
    );
    // Positive control: with `read`, the same document shows them.
    let body = run(&[Scope::Admin, Scope::Write, Scope::Read], 1).await;
    let text = body.to_string();
    assert!(
        text.contains("2026-0003") && text.contains("12.10"),
        "{body}"
    );
}
