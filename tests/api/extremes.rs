//! Nothing a client sends can panic a request or reach the database as something one engine
//! refuses, as a class: every numeric, `Decimal`, `Date`, `String` and `ID` argument of the schema
//! (on any field, inside input objects and lists), found by introspection, is sent extreme
//! values (numbers at the ends of their range, years outside 0001–9999, text holding NUL). Each answer is a GraphQL response with a code, never a dropped connection or
//! an internal error.

use crate::schema_walk::{Schema, TypeRef};
use crate::seed::seed_org;
use crate::support::TestApp;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};

/// Extreme values by scalar, as GraphQL literals.
fn extremes(scalar: &str) -> &'static [&'static str] {
    match scalar {
        "Int" => &["2147483647", "-2147483647"],
        "Float" => &["1.7976931348623157e308", "-1.7976931348623157e308"],
        "Decimal" => &[
            "\"79228162514264337593543950335\"",
            "\"-79228162514264337593543950335\"",
            "\"-0.000000000000000000000000001\"",
        ],
        // Years one engine stores and the other refuses, or sorts differently.
        "Date" => &["\"-5000-01-01\"", "\"+10000-01-01\"", "\"0000-01-01\""],
        // PostgreSQL refuses NUL in text; SQLite would store it.
        "String" | "ID" => &["\"a\\u0000b\""],
        _ => &[],
    }
}

/// A number somewhere in a field's arguments: `arg.inputField.…`.
struct Position {
    owner: String,
    field: String,
    path: Vec<String>,
    scalar: String,
}

fn numeric_leaves(
    schema: &Schema,
    ty: &TypeRef,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, String)>,
    depth: usize,
) {
    let named = ty.named();
    let t = schema.ty(named);
    match t.kind.as_str() {
        "SCALAR" if !extremes(named).is_empty() => out.push((path.clone(), named.to_owned())),
        "INPUT_OBJECT" if depth < 4 => {
            for f in &t.input_fields {
                path.push(f.name.clone());
                numeric_leaves(schema, &f.ty, path, out, depth + 1);
                path.pop();
            }
        }
        _ => {}
    }
}

struct Literals {
    today: String,
    now: String,
}

impl Literals {
    /// A valid-looking value for a required input the test does not target.
    fn default(&self, schema: &Schema, name: &str, ty: &TypeRef) -> String {
        let named = ty.named();
        match (name, named) {
            ("currency", _) => "\"EUR\"".into(),
            ("returnUrl", _) => "\"https://app.example/\"".into(),
            ("customerIpAddress", _) => "\"203.0.113.1\"".into(),
            (_, "Int") => "1".into(),
            (_, "Float") => "1.0".into(),
            (_, "Decimal") => "\"1\"".into(),
            (_, "Boolean") => "false".into(),
            (_, "Date") => format!("\"{}\"", self.today),
            (_, "DateTime") => format!("\"{}\"", self.now),
            (_, "String" | "ID") => format!("\"extreme-{name}\""),
            _ => match schema.ty(named).kind.as_str() {
                "ENUM" => schema.ty(named).enum_values[0].clone(),
                "INPUT_OBJECT" => self.object(schema, named, None, ""),
                other => panic!("no default for {name}: {other} {named}"),
            },
        }
    }

    /// `ty` as a literal, with `extreme` at `target` (a path of input field names) if given.
    fn value(
        &self,
        schema: &Schema,
        name: &str,
        ty: &TypeRef,
        target: Option<&[String]>,
        extreme: &str,
    ) -> String {
        let inner = match ty.kind.as_str() {
            "NON_NULL" => {
                return self.value(schema, name, ty.of_type.as_ref().unwrap(), target, extreme);
            }
            "LIST" => {
                return format!(
                    "[{}]",
                    self.value(schema, name, ty.of_type.as_ref().unwrap(), target, extreme)
                );
            }
            _ => ty.named(),
        };
        match target {
            Some([]) => extreme.to_owned(),
            Some(_) => self.object(schema, inner, target, extreme),
            None => self.default(schema, name, ty),
        }
    }

    fn object(
        &self,
        schema: &Schema,
        ty: &str,
        target: Option<&[String]>,
        extreme: &str,
    ) -> String {
        let fields: Vec<String> = schema
            .ty(ty)
            .input_fields
            .iter()
            .filter_map(|f| {
                let on_target = target
                    .and_then(|t| t.split_first())
                    .filter(|(head, _)| **head == f.name);
                match on_target {
                    Some((_, rest)) => Some(format!(
                        "{}: {}",
                        f.name,
                        self.value(schema, &f.name, &f.ty, Some(rest), extreme)
                    )),
                    None if f.ty.non_null() => Some(format!(
                        "{}: {}",
                        f.name,
                        self.value(schema, &f.name, &f.ty, None, extreme)
                    )),
                    None => None,
                }
            })
            .collect();
        format!("{{{}}}", fields.join(", "))
    }
}

