//! The OpenAPI checker behind the conformance tests: loads the vendored Ponto Connect document,
//! validates a JSON value against an operation's response schema (every property nullable, as
//! the document types nullable fields as `object`; documented errata skipped), and compares key
//! paths with the documented example. It first proves it accepts the document's own examples.

use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Known errors of the document, each with its evidence: (what is checked, JSON path, why).
/// A value at such a path is not type-checked. Add an entry only with evidence.
const ERRATA: &[(&str, &str, &str)] = &[
    // The usage resource is identified by its month ("2020-07", ponto-connect.md §4.7 and the
    // document's own example), while its schema declares `id` a uuid like every other resource.
    (
        "example of get /organizations/{organizationId}/usage/{month}",
        "$.data.id",
        "usage ids are months",
    ),
];

pub struct Spec {
    doc: Value,
}

impl Spec {
    pub fn load() -> Self {
        let text =
            std::fs::read_to_string(repo_path!("tests/fixtures/ponto/openapi.json")).unwrap();
        Self {
            doc: serde_json::from_str(&text).unwrap(),
        }
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.strip_prefix("#/components/schemas/").expect("local ref");
                self.resolve(&self.doc["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    pub fn operation(&self, path: &str, method: &str) -> &Value {
        let op = &self.doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is in the document");
        op
    }

    /// (schema, example) of an operation's success response.
    pub fn response(&self, path: &str, method: &str) -> (&Value, Value) {
        let op = self.operation(path, method);
        let (_, resp) = op["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.starts_with('2'))
            .unwrap();
        let content = &resp["content"]["application/json"];
        let example = match &content["example"] {
            Value::String(s) => serde_json::from_str(s).unwrap(),
            other => other.clone(),
        };
        (&content["schema"], example)
    }

    pub fn named(&self, name: &str) -> &Value {
        &self.doc["components"]["schemas"][name]
    }

    /// Type-checks `value` against `schema`, collecting every violation.
    fn check(
        &self,
        what: &str,
        schema: &Value,
        value: &Value,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        if value.is_null() || ERRATA.iter().any(|(w, p, _)| *w == what && *p == path) {
            return; // every property is nullable
        }
        let schema = self.resolve(schema);
        let ty = schema.get("type").and_then(Value::as_str);
        match ty {
            Some("object") => {
                let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                    return; // `object` without properties: how the document writes "nullable anything"
                };
                let Some(obj) = value.as_object() else {
                    errors.push(format!("{path}: expected an object, got {value}"));
                    return;
                };
                for req in schema
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let key = req.as_str().unwrap();
                    if !obj.contains_key(key) {
                        errors.push(format!("{path}: required `{key}` missing"));
                    }
                }
                for (k, v) in obj {
                    if let Some(s) = props.get(k) {
                        self.check(what, s, v, &format!("{path}.{k}"), errors);
                    }
                }
            }
            Some("array") => match value.as_array() {
                Some(items) => {
                    for (i, v) in items.iter().enumerate() {
                        self.check(what, &schema["items"], v, &format!("{path}[{i}]"), errors);
                    }
                }
                None => errors.push(format!("{path}: expected an array, got {value}")),
            },
            Some("string") => match value.as_str() {
                Some(s) => {
                    let ok = match schema.get("format").and_then(Value::as_str) {
                        Some("date-time") => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
                        Some("uuid") => uuid::Uuid::parse_str(s).is_ok(),
                        _ => true,
                    };
                    if !ok {
                        errors.push(format!("{path}: {s:?} is not a {}", schema["format"]));
                    }
                    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
                        && !allowed.iter().any(|a| a == value)
                    {
                        errors.push(format!("{path}: {s:?} not in {allowed:?}"));
                    }
                }
                None => errors.push(format!("{path}: expected a string, got {value}")),
            },
            Some("number") if !value.is_number() => {
                errors.push(format!("{path}: expected a number, got {value}"))
            }
            Some("integer") if !value.is_i64() && !value.is_u64() => {
                errors.push(format!("{path}: expected an integer, got {value}"))
            }
            Some("boolean") if !value.is_boolean() => {
                errors.push(format!("{path}: expected a boolean, got {value}"))
            }
            _ => {}
        }
    }

    pub fn assert_valid(&self, schema: &Value, value: &Value, what: &str) {
        let mut errors = Vec::new();
        self.check(what, schema, value, "$", &mut errors);
        assert!(
            errors.is_empty(),
            "{what} does not conform:\n{}",
            errors.join("\n")
        );
    }
}

/// Every key path of a JSON value (arrays: the paths of their first element).
fn key_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = format!("{prefix}.{k}");
                out.insert(p.clone());
                key_paths(v, &p, out);
            }
        }
        Value::Array(a) => {
            if let Some(first) = a.first() {
                key_paths(first, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

pub fn assert_example_keys(example: &Value, actual: &Value, what: &str) {
    let (mut want, mut got) = (BTreeSet::new(), BTreeSet::new());
    key_paths(example, "$", &mut want);
    key_paths(actual, "$", &mut got);
    let missing: Vec<_> = want.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "{what}: keys of the documented example missing from the sandbox's answer: {missing:?}"
    );
}

/// A sandbox answer conforms to the operation's schema and carries its example's keys.
pub fn conforms(spec: &Spec, path: &str, method: &str, body: &Value) {
    let (schema, example) = spec.response(path, method);
    spec.assert_valid(schema, body, &format!("{method} {path}"));
    assert_example_keys(&example, body, &format!("{method} {path}"));
}

#[test]
fn the_checker_accepts_the_documents_own_examples() {
    let spec = Spec::load();
    let mut checked = 0;
    for (path, methods) in spec.doc["paths"].as_object().unwrap() {
        for method in methods
            .as_object()
            .unwrap()
            .keys()
            .filter(|m| ["get", "post", "patch", "delete"].contains(&m.as_str()))
        {
            let (schema, example) = spec.response(path, method);
            if example.is_null() {
                continue;
            }
            spec.assert_valid(schema, &example, &format!("example of {method} {path}"));
            checked += 1;
        }
    }
    assert!(checked >= 25, "examples checked: {checked}");
    // And it rejects what is wrong.
    let mut errors = Vec::new();
    spec.check(
        "negative",
        spec.named("account_single"),
        &json!({"data": {"type": "account", "attributes": {"currentBalance": "12"}}}),
        "$",
        &mut errors,
    );
    assert_eq!(errors.len(), 2, "{errors:?}"); // `id` required, balance not a number
}
