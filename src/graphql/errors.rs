//! Owns how errors reach GraphQL clients: every error carries `extensions.code`, internal
//! causes are logged and masked, and request-shape problems (parse, validation, limits) get
//! their own codes before anything executes.
//!
//! async-graphql turns any `Display` error into a code-less error with its text (DESIGN.md
//! §9.6), so resolvers return [`GqlError`], which is deliberately not `Display`; and the
//! [`ErrorPolicy`] extension masks whatever still arrives without a code.

use crate::domain::scope::Scope;
use crate::error::{AppError, ErrorCode};
use crate::store::page::MAX_PAGE;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{
    ErrorExtensions, Response, ServerError, ServerResult, ValidationResult, Variables,
};
use async_graphql_value::{ConstValue, Value as AstValue};
use std::sync::Arc;

/// Codes for requests refused before execution (in addition to [`ErrorCode`]).
pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
pub const QUERY_TOO_DEEP: &str = "QUERY_TOO_DEEP";
pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
pub const TOO_MANY_ALIASES: &str = "TOO_MANY_ALIASES";

/// A resolver error, already converted (code set, internal cause logged and masked). Not
/// `Display`, so `?` cannot route it through async-graphql's text-leaking blanket conversion.
#[derive(Debug, Clone)]
pub struct GqlError(async_graphql::Error);

pub type GqlResult<T> = Result<T, GqlError>;

impl GqlError {
    pub fn unauthenticated() -> Self {
        AppError::Unauthenticated(
            "Authentication required: send Authorization: Bearer <token>.".into(),
        )
        .into()
    }

    pub fn forbidden(scope: Scope) -> Self {
        AppError::Forbidden(format!(
            "This operation requires the `{}` scope.",
            scope.as_str()
        ))
        .into()
    }
}

impl<E: Into<AppError>> From<E> for GqlError {
    fn from(e: E) -> Self {
        let e = e.into();
        e.log_if_internal();
        let err = async_graphql::Error::new(e.public_message()).extend_with(|_, ext| {
            ext.set("code", e.code().as_str());
            match &e {
                AppError::RateLimited {
                    retry_after_secs, ..
                } => ext.set("retryAfter", *retry_after_secs),
                AppError::BadUserInput {
                    field: Some(field), ..
                } => ext.set("field", field.clone()),
                _ => {}
            }
        });
        Self(err)
    }
}

impl From<GqlError> for async_graphql::Error {
    fn from(e: GqlError) -> Self {
        e.0
    }
}

fn with_code(mut e: ServerError, code: &str) -> ServerError {
    let has_code = e
        .extensions
        .as_ref()
        .is_some_and(|x| x.get("code").is_some());
    if !has_code {
        e.extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
    e
}

/// Schema extension applying the error policy and the alias limit.
pub struct ErrorPolicy {
    pub max_aliases: usize,
}

impl ExtensionFactory for ErrorPolicy {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorPolicyExt {
            max_aliases: self.max_aliases,
        })
    }
}

struct ErrorPolicyExt {
    max_aliases: usize,
}

#[async_trait::async_trait]
impl Extension for ErrorPolicyExt {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut resp = next.run(ctx).await;
        for e in &mut resp.errors {
            let has_code = e
                .extensions
                .as_ref()
                .is_some_and(|x| x.get("code").is_some());
            // Arguments are parsed when a field resolves, and async-graphql reports a bad one (a
            // Decimal given as a float, an unparsable date) without a code: an input error.
            // Classified here rather than in a per-field hook, which would cost every field.
            let bad_argument = e.message.starts_with("Failed to parse ")
                || e.message.starts_with("Invalid value for argument");
            if !has_code && bad_argument {
                e.extensions
                    .get_or_insert_with(Default::default)
                    .set("code", ErrorCode::BadUserInput.as_str());
            } else if !has_code {
                tracing::error!(message = %e.message, path = ?e.path, "unclassified GraphQL error masked as INTERNAL");
                e.message = AppError::internal("masked").public_message();
                e.extensions
                    .get_or_insert_with(Default::default)
                    .set("code", ErrorCode::Internal.as_str());
            }
        }
        resp
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next
            .run(ctx, query, variables)
            .await
            .map_err(|e| with_code(e, PARSE_FAILED))?;
        let (aliases, bad_page) = inspect(&doc, variables);
        if let Some(message) = bad_page {
            return Err(with_code(
                ServerError::new(message, None),
                ErrorCode::BadUserInput.as_str(),
            ));
        }
        if aliases > self.max_aliases {
            return Err(with_code(
                ServerError::new(
                    format!("Too many aliases: {aliases} (limit {}).", self.max_aliases),
                    None,
                ),
                TOO_MANY_ALIASES,
            ));
        }
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| {
                    let code = match e.message.as_str() {
                        "Query is nested too deep." => QUERY_TOO_DEEP,
                        "Query is too complex." => QUERY_TOO_COMPLEX,
                        _ => VALIDATION_FAILED,
                    };
                    with_code(e, code)
                })
                .collect()
        })
    }
}

/// What the request-shape checks need from a document: its alias count and the first page
/// argument (`first`/`last`, literal or variable) outside `0..=MAX_PAGE`.
fn inspect(doc: &ExecutableDocument, variables: &Variables) -> (usize, Option<String>) {
    fn page_size(v: &AstValue, variables: &Variables) -> Option<i64> {
        match v {
            AstValue::Number(n) => n.as_i64(),
            AstValue::Variable(name) => match variables.get(name) {
                Some(ConstValue::Number(n)) => n.as_i64(),
                _ => None,
            },
            _ => None,
        }
    }
    fn walk(
        set: &SelectionSet,
        variables: &Variables,
        aliases: &mut usize,
        bad: &mut Option<String>,
    ) {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    *aliases += usize::from(f.node.alias.is_some());
                    for (name, value) in &f.node.arguments {
                        let arg = name.node.as_str();
                        if (arg == "first" || arg == "last")
                            && bad.is_none()
                            && page_size(&value.node, variables)
                                .is_some_and(|n| !(0..=MAX_PAGE as i64).contains(&n))
                        {
                            *bad = Some(format!("`{arg}` must be between 0 and {MAX_PAGE}"));
                        }
                    }
                    walk(&f.node.selection_set.node, variables, aliases, bad);
                }
                Selection::InlineFragment(f) => {
                    walk(&f.node.selection_set.node, variables, aliases, bad)
                }
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    let (mut aliases, mut bad) = (0, None);
    for (_, op) in doc.operations.iter() {
        walk(
            &op.node.selection_set.node,
            variables,
            &mut aliases,
            &mut bad,
        );
    }
    for f in doc.fragments.values() {
        walk(
            &f.node.selection_set.node,
            variables,
            &mut aliases,
            &mut bad,
        );
    }
    (aliases, bad)
}
