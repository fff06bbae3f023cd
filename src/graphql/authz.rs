//! Owns who may read what. Root fields carry a [`RequireScope`] guard; every field past the root
//! is checked by the [`ReadPolicy`] extension against the scope tenant data needs (`read`), so a
//! type added later is covered without anyone remembering to guard it.
//!
//! A caller without `read` (a `write`-only token calling a mutation) still gets what its own call
//! produced and nothing behind it:
//! - `__typename` and `id` anywhere it can reach;
//! - on a mutation's payload: `userErrors`, the status fields ([`STATUS_FIELDS`]), and the fields
//!   leading to an object that is not a connection (to reach those ids and statuses);
//! - on an object such a field leads to: `id`, and the status fields too when the object is the
//!   mutation's own report (not a `Node`, e.g. `PontoSynchronization`);
//! - every field of `UserError` (its own input's faults).
//!
//! Everything else (connections, balances, amounts, problems, any new field) answers FORBIDDEN —
//! except on the types only the root fields whose data is the `admin` scope's lead to
//! ([`ADMIN_DATA_ROOTS`]: webhook endpoints, their secrets, the event log), which `admin` reads
//! as `read` reads the rest. Decided by the parent type, never by where a response key came
//! from: an alias cannot carry the exception into another root field's data.

use super::ContextExt;
use super::errors::GqlError;
use crate::domain::scope::Scope;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{
    Context, Guard, PathSegment, QueryPathSegment, ServerError, ServerResult, Value,
};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

/// The status fields a payload may show a caller without `read` (pinned).
pub const STATUS_FIELDS: [&str; 5] = [
    "status",
    "nextSyncAllowedAt",
    "expiresAt",
    "url",
    "requeued",
];

/// Root fields whose data belongs to the `admin` scope (webhook endpoints and the event log):
/// the types they lead to, `admin` reads as `read` does (pinned with their guards).
pub const ADMIN_DATA_ROOTS: [&str; 11] = [
    "webhookEndpoints",
    "webhookEndpoint",
    "webhookEventTypes",
    "events",
    "createWebhookEndpoint",
    "updateWebhookEndpoint",
    "deleteWebhookEndpoint",
    "rotateWebhookSecret",
    "sendTestWebhook",
    "redeliverWebhook",
    "recoverWebhookEndpoint",
];

/// Field guard: the caller is authenticated and holds `scope`.
pub struct RequireScope(pub Scope);

impl Guard for RequireScope {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let p = ctx.principal()?;
        if p.scopes.contains(&self.0) {
            Ok(())
        } else {
            Err(GqlError::forbidden(self.0).into())
        }
    }
}

/// Fields visible without `read`, by type, and the types `admin` reads in full, derived once
/// from the schema's registry.
#[derive(Debug)]
pub struct WriteVisible {
    fields: HashMap<String, HashSet<String>>,
    admin_types: HashSet<String>,
}

fn named(ty: &str) -> &str {
    MetaTypeName::concrete_typename(ty)
}

fn object_fields(registry: &Registry, name: &str) -> Option<Vec<(String, String)>> {
    match registry.types.get(name)? {
        MetaType::Object { fields, .. } => Some(
            fields
                .values()
                .map(|f| (f.name.clone(), named(&f.ty).to_owned()))
                .collect(),
        ),
        _ => None,
    }
}

/// A Relay connection: what it holds is reached through it, so it is never write-visible.
fn is_connection(registry: &Registry, name: &str) -> bool {
    object_fields(registry, name).is_some_and(|f| {
        f.iter().any(|(n, _)| n == "pageInfo") && f.iter().any(|(n, _)| n == "edges")
    })
}

/// A tenant record with a global id.
fn is_node(registry: &Registry, name: &str) -> bool {
    registry
        .implements
        .get(name)
        .is_some_and(|interfaces| interfaces.contains("Node"))
}

impl WriteVisible {
    /// Applies the rule in the module doc to the schema's mutation payloads.
    pub fn from_registry(registry: &Registry) -> Self {
        let mut visible: HashMap<String, HashSet<String>> = HashMap::new();
        let payloads: Vec<String> = registry
            .mutation_type
            .as_deref()
            .and_then(|m| object_fields(registry, m))
            .unwrap_or_default()
            .into_iter()
            .map(|(_, ty)| ty)
            .collect();
        for payload in payloads {
            let Some(fields) = object_fields(registry, &payload) else {
                continue;
            };
            for (name, ty) in fields {
                let leads_to_object =
                    object_fields(registry, &ty).is_some() && !is_connection(registry, &ty);
                if name == "userErrors" || STATUS_FIELDS.contains(&name.as_str()) || leads_to_object
                {
                    visible
                        .entry(payload.clone())
                        .or_default()
                        .insert(name.clone());
                }
                if !leads_to_object {
                    continue;
                }
                let Some(inner) = object_fields(registry, &ty) else {
                    continue;
                };
                let report = !is_node(registry, &ty);
                let all = ty == "UserError";
                for (inner_name, _) in inner {
                    if all || (report && STATUS_FIELDS.contains(&inner_name.as_str())) {
                        visible.entry(ty.clone()).or_default().insert(inner_name);
                    }
                }
            }
        }
        Self {
            fields: visible,
            admin_types: admin_types(registry),
        }
    }

