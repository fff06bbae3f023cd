//! Owns the GraphQL API: schema roots, output types built from domain types, guards, limits and
//! the error policy. Knows nothing of HTTP; `http` hands it a request and a `Principal`.
//!
//! Conventions: an output type is a `SimpleObject` built `From` its store record; a relation is
//! a `Related` field (loaded only when selected); `#[ComplexObject]` is only for fields with
//! arguments (connections). Rust types carry their GraphQL names; the records they are built
//! from are referred to by path or as `Record`. Resolvers reach everything through
//! `ContextExt` and only translate: the work is in the services (`Connect`, `Puller`,
//! `Invoices`).

pub mod authz;
mod bank;
mod connect;
mod deliveries;
pub mod errors;
mod events;
pub mod ids;
mod invoice_input;
mod invoices;
pub mod limits;
mod loaders;
mod manual;
mod matches;
mod node;
mod related;
mod scalars;
mod settings;
mod subscriptions;
mod suggestions;
mod sync;
mod transactions;
mod viewer;
mod webhooks;

use crate::domain::ids::OrganizationId;
use crate::domain::scope::Scope;
use crate::error::AppError;
use crate::store::Store;
use crate::store::page::{DEFAULT_PAGE, MAX_PAGE};
use async_graphql::{Context, MergedObject, Schema};
use authz::ReadPolicy;
pub use authz::RequireScope;
use errors::{ErrorPolicy, GqlError, GqlResult};
pub use limits::Limits;
use limits::LimitsExtension;
pub use loaders::Loaders;
use std::collections::BTreeSet;

#[derive(MergedObject, Default)]
pub struct Query(
    viewer::ViewerQuery,
    bank::BankQuery,
    transactions::TransactionsQuery,
    invoices::InvoicesQuery,
    suggestions::SuggestionsQuery,
    settings::SettingsQuery,
    webhooks::WebhooksQuery,
    deliveries::DeliveriesQuery,
    events::EventsQuery,
    node::NodeQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    invoices::InvoicesMutation,
    manual::ManualMutation,
    settings::SettingsMutation,
    webhooks::WebhooksMutation,
    deliveries::DeliveriesMutation,
    connect::ConnectMutation,
    sync::SyncMutation,
);

pub use subscriptions::Subscription;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// The schema with its limits and error policy; `store` is reachable from every resolver.
/// What resolvers reach through the context.
pub struct Services {
    pub store: Store,
    pub connect: crate::connect::Connect,
    pub puller: crate::pull::Puller,
    pub invoices: crate::invoices::Invoices,
    pub endpoints: crate::outbound::Endpoints,
    pub hub: crate::live::Hub,
}

pub fn build_schema(services: Option<Services>, limits: &Limits) -> AppSchema {
    let mut builder = Schema::build(Query::default(), Mutation::default(), Subscription)
        .extension(ErrorPolicy)
        .extension(LimitsExtension(limits.clone()))
        .extension(ReadPolicy::default());
    if !limits.introspection {
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some(s) = services {
        builder = builder
            .data(s.store)
            .data(s.connect)
            .data(s.puller)
            .data(s.invoices)
            .data(s.endpoints)
            .data(s.hub);
    }
    builder.finish()
}

/// The schema in SDL, as served (`print-schema`, and the drift test against `schema.graphql`).
pub fn sdl() -> String {
    build_schema(None, &Limits::default())
        .sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub organization_id: OrganizationId,
    /// The organization claim's value (the accounting product's own id for the tenant).
    pub organization: String,
    /// The token's `org_name` claim: the organization's display name, when given.
    pub organization_name: Option<String>,
    pub subject: Option<String>,
    pub scopes: BTreeSet<Scope>,
}

impl Principal {
    /// Who did it, for audit columns.
    pub fn actor(&self) -> String {
        self.subject
            .as_deref()
            .map_or_else(|| "token".to_owned(), crate::reconcile::manual::actor_name)
    }
}

/// The one way resolvers reach what they need from the context.
pub trait ContextExt<'a> {
    /// The caller, or UNAUTHENTICATED.
    fn principal(&self) -> GqlResult<&'a Principal>;
    /// The request's tenant-scoped data loaders (present whenever a caller is authenticated).
    fn loaders(&self) -> GqlResult<&'a Loaders>;
    fn store(&self) -> GqlResult<&'a Store>;
    fn connect(&self) -> GqlResult<&'a crate::connect::Connect>;
    fn puller(&self) -> GqlResult<&'a crate::pull::Puller>;
    fn invoices(&self) -> GqlResult<&'a crate::invoices::Invoices>;
    fn endpoints(&self) -> GqlResult<&'a crate::outbound::Endpoints>;
    fn hub(&self) -> GqlResult<&'a crate::live::Hub>;
}

/// A service the schema was built without (only `print-schema` does): an internal error.
fn service<'a, T: Send + Sync + 'static>(ctx: &Context<'a>) -> GqlResult<&'a T> {
    ctx.data_opt::<T>().ok_or_else(|| {
        AppError::internal(format!(
            "{} missing from the schema",
            std::any::type_name::<T>()
        ))
        .into()
    })
}

impl<'a> ContextExt<'a> for Context<'a> {
    fn principal(&self) -> GqlResult<&'a Principal> {
        self.data_opt::<Principal>()
            .ok_or_else(GqlError::unauthenticated)
    }

    fn loaders(&self) -> GqlResult<&'a Loaders> {
        self.data_opt::<Loaders>()
            .ok_or_else(GqlError::unauthenticated)
    }

    fn store(&self) -> GqlResult<&'a Store> {
        service(self)
    }

    fn connect(&self) -> GqlResult<&'a crate::connect::Connect> {
        service(self)
    }

    fn puller(&self) -> GqlResult<&'a crate::pull::Puller> {
        service(self)
    }

    fn invoices(&self) -> GqlResult<&'a crate::invoices::Invoices> {
        service(self)
    }

    fn endpoints(&self) -> GqlResult<&'a crate::outbound::Endpoints> {
        service(self)
    }

    fn hub(&self) -> GqlResult<&'a crate::live::Hub> {
        service(self)
    }
}

/// `first` of a page: `default` when omitted, refused outside 0 to `max`.
pub fn page_size(first: Option<i32>, default: usize, max: usize) -> Result<usize, AppError> {
    match first {
        None => Ok(default),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| AppError::bad_input(format!("`first` is 0 to {max}"))),
    }
}

/// Complexity of a paginated field: its page size times the cost of one node.
pub fn page_complexity(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let n = first
        .or(last)
        .map_or(DEFAULT_PAGE, |n| n.clamp(0, MAX_PAGE as i32) as u64);
    // Saturating, and capped far below usize::MAX: nested lists multiply, and async-graphql adds
    // these up with plain `+`.
    (n as usize)
        .saturating_mul(child_complexity)
        .saturating_add(1)
        .min(u32::MAX as usize)
}
