//! Owns how errors reach GraphQL clients: every error carries `extensions.code`, internal
//! causes are logged and masked, and request-shape problems (parse, validation) get their own
//! codes before anything executes (the limits themselves: `limits`).
//!
//! async-graphql turns any `Display` error into a code-less error with its text (ARCHITECTURE.md,
//! trap 6), so resolvers return [`GqlError`], which is deliberately not `Display`; and the
//! [`ErrorPolicy`] extension masks whatever still arrives without a code.

use crate::domain::scope::Scope;
use crate::error::{AppError, ErrorCode};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    ErrorExtensions, Response, ServerError, ServerResult, ValidationResult, Variables,
};
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

    /// A field past the root the caller's scopes do not cover.
    pub fn forbidden_field(ty: &str, field: &str, scope: Scope) -> Self {
        AppError::Forbidden(format!(
            "Reading `{ty}.{field}` requires the `{}` scope.",
            scope.as_str()
        ))
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
            if let Some(secs) = e.retry_after_secs() {
                ext.set("retryAfter", secs);
            }
            if let AppError::BadUserInput {
                field: Some(field), ..
            } = &e
            {
                ext.set("field", field.clone());
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

/// Sets `code` on an error that has none.
pub fn with_code(mut e: ServerError, code: &str) -> ServerError {
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

/// Schema extension applying the error policy.
pub struct ErrorPolicy;

impl ExtensionFactory for ErrorPolicy {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorPolicy)
    }
}

#[async_trait::async_trait]
impl Extension for ErrorPolicy {
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
                tracing::error!(message = %crate::error::Esc(&e.message), path = ?e.path, "unclassified GraphQL error masked as INTERNAL");
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
        // Parse errors and async-graphql's recursion and directive limits surface here.
        next.run(ctx, query, variables)
            .await
            .map_err(|e| with_code(e, PARSE_FAILED))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| with_code(e, VALIDATION_FAILED))
                .collect()
        })
    }
}