/// The shortest route from a root to each object type, through fields without required
/// arguments: type → (root, field names).
fn routes(schema: &Schema) -> HashMap<String, (String, Vec<String>)> {
    let mut out: HashMap<String, (String, Vec<String>)> = HashMap::new();
    for root in [&schema.query, &schema.mutation, &schema.subscription] {
        let mut queue = VecDeque::from([(root.clone(), vec![])]);
        while let Some((ty, path)) = queue.pop_front() {
            if out.contains_key(&ty) {
                continue;
            }
            out.insert(ty.clone(), (root.clone(), path.clone()));
            for f in &schema.ty(&ty).fields {
                let inner = f.ty.named();
                if schema.is_object(inner)
                    && !f.args.iter().any(|a| a.ty.non_null())
                    && !f.name.starts_with("__")
                {
                    let mut p = path.clone();
                    p.push(f.name.clone());
                    queue.push_back((inner.to_owned(), p));
                }
            }
        }
    }
    out
}

/// Codes in a response: `errors[].extensions.code` and any `userErrors[].code`.
fn codes(body: &Value) -> Vec<String> {
    fn user_errors(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Array(ues)) = m.get("userErrors") {
                    out.extend(
                        ues.iter()
                            .filter_map(|u| u["code"].as_str().map(str::to_owned)),
                    );
                }
                m.values().for_each(|v| user_errors(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| user_errors(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for e in body["errors"].as_array().into_iter().flatten() {
        let code = e["extensions"]["code"].as_str();
        assert!(code.is_some(), "an error without a code: {e}");
        out.extend(code.map(str::to_owned));
    }
    user_errors(&body["data"], &mut out);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn extreme_numbers_in_every_argument_get_an_answer_with_a_code() {
    let app = TestApp::start().await;
    // Data behind every list, so nested resolvers (and their filters) run.
    seed_org(&app.store, "acme").await;
    let token = app.full_token("acme");
    let schema = Schema::fetch(&app).await;
    let now = {
        use ponto_bridge::clock::Clock;
        app.clock.now()
    };
    let lit = Literals {
        today: now.date_naive().to_string(),
        now: now.to_rfc3339(),
    };

    let mut positions = Vec::new();
    for t in schema
        .types
        .values()
        .filter(|t| t.kind == "OBJECT" && !t.name.starts_with("__"))
    {
        for f in &t.fields {
            for a in &f.args {
                let mut leaves = Vec::new();
                numeric_leaves(&schema, &a.ty, &mut vec![a.name.clone()], &mut leaves, 0);
                positions.extend(leaves.into_iter().map(|(path, scalar)| Position {
                    owner: t.name.clone(),
                    field: f.name.clone(),
                    path,
                    scalar,
                }));
            }
        }
    }
    // A positive control: the walk finds the positions we know of.
    for known in [
        "Query.transactions.first",
        "Query.transactions.filter.amountMin",
        "Mutation.upsertInvoices.input.invoices.total",
        "BankAccount.transactions.last",
    ] {
        assert!(
            positions
                .iter()
                .any(|p| format!("{}.{}.{}", p.owner, p.field, p.path.join(".")) == known),
            "{known} not found by the walk"
        );
    }

    let routes = routes(&schema);
    let mut requests = 0;
    for p in &positions {
        let (root, route) = routes
            .get(&p.owner)
            .unwrap_or_else(|| panic!("{} is not reachable from a root", p.owner));
        let field = schema
            .ty(&p.owner)
            .fields
            .iter()
            .find(|f| f.name == p.field)
            .unwrap();
        let result = field.ty.named();
        let selection = if !schema.is_object(result) {
            String::new()
        } else if schema
            .ty(result)
            .fields
            .iter()
            .any(|f| f.name == "userErrors")
        {
            "{ __typename userErrors { code field } }".to_owned()
        } else {
            "{ __typename }".to_owned()
        };
        for extreme in extremes(&p.scalar) {
            let args: Vec<String> = field
                .args
                .iter()
                .filter_map(|a| {
                    if a.name == p.path[0] {
                        Some(format!(
                            "{}: {}",
                            a.name,
                            lit.value(&schema, &a.name, &a.ty, Some(&p.path[1..]), extreme)
                        ))
                    } else if a.ty.non_null() {
                        Some(format!(
                            "{}: {}",
                            a.name,
                            lit.value(&schema, &a.name, &a.ty, None, extreme)
                        ))
                    } else {
                        None
                    }
                })
                .collect();
            let mut doc = format!("{}({}) {selection}", p.field, args.join(", "));
            for step in route.iter().rev() {
                doc = format!("{step} {{ {doc} }}");
            }
            let (status, body) = if root == &schema.subscription {
                let doc = format!("subscription {{ {doc} }}");
                let body = crate::subscriptions::first_result(&app, &token, &doc, json!({})).await;
                (200, body)
            } else {
                let op = if root == &schema.mutation {
                    "mutation"
                } else {
                    "query"
                };
                let doc = format!("{op} {{ {doc} }}");
                app.gql_raw(Some(&token), &doc, json!({})).await
            };
            requests += 1;
            let codes = codes(&body);
            assert!(
                status == 200 && (body.get("data").is_some() || body.get("errors").is_some()),
                "{doc}: {status} {body}"
            );
            assert!(!codes.is_empty(), "{doc}: an answer without a code: {body}");
            assert!(!codes.iter().any(|c| c == "INTERNAL"), "{doc}: {body}");
        }
    }
    assert!(requests >= 20, "only {requests} requests");
    let data = app
        .gql_data(&token, "{ viewer { subject } }", json!({}))
        .await;
    assert_eq!(
        data["viewer"]["subject"], "tester",
        "the server still answers"
    );
}
