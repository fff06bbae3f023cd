//! Owns outbound webhook endpoints in the API (scope `admin`): `webhookEndpoints`,
//! `webhookEndpoint`, and `createWebhookEndpoint` (pinned: `input {url, eventTypes,
//! description, rateLimitPerSecond}` → `{endpoint {id} secret userErrors}`),
//! `updateWebhookEndpoint` (also enables and disables), `deleteWebhookEndpoint`,
//! `rotateWebhookSecret`, translated to and from `outbound::endpoints`.

use super::errors::GqlResult;
use super::scalars::{UserError, answer, id_or_refuse, input_id, payloads};
use super::{ContextExt, RequireScope, ids};
use crate::domain::ids::EndpointId;
use crate::domain::input::Refusal;
use crate::domain::scope::Scope;
use crate::outbound::endpoints::{EndpointInput, EndpointUpdate};
use crate::store::webhooks::Endpoint;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

pub const ENDPOINT_TYPE: &str = "WebhookEndpoint";

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::status::EndpointStatus")]
pub enum WebhookEndpointStatus {
    /// Receives the events it subscribes to.
    Enabled,
    /// Receives nothing (disabled by a person, by a 410 answer or after failing too long).
    Disabled,
}

/// Where an organization's events are sent, signed as Standard Webhooks.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct WebhookEndpoint {
    pub id: ID,
    pub url: String,
    pub description: Option<String>,
    /// The event types it receives (`webhookEventTypes` names); empty: every type.
    pub event_types: Vec<String>,
    pub status: WebhookEndpointStatus,
    /// Why it is disabled.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Attempts per second sent to it at most (excess waits, never fails); null: no limit.
    pub rate_limit_per_second: Option<i32>,
    /// After a rotation, until when the previous secret also signs each delivery.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    raw_id: EndpointId,
}

impl WebhookEndpoint {
    pub(super) fn raw_id(&self) -> EndpointId {
        self.raw_id
    }
}

impl From<Endpoint> for WebhookEndpoint {
    fn from(e: Endpoint) -> Self {
        Self {
            id: ID(ids::encode(ENDPOINT_TYPE, e.id.0)),
            url: e.url,
            description: e.description,
            event_types: e
                .event_types
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            status: e.status.into(),
            disabled_reason: e.disabled_reason,
            disabled_at: e.disabled_at,
            rate_limit_per_second: e.rate_limit_per_second,
            previous_secret_expires_at: e.previous_secret_expires_at,
            created_at: e.created_at,
            updated_at: e.updated_at,
            raw_id: e.id,
        }
    }
}

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// https (http only where configured), on a host among `PB_WEBHOOK_ALLOWED_TARGETS`.
    pub url: String,
    /// Catalogue names (`"invoice.paid"`); omitted or empty: every type.
    pub event_types: Option<Vec<String>>,
    /// Up to 500 characters.
    pub description: Option<String>,
    /// 1 to 1000 attempts per second; omitted: no limit.
    pub rate_limit_per_second: Option<i32>,
}

#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    pub id: ID,
    /// Omit to keep.
    pub url: Option<String>,
    /// Omit to keep; empty: every type.
    pub event_types: Option<Vec<String>>,
    /// Omit to keep, null to clear.
    pub description: MaybeUndefined<String>,
    /// Omit to keep, null for no limit.
    pub rate_limit_per_second: MaybeUndefined<i32>,
    /// `false` disables it, `true` enables it again (its failure count starts over).
    pub enabled: Option<bool>,
}

#[derive(InputObject)]
pub struct WebhookEndpointIdInput {
    pub id: ID,
}

