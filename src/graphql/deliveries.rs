//! Owns the delivery log in the API (scope `admin`): an endpoint's `deliveries` (newest first,
//! each with its event and attempts) and `health`, the event catalogue (`webhookEventTypes`,
//! a JSON Schema per type), and sending again: `sendTestWebhook`, `redeliverWebhook`,
//! `recoverWebhookEndpoint`.

use super::errors::GqlResult;
use super::events::Event;
use super::scalars::{Payload, UserError, answer, id_or_refuse, input_id, payloads};
use super::webhooks::{ENDPOINT_TYPE, WebhookEndpoint, endpoint_id};
use super::{ContextExt, RequireScope, ids};
use crate::domain::catalogue;
use crate::domain::ids::{DeliveryId, EndpointId};
use crate::domain::scope::Scope;
use crate::error::AppError;
use crate::store::delivery_log::{AttemptView, DeliveryView};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};

pub const DELIVERY_TYPE: &str = "WebhookDelivery";
const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;
/// The window `health` counts attempts over.
const HEALTH_WINDOW_HOURS: i64 = 24;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::status::DeliveryStatus")]
pub enum WebhookDeliveryStatus {
    /// Not yet made: due at `nextAttemptAt`, or waiting for its endpoint to be enabled.
    Pending,
    Succeeded,
    /// No attempt left, or the endpoint answered 410.
    Failed,
    /// Its endpoint was deleted before it was sent.
    Cancelled,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::status::AttemptTrigger")]
pub enum WebhookAttemptTrigger {
    Scheduled,
    Manual,
    Recovery,
    Test,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::status::AttemptError")]
pub enum WebhookAttemptErrorCode {
    /// The host resolved to an address that is not public and not allow-listed (SSRF guard).
    TargetNotAllowed,
    Timeout,
    /// No connection: refused, unreachable, or a name not resolving.
    ConnectionFailed,
    /// The TLS handshake failed: the endpoint's certificate is not trusted, has expired or is
    /// not for the URL's host name.
    TlsFailed,
    /// The connection broke during the request or the answer.
    RequestFailed,
    /// The endpoint's secret could not be opened with this instance's keys.
    SecretUnavailable,
}

/// One HTTP attempt of a delivery.
#[derive(SimpleObject)]
pub struct WebhookAttempt {
    /// 1 for the first attempt of the delivery.
    pub number: i32,
    pub trigger: WebhookAttemptTrigger,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    /// The endpoint's HTTP status; null when it did not answer (see `error`).
    pub response_status: Option<i32>,
    /// The start of the endpoint's answer (at most 1 KiB).
    pub response_excerpt: Option<String>,
    /// Why there was no answer (timeout, connection refused, TLS), in words.
    pub error: Option<String>,
    /// The same as a stable code; null when the endpoint answered.
    pub error_code: Option<WebhookAttemptErrorCode>,
}

impl From<AttemptView> for WebhookAttempt {
    fn from(a: AttemptView) -> Self {
        Self {
            number: a.number,
            trigger: a.trigger.into(),
            started_at: a.started_at,
            duration_ms: a.duration_ms,
            response_status: a.response_status,
            response_excerpt: a.response_excerpt,
            error: a.error,
            error_code: a.error_code.map(Into::into),
        }
    }
}

/// One event's delivery to one endpoint.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct WebhookDelivery {
    pub id: ID,
    pub endpoint_id: ID,
    /// The event as sent (its `id` is the `webhook-id` header).
    pub event: Event,
    pub status: WebhookDeliveryStatus,
    pub attempt_count: i32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    raw: DeliveryView,
}

impl TryFrom<DeliveryView> for WebhookDelivery {
    type Error = AppError;
    fn try_from(d: DeliveryView) -> Result<Self, AppError> {
        Ok(Self {
            id: ID(ids::encode(DELIVERY_TYPE, d.id.0)),
            endpoint_id: ID(ids::encode(ENDPOINT_TYPE, d.endpoint_id.0)),
            event: d.event.clone().try_into()?,
            status: d.status.into(),
            attempt_count: d.attempt_count,
            next_attempt_at: d.next_attempt_at,
            last_attempt_at: d.last_attempt_at,
            completed_at: d.completed_at,
            created_at: d.created_at,
            raw: d,
        })
    }
}

#[ComplexObject]
impl WebhookDelivery {
    /// Every attempt, oldest first (kept for `PB_WEBHOOK_RETENTION_DAYS`).
    async fn attempts(&self, ctx: &Context<'_>) -> GqlResult<Vec<WebhookAttempt>> {
        let org = ctx.principal()?.organization_id;
        let found = ctx.store()?.attempts_of(org, self.raw.id).await?;
        Ok(found.into_iter().map(Into::into).collect())
    }
}

/// How an endpoint is doing.
#[derive(SimpleObject)]
pub struct WebhookEndpointHealth {
    /// Successful attempts out of all attempts in the last 24 hours, 0 to 1; null without any.
    pub success_rate: Option<f64>,
    pub attempts_last_24_hours: i64,
    pub failures_last_24_hours: i64,
    pub last_success_at: Option<DateTime<Utc>>,
    /// The latest failed attempt, ever (compare with `lastSuccessAt`).
    pub last_error: Option<WebhookAttempt>,
    /// When the earliest retry of a delivery that failed before is due.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Deliveries not yet made.
    pub backlog: i64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl WebhookEndpoint {
    /// Its deliveries, newest first, of one status or all.
    #[graphql(complexity = "super::page_complexity(first, None, child_complexity)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<WebhookDeliveryStatus>,
    ) -> GqlResult<Connection<String, WebhookDelivery>> {
        let org = ctx.principal()?.organization_id;
        let first = super::page_size(first, DEFAULT_PAGE, MAX_PAGE)?;
        let before = match &after {
            None => None,
            Some(c) => Some(
                ids::decode_as(DELIVERY_TYPE, &ID(c.clone()))
                    .map(DeliveryId::from)
                    .ok_or_else(|| AppError::bad_input("`after` is not a delivery cursor"))?,
            ),
        };
        let mut found = ctx
            .store()?
            .endpoint_deliveries(
                org,
                self.raw_id(),
                status.map(Into::into),
                before,
                first as u64 + 1,
            )
            .await?;
        let more = found.len() > first;
        found.truncate(first);
        let mut c = Connection::new(after.is_some(), more);
        for d in found {
            let d = WebhookDelivery::try_from(d)?;
            c.edges.push(Edge::new(d.id.to_string(), d));
        }
        Ok(c)
    }

