//! Scopes hold on every field, as a class: for every mutation listed by introspection, a document
//! reaching every object and connection of its payload. A `write`-only token gets FORBIDDEN on
//! every field outside the pinned list and no tenant data; the same document with `read write`
//! returns data, and every object type it names is seen (so the test proves it reached them).

use crate::schema_walk::{Field, Schema};
use crate::scopes_world::{Caller, call, world};
use ponto_bridge::domain::scope::Scope;
use serde_json::{Value, json};
use std::collections::BTreeSet;

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