/// An endpoint with its signing secret, shown only in this answer.
#[derive(SimpleObject, Default)]
pub struct CreateWebhookEndpointPayload {
    pub endpoint: Option<WebhookEndpoint>,
    /// `whsec_…`: configure your Standard Webhooks verifier with it. Not shown again.
    pub secret: Option<String>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct UpdateWebhookEndpointPayload {
    pub endpoint: Option<WebhookEndpoint>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct DeleteWebhookEndpointPayload {
    pub deleted_endpoint_id: Option<ID>,
    pub user_errors: Vec<UserError>,
}

/// The endpoint with its new secret, shown only in this answer.
#[derive(SimpleObject, Default)]
pub struct RotateWebhookSecretPayload {
    pub endpoint: Option<WebhookEndpoint>,
    /// The new `whsec_…`; the previous one signs too until `previousSecretExpiresAt`.
    pub secret: Option<String>,
    pub user_errors: Vec<UserError>,
}

payloads!(
    CreateWebhookEndpointPayload,
    UpdateWebhookEndpointPayload,
    DeleteWebhookEndpointPayload,
    RotateWebhookSecretPayload,
);

pub(super) fn endpoint_id(id: &ID) -> Result<EndpointId, Refusal> {
    input_id(
        ENDPOINT_TYPE,
        id,
        "id",
        "webhook endpoint",
        EndpointId::from,
    )
}

#[derive(Default)]
pub struct WebhooksQuery;

#[Object]
impl WebhooksQuery {
    /// The organization's webhook endpoints, oldest first.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> GqlResult<Vec<WebhookEndpoint>> {
        let org = ctx.principal()?.organization_id;
        let found = ctx.endpoints()?.list(org).await?;
        Ok(found.into_iter().map(Into::into).collect())
    }

    /// One webhook endpoint of the organization; null when there is none with this id.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> GqlResult<Option<WebhookEndpoint>> {
        let org = ctx.principal()?.organization_id;
        let Some(id) = ids::decode_as(ENDPOINT_TYPE, &id).map(EndpointId::from) else {
            return Ok(None);
        };
        Ok(ctx.endpoints()?.get(org, id).await?.map(Into::into))
    }
}

#[derive(Default)]
pub struct WebhooksMutation;

#[Object]
impl WebhooksMutation {
    /// Creates an endpoint and returns its signing secret, this once. Refused:
    /// `TARGET_NOT_ALLOWED`, `HTTPS_REQUIRED`, `INVALID`, `REQUIRED`, `TOO_LONG` (url);
    /// `UNKNOWN_EVENT_TYPE` (eventTypes); `TOO_LONG` (description); `OUT_OF_RANGE`
    /// (rateLimitPerSecond); `CONFLICT` (50 endpoints already).
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> GqlResult<CreateWebhookEndpointPayload> {
        let p = ctx.principal()?;
        let done = ctx
            .endpoints()?
            .create(
                p.organization_id,
                &p.actor(),
                EndpointInput {
                    url: input.url,
                    event_types: input.event_types,
                    description: input.description,
                    rate_limit_per_second: input.rate_limit_per_second,
                },
            )
            .await?;
        Ok(answer(done, |w| CreateWebhookEndpointPayload {
            endpoint: Some(w.endpoint.into()),
            secret: Some(w.secret.expose().to_owned()),
            user_errors: vec![],
        }))
    }

    /// Changes an endpoint, or enables or disables it; refused as `createWebhookEndpoint` is,
    /// and `NOT_FOUND`.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookEndpointInput,
    ) -> GqlResult<UpdateWebhookEndpointPayload> {
        let p = ctx.principal()?;
        let id = id_or_refuse!(endpoint_id(&input.id));
        let update = EndpointUpdate {
            url: input.url,
            event_types: input.event_types,
            description: input.description.into(),
            rate_limit_per_second: input.rate_limit_per_second.into(),
            enabled: input.enabled,
        };
        let done = ctx
            .endpoints()?
            .update(p.organization_id, &p.actor(), id, update)
            .await?;
        Ok(answer(done, |e| UpdateWebhookEndpointPayload {
            endpoint: Some(e.into()),
            user_errors: vec![],
        }))
    }

    /// Deletes an endpoint: nothing is sent to it again; deliveries not yet made are cancelled.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: WebhookEndpointIdInput,
    ) -> GqlResult<DeleteWebhookEndpointPayload> {
        let p = ctx.principal()?;
        let id = id_or_refuse!(endpoint_id(&input.id));
        let done = ctx
            .endpoints()?
            .delete(p.organization_id, &p.actor(), id)
            .await?;
        Ok(answer(done, |e| DeleteWebhookEndpointPayload {
            deleted_endpoint_id: Some(ID(ids::encode(ENDPOINT_TYPE, e.id.0))),
            user_errors: vec![],
        }))
    }

    /// Replaces an endpoint's signing secret; the new one is returned this once, and the
    /// previous one keeps signing beside it for the configured overlap
    /// (`PB_WEBHOOK_SECRET_OVERLAP_HOURS`).
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        input: WebhookEndpointIdInput,
    ) -> GqlResult<RotateWebhookSecretPayload> {
        let p = ctx.principal()?;
        let id = id_or_refuse!(endpoint_id(&input.id));
        let done = ctx
            .endpoints()?
            .rotate(p.organization_id, &p.actor(), id)
            .await?;
        Ok(answer(done, |w| RotateWebhookSecretPayload {
            endpoint: Some(w.endpoint.into()),
            secret: Some(w.secret.expose().to_owned()),
            user_errors: vec![],
        }))
    }
}
