//! The schema as the server describes it by introspection, for tests that cover a rule as a
//! class: every mutation payload, every numeric argument. A type or field added later is walked
//! without anyone remembering to.

use crate::support::TestApp;
use serde_json::{Value, json};
use std::collections::HashMap;

const TYPE_REF: &str =
    "kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// A type reference: `[Invoice!]!` is NON_NULL(LIST(NON_NULL(Invoice))).
#[derive(Debug, Clone)]
pub struct TypeRef {
    pub kind: String,
    pub name: Option<String>,
    pub of_type: Option<Box<TypeRef>>,
}

impl TypeRef {
    fn parse(v: &Value) -> Self {
        Self {
            kind: v["kind"].as_str().unwrap().to_owned(),
            name: v["name"].as_str().map(str::to_owned),
            of_type: (!v["ofType"].is_null()).then(|| Box::new(Self::parse(&v["ofType"]))),
        }
    }

    /// The named type under the wrappers.
    pub fn named(&self) -> &str {
        match &self.of_type {
            Some(inner) => inner.named(),
            None => self.name.as_deref().unwrap(),
        }
    }

    pub fn non_null(&self) -> bool {
        self.kind == "NON_NULL"
    }
}

#[derive(Debug, Clone)]
pub struct InputValue {
    pub name: String,
    pub ty: TypeRef,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ty: TypeRef,
    pub args: Vec<InputValue>,
}

#[derive(Debug, Clone)]
pub struct Type {
    pub kind: String,
    pub name: String,
    pub fields: Vec<Field>,
    pub input_fields: Vec<InputValue>,
    pub interfaces: Vec<String>,
    pub enum_values: Vec<String>,
}

pub struct Schema {
    pub types: HashMap<String, Type>,
    pub query: String,
    pub mutation: String,
    pub subscription: String,
}

fn inputs(v: &Value) -> Vec<InputValue> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|i| InputValue {
                    name: i["name"].as_str().unwrap().to_owned(),
                    ty: TypeRef::parse(&i["type"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

impl Schema {
    pub async fn fetch(app: &TestApp) -> Self {
        let q = format!(
            "{{ __schema {{ queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }} types {{ kind name
                fields {{ name type {{ {TYPE_REF} }} args {{ name type {{ {TYPE_REF} }} }} }}
                inputFields {{ name type {{ {TYPE_REF} }} }}
                interfaces {{ name }} enumValues {{ name }} }} }} }}"
        );
        let data = app
            .gql_data(&app.full_token("introspector"), &q, json!({}))
            .await;
        let s = &data["__schema"];
        assert!(s["types"].is_array(), "introspection answered: {data}");
        let types = s["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let fields = t["fields"]
                    .as_array()
                    .map(|fs| {
                        fs.iter()
                            .map(|f| Field {
                                name: f["name"].as_str().unwrap().to_owned(),
                                ty: TypeRef::parse(&f["type"]),
                                args: inputs(&f["args"]),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let ty = Type {
                    kind: t["kind"].as_str().unwrap().to_owned(),
                    name: t["name"].as_str().unwrap().to_owned(),
                    fields,
                    input_fields: inputs(&t["inputFields"]),
                    interfaces: names(&t["interfaces"]),
                    enum_values: names(&t["enumValues"]),
                };
                (ty.name.clone(), ty)
            })
            .collect();
        Self {
            types,
            query: s["queryType"]["name"].as_str().unwrap().to_owned(),
            mutation: s["mutationType"]["name"].as_str().unwrap().to_owned(),
            subscription: s["subscriptionType"]["name"].as_str().unwrap().to_owned(),
        }
    }

    pub fn ty(&self, name: &str) -> &Type {
        self.types
            .get(name)
            .unwrap_or_else(|| panic!("type {name}"))
    }

    pub fn is_object(&self, name: &str) -> bool {
        self.ty(name).kind == "OBJECT"
    }

    /// A Relay connection (`edges` and `pageInfo`).
    pub fn is_connection(&self, name: &str) -> bool {
        let t = self.ty(name);
        t.fields.iter().any(|f| f.name == "edges") && t.fields.iter().any(|f| f.name == "pageInfo")
    }

    pub fn is_node(&self, name: &str) -> bool {
        self.ty(name).interfaces.iter().any(|i| i == "Node")
    }

    pub fn mutations(&self) -> &[Field] {
        &self.ty(&self.mutation).fields
    }
}
