//! Owns the request-shape limits, enforced before any resolver (and so any SQL) runs: depth,
//! complexity and aliases counted as executed (a fragment counts at every spread, memoized per
//! fragment; cycles are refused), page sizes, and an introspection that standard tooling can
//! always send in full while a hostile one is still bounded.
//!
//! async-graphql's own depth and complexity limits count introspection fields, so the document
//! every tool sends (graphql-js `getIntrospectionQuery()`: nine nested `ofType`) is refused. We
//! measure ourselves instead: introspection fields count toward neither; they are bounded by
//! graphql-js's `MaxIntrospectionDepthRule` instead (at most two nested `fields`, `interfaces`,
//! `possibleTypes` or `inputFields`, the only introspection fields that fan out) and by a cap on
//! the selections an introspection expands to. Strings holding NUL are refused here too, as a
//! class (PostgreSQL refuses them in text; SQLite would store them).

use super::errors::{
    PARSE_FAILED, QUERY_TOO_COMPLEX, QUERY_TOO_DEEP, TOO_MANY_ALIASES, VALIDATION_FAILED, with_code,
};
use crate::error::ErrorCode;
use crate::store::page::MAX_PAGE;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Request, ServerError, ServerResult, ValidationResult};
use async_graphql_value::{ConstValue, Value as AstValue, Variables};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Request limits enforced before any resolver runs.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Deepest field nesting, introspection not counted.
    pub max_depth: usize,
    /// async-graphql complexity (a list field counts its page size times one node), introspection
    /// not counted. Also bounds how many selections a document may expand to.
    pub max_complexity: usize,
    /// Aliases as executed: a fragment's aliases count at every spread.
    pub max_aliases: usize,
    pub introspection: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 20_000,
            max_aliases: 30,
            introspection: true,
        }
    }
}

/// graphql-js `MaxIntrospectionDepthRule`: refused at this many nested fan-out fields.
const MAX_INTROSPECTION_LISTS: usize = 3;
/// Selections an introspection may expand to (`getIntrospectionQuery()` expands to about 250):
/// what bounds the work of an introspection, which counts toward neither depth nor complexity.
const MAX_INTROSPECTION_SELECTIONS: usize = 1_000;
/// Selection sets nested through fields and fragment spreads. The parser caps a document's own
/// nesting, but a chain of fragments nests without limit; this stack must stay bounded.
const MAX_NESTING: usize = 64;
const INTROSPECTION_LISTS: [&str; 4] = ["fields", "interfaces", "possibleTypes", "inputFields"];

fn is_introspection_root(name: &str) -> bool {
    name == "__schema" || name == "__type"
}

/// What the limits need to know of a selection set, fragments expanded. Every count saturates,
/// so a fragment bomb is measured (and refused) without overflowing or being walked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Aliased fields.
    pub aliases: usize,
    /// Fields, fragment spreads and inline fragments: the work of walking it once.
    pub selections: usize,
    /// Deepest nesting of fields, introspection fields excluded.
    pub depth: usize,
    /// Fields other than `__typename`: what async-graphql's complexity counts for a subtree
    /// without custom complexities (introspection).
    fields: usize,
    /// The part of async-graphql's complexity spent on introspection fields.
    pub introspection_complexity: usize,
    /// Deepest nesting of fan-out introspection fields below `__schema`/`__type`.
    pub introspection_lists: usize,
    /// Deepest nesting of fan-out fields anywhere (used when a fragment lands in introspection).
    lists: usize,
    /// Selections below `__schema`/`__type`.
    pub introspection_selections: usize,
}

impl Shape {
    fn add(&mut self, o: Shape) {
        self.aliases = self.aliases.saturating_add(o.aliases);
        self.selections = self.selections.saturating_add(o.selections);
        self.depth = self.depth.max(o.depth);
        self.fields = self.fields.saturating_add(o.fields);
        self.introspection_complexity = self
            .introspection_complexity
            .saturating_add(o.introspection_complexity);
        self.introspection_lists = self.introspection_lists.max(o.introspection_lists);
        self.lists = self.lists.max(o.lists);
        self.introspection_selections = self
            .introspection_selections
            .saturating_add(o.introspection_selections);
    }
}

/// Why a document is refused before validation.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    FragmentCycle(String),
    BadPageSize(String),
    /// Selection sets nested deeper than `MAX_NESTING` (through fragments).
    TooDeeplyNested,
    /// A string argument or variable holding a NUL character (PostgreSQL refuses them in text).
    NulCharacter,
}