    /// Success rate and failures over the last 24 hours, last error, next retry and backlog.
    async fn health(&self, ctx: &Context<'_>) -> GqlResult<WebhookEndpointHealth> {
        let org = ctx.principal()?.organization_id;
        let store = ctx.store()?;
        let since = store.clock().now() - chrono::Duration::hours(HEALTH_WINDOW_HOURS);
        let h = store.endpoint_health(org, self.raw_id(), since).await?;
        Ok(WebhookEndpointHealth {
            success_rate: (h.attempts > 0)
                .then(|| (h.attempts - h.failures) as f64 / h.attempts as f64),
            attempts_last_24_hours: h.attempts,
            failures_last_24_hours: h.failures,
            last_success_at: h.last_success_at,
            last_error: h.last_failure.map(Into::into),
            next_retry_at: h.next_retry_at,
            backlog: h.backlog,
            oldest_pending_at: h.oldest_pending_at,
        })
    }
}

/// An event type subscribers can receive.
#[derive(SimpleObject)]
pub struct WebhookEventType {
    /// The name endpoints subscribe with (`invoice.paid`).
    pub name: String,
    pub description: String,
    /// JSON Schema (draft 2020-12) of the envelope `{type, timestamp, data}`. Fields may be
    /// added, never removed or retyped: accept properties you do not know.
    pub schema: Json<serde_json::Value>,
}

#[derive(InputObject)]
pub struct SendTestWebhookInput {
    /// The endpoint to send `webhook_endpoint.test` to.
    pub id: ID,
}

#[derive(InputObject)]
pub struct RedeliverWebhookInput {
    pub delivery_id: ID,
}

#[derive(InputObject)]
pub struct RecoverWebhookEndpointInput {
    pub endpoint_id: ID,
    /// Events logged from this time on (within `PB_WEBHOOK_RECOVER_WINDOW_DAYS`).
    pub since: DateTime<Utc>,
}

#[derive(SimpleObject, Default)]
pub struct WebhookDeliveryPayload {
    pub delivery: Option<WebhookDelivery>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct RecoverWebhookEndpointPayload {
    pub endpoint: Option<WebhookEndpoint>,
    /// Deliveries queued: failed ones due again, and events it never got.
    pub requeued: Option<i64>,
    pub user_errors: Vec<UserError>,
}

payloads!(WebhookDeliveryPayload, RecoverWebhookEndpointPayload);

/// The payload of a delivery made due, or of its refusal.
fn delivered(
    done: Result<DeliveryView, crate::domain::input::Refusal>,
) -> GqlResult<WebhookDeliveryPayload> {
    Ok(match done {
        Ok(d) => WebhookDeliveryPayload {
            delivery: Some(d.try_into()?),
            user_errors: vec![],
        },
        Err(r) => WebhookDeliveryPayload::refused(r),
    })
}

#[derive(Default)]
pub struct DeliveriesQuery;

#[Object]
impl DeliveriesQuery {
    /// The event catalogue: every type an endpoint can subscribe to, with the JSON Schema of
    /// what it receives.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn webhook_event_types(&self) -> Vec<WebhookEventType> {
        catalogue::catalogue()
            .into_iter()
            .map(|i| WebhookEventType {
                name: i.event_type.as_str().to_owned(),
                description: i.description.to_owned(),
                schema: Json(i.schema),
            })
            .collect()
    }
}

#[derive(Default)]
pub struct DeliveriesMutation;

#[Object]
impl DeliveriesMutation {
    /// Sends a `webhook_endpoint.test` event to one endpoint (no other receives it). Refused:
    /// `NOT_FOUND`, `ENDPOINT_DISABLED`.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn send_test_webhook(
        &self,
        ctx: &Context<'_>,
        input: SendTestWebhookInput,
    ) -> GqlResult<WebhookDeliveryPayload> {
        let p = ctx.principal()?;
        let id = id_or_refuse!(endpoint_id(&input.id));
        delivered(
            ctx.endpoints()?
                .send_test(p.organization_id, &p.actor(), id)
                .await?,
        )
    }