    fn allows(&self, parent: &str, field: &str) -> bool {
        field == "id" || self.fields.get(parent).is_some_and(|f| f.contains(field))
    }
}

/// The object types reachable from the [`ADMIN_DATA_ROOTS`] fields of the three roots. Their
/// results hold nothing but endpoints, events and user errors; a field leading from them to
/// other tenant data would widen `admin` too, which the scope test would show.
fn admin_types(registry: &Registry) -> HashSet<String> {
    let roots = [
        Some(registry.query_type.as_str()),
        registry.mutation_type.as_deref(),
        registry.subscription_type.as_deref(),
    ];
    let mut todo: Vec<String> = roots
        .into_iter()
        .flatten()
        .filter_map(|r| object_fields(registry, r))
        .flatten()
        .filter(|(name, _)| ADMIN_DATA_ROOTS.contains(&name.as_str()))
        .map(|(_, ty)| ty)
        .collect();
    let mut seen = HashSet::new();
    while let Some(ty) = todo.pop() {
        let Some(fields) = object_fields(registry, &ty) else {
            continue;
        };
        if seen.insert(ty) {
            todo.extend(fields.into_iter().map(|(_, t)| t));
        }
    }
    seen
}

/// Schema extension enforcing the read rule on every field past the root.
#[derive(Default)]
pub struct ReadPolicy {
    visible: Arc<OnceLock<WriteVisible>>,
}

impl ExtensionFactory for ReadPolicy {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ReadPolicyExt {
            visible: self.visible.clone(),
            can_read: OnceLock::new(),
            can_admin: OnceLock::new(),
        })
    }
}

/// One request's policy (extensions are created per request).
struct ReadPolicyExt {
    visible: Arc<OnceLock<WriteVisible>>,
    /// Whether the caller holds `read`, looked up once per request.
    can_read: OnceLock<bool>,
    /// Whether the caller holds `admin`.
    can_admin: OnceLock<bool>,
}

impl ReadPolicyExt {
    fn holds(&self, ctx: &ExtensionContext<'_>, scope: Scope, cell: &OnceLock<bool>) -> bool {
        *cell.get_or_init(|| {
            ctx.data_opt::<super::Principal>()
                .is_some_and(|p| p.scopes.contains(&scope))
        })
    }
}

#[async_trait::async_trait]
impl Extension for ReadPolicyExt {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let can_read = self.holds(ctx, Scope::Read, &self.can_read);
        let registry = &ctx.schema_env.registry;
        let root = [
            Some(registry.query_type.as_str()),
            registry.mutation_type.as_deref(),
            registry.subscription_type.as_deref(),
        ]
        .contains(&Some(info.parent_type));
        // A list's items come through here too (parent `[T]`); the list field was checked.
        let list_item = info.parent_type.starts_with('[');
        if can_read || root || list_item || info.is_for_introspection || info.name.starts_with("__")
        {
            return next.run(ctx, info).await;
        }
        let visible = self
            .visible
            .get_or_init(|| WriteVisible::from_registry(registry));
        let admin_reads = || {
            visible.admin_types.contains(info.parent_type)
                && self.holds(ctx, Scope::Admin, &self.can_admin)
        };
        if visible.allows(info.parent_type, info.name) || admin_reads() {
            return next.run(ctx, info).await;
        }
        // The resolver's future is dropped unpolled: nothing behind the field is even loaded.
        let mut path: Vec<PathSegment> = std::iter::once(info.path_node)
            .chain(info.path_node.parents())
            .map(|n| match n.segment {
                QueryPathSegment::Name(name) => PathSegment::Field(name.to_owned()),
                QueryPathSegment::Index(i) => PathSegment::Index(i),
            })
            .collect();
        path.reverse();
        let error = async_graphql::Error::from(GqlError::forbidden_field(
            info.parent_type,
            info.name,
            Scope::Read,
        ))
        .into_server_error(info.field.name.pos);
        Err(ServerError { path, ..error })
    }
}