enum Memo {
    InProgress,
    Done(Shape),
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    fragments: HashMap<&'a str, Memo>,
    refusal: Option<Refusal>,
    nesting: usize,
}

impl<'a> Walker<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Shape {
        if self.nesting >= MAX_NESTING {
            self.refusal.get_or_insert(Refusal::TooDeeplyNested);
            return Shape::default();
        }
        self.nesting += 1;
        let shape = self.items(set);
        self.nesting -= 1;
        shape
    }

    fn items(&mut self, set: &'a SelectionSet) -> Shape {
        let mut shape = Shape::default();
        for item in &set.items {
            if self.refusal.is_some() {
                break;
            }
            let mut one = Shape {
                selections: 1,
                ..Shape::default()
            };
            match &item.node {
                Selection::Field(f) => {
                    let field = &f.node;
                    let name = field.name.node.as_str();
                    self.check_arguments(field);
                    let children = self.selection_set(&field.selection_set.node);
                    one.aliases =
                        usize::from(field.alias.is_some()).saturating_add(children.aliases);
                    one.selections = one.selections.saturating_add(children.selections);
                    let fan_out = usize::from(INTROSPECTION_LISTS.contains(&name));
                    one.lists = children.lists.saturating_add(fan_out);
                    if name == "__typename" {
                        // async-graphql neither visits nor counts it.
                    } else if is_introspection_root(name) {
                        one.fields = children.fields.saturating_add(1);
                        one.introspection_complexity = one.fields;
                        one.introspection_lists = children.lists;
                        one.introspection_selections = one.selections;
                    } else {
                        one.fields = children.fields.saturating_add(1);
                        one.depth = children.depth.saturating_add(1);
                        one.introspection_complexity = children.introspection_complexity;
                        one.introspection_lists = children.introspection_lists;
                        one.introspection_selections = children.introspection_selections;
                    }
                }
                Selection::InlineFragment(f) => {
                    one.add(self.selection_set(&f.node.selection_set.node));
                }
                Selection::FragmentSpread(s) => {
                    one.add(self.fragment(s.node.fragment_name.node.as_str()));
                }
            }
            shape.add(one);
        }
        shape
    }

    /// A fragment's shape, computed once however often it is spread.
    fn fragment(&mut self, name: &'a str) -> Shape {
        match self.fragments.get(name) {
            Some(Memo::Done(shape)) => return *shape,
            Some(Memo::InProgress) => {
                self.refusal
                    .get_or_insert_with(|| Refusal::FragmentCycle(name.to_owned()));
                return Shape::default();
            }
            None => {}
        }
        // An unknown fragment is left to validation.
        let Some(def) = self.doc.fragments.get(name) else {
            return Shape::default();
        };
        self.fragments.insert(name, Memo::InProgress);
        let shape = self.selection_set(&def.node.selection_set.node);
        self.fragments.insert(name, Memo::Done(shape));
        shape
    }

    /// Literal arguments: no NUL in any string; `first`/`last`, literal or variable, within
    /// `0..=MAX_PAGE`.
    fn check_arguments(&mut self, field: &async_graphql::parser::types::Field) {
        for (name, value) in &field.arguments {
            if holds_nul(&value.node) {
                self.refusal.get_or_insert(Refusal::NulCharacter);
            }
            let arg = name.node.as_str();
            if arg != "first" && arg != "last" {
                continue;
            }
            let n = match &value.node {
                AstValue::Number(n) => n.as_i64(),
                AstValue::Variable(v) => match self.variables.get(v) {
                    Some(ConstValue::Number(n)) => n.as_i64(),
                    _ => None,
                },
                _ => None,
            };
            if n.is_some_and(|n| !(0..=MAX_PAGE as i64).contains(&n)) && self.refusal.is_none() {
                self.refusal = Some(Refusal::BadPageSize(format!(
                    "`{arg}` must be between 0 and {MAX_PAGE}"
                )));
            }
        }
    }
}

fn holds_nul(v: &AstValue) -> bool {
    match v {
        AstValue::String(s) => s.contains('\0'),
        AstValue::List(items) => items.iter().any(holds_nul),
        AstValue::Object(fields) => fields.values().any(holds_nul),
        _ => false,
    }
}

fn const_holds_nul(v: &ConstValue) -> bool {
    match v {
        ConstValue::String(s) => s.contains('\0'),
        ConstValue::List(items) => items.iter().any(const_holds_nul),
        ConstValue::Object(fields) => fields
            .iter()
            .any(|(k, v)| k.contains('\0') || const_holds_nul(v)),
        _ => false,
    }
}