    /// One more attempt of a delivery, due now (a failed or succeeded one becomes pending
    /// again; if it fails, what is left of the retry schedule follows). Refused: `NOT_FOUND`
    /// (also once cancelled), `ENDPOINT_DISABLED`, `CONFLICT` (an attempt of it is in flight),
    /// `OUT_OF_RANGE` (its event is older than the recover window).
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        input: RedeliverWebhookInput,
    ) -> GqlResult<WebhookDeliveryPayload> {
        let p = ctx.principal()?;
        let id = id_or_refuse!(input_id(
            DELIVERY_TYPE,
            &input.delivery_id,
            "deliveryId",
            "delivery",
            DeliveryId::from
        ));
        delivered(
            ctx.endpoints()?
                .redeliver(p.organization_id, &p.actor(), id)
                .await?,
        )
    }

    /// Sends an endpoint everything it missed since `since`: its failed deliveries again, and
    /// the events of its types it never got (it was disabled then). Refused: `NOT_FOUND`,
    /// `ENDPOINT_DISABLED`, `OUT_OF_RANGE` (since).
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn recover_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: RecoverWebhookEndpointInput,
    ) -> GqlResult<RecoverWebhookEndpointPayload> {
        let p = ctx.principal()?;
        let id: EndpointId = id_or_refuse!(input_id(
            ENDPOINT_TYPE,
            &input.endpoint_id,
            "endpointId",
            "webhook endpoint",
            EndpointId::from
        ));
        let done = ctx
            .endpoints()?
            .recover(p.organization_id, &p.actor(), id, input.since)
            .await?;
        Ok(answer(done, |r| RecoverWebhookEndpointPayload {
            endpoint: Some(r.endpoint.into()),
            requeued: Some(i64::try_from(r.requeued).unwrap_or(i64::MAX)),
            user_errors: vec![],
        }))
    }
}
