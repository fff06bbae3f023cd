//! Owns the `viewer` query: who the caller is, for which organization, with which scopes.

use super::errors::GqlResult;
use super::{ContextExt, RequireScope, ids};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};

#[derive(Default)]
pub struct ViewerQuery;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::scope::Scope")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

/// The organization (tenant) a token acts for.
#[derive(SimpleObject)]
pub struct Organization {
    /// Opaque global id.
    id: ID,
    /// The organization claim of the token: the accounting product's own id for the tenant.
    external_id: String,
    name: Option<String>,
}

/// The authenticated caller.
#[derive(SimpleObject)]
pub struct Viewer {
    organization: Organization,
    /// The token's `sub` claim, when present.
    subject: Option<String>,
    scopes: Vec<Scope>,
}

#[Object]
impl ViewerQuery {
    /// The caller: organization, subject and scopes.
    #[graphql(guard = "RequireScope(crate::domain::scope::Scope::Read)")]
    async fn viewer(&self, ctx: &Context<'_>) -> GqlResult<Viewer> {
        let p = ctx.principal()?;
        let org = ctx.store()?.organization(p.organization_id).await?;
        Ok(Viewer {
            organization: Organization {
                id: ID(ids::encode("Organization", org.id.0)),
                external_id: org.external_id,
                name: org.name,
            },
            subject: p.subject.clone(),
            scopes: p.scopes.iter().copied().map(Scope::from).collect(),
        })
    }
}