/// Measures every operation of `doc` with its fragments expanded (each fragment walked once).
pub fn measure(doc: &ExecutableDocument, variables: &Variables) -> Result<Shape, Refusal> {
    if variables.values().any(const_holds_nul) {
        return Err(Refusal::NulCharacter);
    }
    let mut walker = Walker {
        doc,
        variables,
        fragments: HashMap::new(),
        refusal: None,
        nesting: 0,
    };
    let mut shape = Shape::default();
    for (_, op) in doc.operations.iter() {
        shape.add(walker.selection_set(&op.node.selection_set.node));
    }
    // Fragments never spread are still walked, for their page arguments and cycles.
    for name in doc.fragments.keys() {
        walker.fragment(name.as_str());
    }
    match walker.refusal {
        Some(r) => Err(r),
        None => Ok(shape),
    }
}

fn refuse(code: &str, message: String) -> ServerError {
    with_code(ServerError::new(message, None), code)
}

/// Schema extension enforcing [`Limits`].
pub struct LimitsExtension(pub Limits);

impl ExtensionFactory for LimitsExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsExt {
            limits: self.0.clone(),
            introspection_complexity: AtomicUsize::new(0),
        })
    }
}

/// One request's limits (extensions are created per request).
struct LimitsExt {
    limits: Limits,
    introspection_complexity: AtomicUsize,
}

#[async_trait::async_trait]
impl Extension for LimitsExt {
    /// Measures the document before async-graphql walks it at all: its own recursion check and
    /// validation expand fragments at every spread, so a fragment bomb must be refused first.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let doc = async_graphql::parser::parse_query(&request.query)
            .map_err(|e| with_code(e.into(), PARSE_FAILED))?;
        let shape = measure(&doc, &request.variables).map_err(|r| match r {
            Refusal::FragmentCycle(name) => refuse(
                VALIDATION_FAILED,
                format!("Fragment \"{name}\" spreads itself (a cycle)."),
            ),
            Refusal::BadPageSize(message) => refuse(ErrorCode::BadUserInput.as_str(), message),
            Refusal::TooDeeplyNested => refuse(
                QUERY_TOO_DEEP,
                format!("Selections are nested more than {MAX_NESTING} deep (through fragments)."),
            ),
            Refusal::NulCharacter => refuse(
                ErrorCode::BadUserInput.as_str(),
                "Text may not contain NUL characters.".to_owned(),
            ),
        })?;
        let l = &self.limits;
        if shape.selections > l.max_complexity {
            return Err(refuse(
                QUERY_TOO_COMPLEX,
                format!(
                    "The document expands to {} selections (limit {}).",
                    shape.selections, l.max_complexity
                ),
            ));
        }
        if shape.aliases > l.max_aliases {
            return Err(refuse(
                TOO_MANY_ALIASES,
                format!(
                    "Too many aliases: {} (limit {}).",
                    shape.aliases, l.max_aliases
                ),
            ));
        }
        if shape.depth > l.max_depth {
            return Err(refuse(
                QUERY_TOO_DEEP,
                format!(
                    "Query is nested too deep: {} (limit {}).",
                    shape.depth, l.max_depth
                ),
            ));
        }
        if shape.introspection_selections > MAX_INTROSPECTION_SELECTIONS {
            return Err(refuse(
                QUERY_TOO_COMPLEX,
                format!(
                    "The introspection expands to {} selections (limit {MAX_INTROSPECTION_SELECTIONS}).",
                    shape.introspection_selections
                ),
            ));
        }
        if shape.introspection_lists >= MAX_INTROSPECTION_LISTS {
            return Err(refuse(
                QUERY_TOO_DEEP,
                "Maximum introspection depth exceeded.".to_owned(),
            ));
        }
        self.introspection_complexity
            .store(shape.introspection_complexity, Ordering::Relaxed);
        // async-graphql reuses this parse instead of parsing again.
        request.set_parsed_query(doc);
        next.run(ctx, request).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let complexity = result
            .complexity
            .saturating_sub(self.introspection_complexity.load(Ordering::Relaxed));
        if complexity > self.limits.max_complexity {
            return Err(vec![refuse(
                QUERY_TOO_COMPLEX,
                format!(
                    "Query is too complex: {complexity} (limit {}).",
                    self.limits.max_complexity
                ),
            )]);
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests;
