//! Owns the endpoint operations behind the API: checks what a subscriber asks for (targets,
//! event types, limits), seals and rotates secrets, and audits every change.

use super::guard::TargetGuard;
use super::signing::SigningSecret;
use crate::crypto::{Binding, KeyRing};
use crate::domain::event::EventType;
use crate::domain::ids::{EndpointId, OrganizationId};
use crate::domain::input::{Problem, Refusal};
use crate::domain::status::{AuditAction, EndpointStatus};
use crate::error::{AppError, AppResult};
use crate::reconcile::manual::Outcome;
use crate::secret::Secret;
use crate::store::audit::Audit;
use crate::store::webhooks::{Endpoint, EndpointChanges, NewEndpoint, SealedSecrets};
use crate::store::{Store, WriteTx};
use serde_json::json;
use std::ops::RangeInclusive;
use std::sync::Arc;

/// Endpoints one organization may have.
pub const MAX_ENDPOINTS: usize = 50;
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Attempts per second an endpoint may ask for.
pub const RATE_LIMITS: RangeInclusive<i32> = 1..=1000;

const TABLE: &str = "webhook_endpoint";

/// What a subscriber asks for when creating an endpoint.
#[derive(Debug, Clone, Default)]
pub struct EndpointInput {
    pub url: String,
    /// Omitted or empty: every type.
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub rate_limit_per_second: Option<i32>,
}

/// What an update asks for; `None` keeps.
#[derive(Debug, Clone, Default)]
pub struct EndpointUpdate {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// `Some(None)` clears.
    pub description: Option<Option<String>>,
    /// `Some(None)` lifts the limit.
    pub rate_limit_per_second: Option<Option<i32>>,
    pub enabled: Option<bool>,
}

/// An endpoint with its secret, shown this once.
#[derive(Debug, Clone)]
pub struct WithSecret {
    pub endpoint: Endpoint,
    pub secret: Secret,
}

#[derive(Clone)]
pub struct Endpoints {
    store: Store,
    keys: Arc<KeyRing>,
    targets: TargetGuard,
    /// How long the replaced secret still signs after a rotation.
    overlap: chrono::Duration,
    /// How far back `recover` may reach.
    pub(super) recover_window: chrono::Duration,
}

fn binding(column: &str, id: EndpointId, org: OrganizationId) -> Binding<'_> {
    Binding {
        table: TABLE,
        column,
        row: id.0,
        organization: org.0,
    }
}

pub(super) fn not_found() -> Refusal {
    Refusal::new("id", Problem::NotFound, "webhook endpoint not found")
}

/// Catalogue names, each once, in the order given; empty means every type.
fn event_types(names: &[String]) -> Result<Vec<EventType>, Refusal> {
    let mut out = Vec::new();
    for name in names {
        let t = EventType::parse(name.trim()).ok_or_else(|| {
            Refusal::new(
                "eventTypes",
                Problem::UnknownEventType,
                format!("{name:?} is not an event type (see webhookEventTypes)"),
            )
        })?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn description(d: Option<&str>) -> Result<Option<String>, Refusal> {
    let d = d.map(str::trim).filter(|d| !d.is_empty());
    match d {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => Err(Refusal::new(
            "description",
            Problem::TooLong,
            format!("at most {MAX_DESCRIPTION_CHARS} characters"),
        )),
        _ => Ok(d.map(str::to_owned)),
    }
}

fn rate_limit(r: Option<i32>) -> Result<Option<i32>, Refusal> {
    match r {
        Some(r) if !RATE_LIMITS.contains(&r) => Err(Refusal::new(
            "rateLimitPerSecond",
            Problem::OutOfRange,
            format!(
                "from {} to {} attempts per second, or none for no limit",
                RATE_LIMITS.start(),
                RATE_LIMITS.end()
            ),
        )),
        _ => Ok(r),
    }
}

impl Endpoints {
    pub fn new(
        store: Store,
        keys: Arc<KeyRing>,
        targets: TargetGuard,
        overlap: chrono::Duration,
        recover_window: chrono::Duration,
    ) -> Self {
        Self {
            store,
            keys,
            targets,
            overlap,
            recover_window,
        }
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    pub async fn list(&self, org: OrganizationId) -> AppResult<Vec<Endpoint>> {
        self.store.endpoints(org).await
    }

    pub async fn get(&self, org: OrganizationId, id: EndpointId) -> AppResult<Option<Endpoint>> {
        self.store.endpoint(org, id).await
    }

    pub(super) async fn begin(&self, org: OrganizationId) -> AppResult<WriteTx> {
        let mut tx = self.store.begin_write().await?;
        // One writer per organization at a time: the endpoint limit holds under concurrency.
        tx.lock_organization(org).await?;
        Ok(tx)
    }

    /// Creates an endpoint with a fresh secret, returned this once.
    pub async fn create(
        &self,
        org: OrganizationId,
        by: &str,
        input: EndpointInput,
    ) -> Outcome<WithSecret> {
        let checked = (|| {
            let url = self.targets.check(&input.url)?;
            let types = event_types(input.event_types.as_deref().unwrap_or_default())?;
            let description = description(input.description.as_deref())?;
            let rate = rate_limit(input.rate_limit_per_second)?;
            Ok::<_, Refusal>((url, types, description, rate))
        })();
        let (url, types, description, rate) = match checked {
            Ok(c) => c,
            Err(r) => return Ok(Err(r)),
        };
        if let Err(r) = self.targets.check_name(&url).await {
            return Ok(Err(r));
        }
        let mut tx = self.begin(org).await?;
        if tx.endpoint_count(org).await? >= MAX_ENDPOINTS {
            return Ok(Err(Refusal::new(
                "url",
                Problem::Conflict,
                format!("an organization has at most {MAX_ENDPOINTS} webhook endpoints"),
            )));
        }
        let id = EndpointId::new();
        let secret = SigningSecret::generate();
        let shown = secret.reveal();
        let sealed = self
            .keys
            .seal_secret(&shown, binding("secret_enc", id, org))?;
        tx.create_endpoint(
            org,
            NewEndpoint {
                id,
                url: url.to_string(),
                description,
                event_types: types,
                rate_limit_per_second: rate,
                secret_enc: sealed,
            },
        )
        .await?;
        let endpoint = changed(&mut tx, org, by, AuditAction::WebhookEndpointCreated, id).await?;
        tx.commit().await?;
        Ok(Ok(WithSecret {
            endpoint,
            secret: shown,
        }))
    }

    /// Changes, enables or disables an endpoint.
    pub async fn update(
        &self,
        org: OrganizationId,
        by: &str,
        id: EndpointId,
        input: EndpointUpdate,
    ) -> Outcome<Endpoint> {
        let url = match input
            .url
            .as_deref()
            .map(|u| self.targets.check(u))
            .transpose()
        {
            Ok(u) => u,
            Err(r) => return Ok(Err(r)),
        };
        let checked = (|| {
            Ok::<_, Refusal>(EndpointChanges {
                url: url.as_ref().map(|u| u.to_string()),
                event_types: input.event_types.as_deref().map(event_types).transpose()?,
                description: input
                    .description
                    .map(|d| description(d.as_deref()))
                    .transpose()?,
                rate_limit_per_second: input.rate_limit_per_second.map(rate_limit).transpose()?,
                status: input.enabled.map(|on| {
                    if on {
                        (EndpointStatus::Enabled, None)
                    } else {
                        (EndpointStatus::Disabled, Some(format!("disabled by {by}")))
                    }
                }),
            })
        })();
        let changes = match checked {
            Ok(c) => c,
            Err(r) => return Ok(Err(r)),
        };
        if let Some(url) = &url
            && let Err(r) = self.targets.check_name(url).await
        {
            return Ok(Err(r));
        }
        let mut tx = self.begin(org).await?;
        if changes.status.is_some() {
            tx.lock_event_log(org).await?;
        }
        if !tx.update_endpoint(org, id, changes).await? {
            return Ok(Err(not_found()));
        }
        let endpoint = changed(&mut tx, org, by, AuditAction::WebhookEndpointUpdated, id).await?;
        tx.commit().await?;
        if endpoint.status == EndpointStatus::Enabled {
            // What waited while it was disabled is due now.
            self.store.bus().wake_deliveries();
        }
        Ok(Ok(endpoint))
    }

    /// Deletes an endpoint; its pending deliveries are cancelled.
    pub async fn delete(&self, org: OrganizationId, by: &str, id: EndpointId) -> Outcome<Endpoint> {
        let mut tx = self.begin(org).await?;
        let Some(endpoint) = tx.endpoint_in(org, id).await? else {
            return Ok(Err(not_found()));
        };
        tx.lock_event_log(org).await?;
        tx.delete_endpoint(org, id).await?;
        audit(
            &mut tx,
            org,
            by,
            AuditAction::WebhookEndpointDeleted,
            &endpoint,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(endpoint))
    }

    /// A new secret, returned this once; the one it replaces keeps signing alongside it for
    /// the configured overlap, so receivers can switch without losing a delivery.
    pub async fn rotate(
        &self,
        org: OrganizationId,
        by: &str,
        id: EndpointId,
    ) -> Outcome<WithSecret> {
        let mut tx = self.begin(org).await?;
        let Some(sealed) = tx.endpoint_secrets_in(org, id).await? else {
            return Ok(Err(not_found()));
        };
        let old = self
            .keys
            .open_secret(&sealed.current, binding("secret_enc", id, org))?;
        let new = SigningSecret::generate().reveal();
        let previous = if self.overlap > chrono::Duration::zero() {
            let until = tx.now() + self.overlap;
            let enc = self
                .keys
                .seal_secret(&old, binding("previous_secret_enc", id, org))?;
            Some((enc, until))
        } else {
            None
        };
        let current = self
            .keys
            .seal_secret(&new, binding("secret_enc", id, org))?;
        tx.rotate_endpoint_secret(org, id, SealedSecrets { current, previous })
            .await?;
        let endpoint = changed(&mut tx, org, by, AuditAction::WebhookSecretRotated, id).await?;
        tx.commit().await?;
        Ok(Ok(WithSecret {
            endpoint,
            secret: new,
        }))
    }
}

/// The endpoint as a change left it, audited.
async fn changed(
    tx: &mut WriteTx,
    org: OrganizationId,
    by: &str,
    action: AuditAction,
    id: EndpointId,
) -> AppResult<Endpoint> {
    let endpoint = tx
        .endpoint_in(org, id)
        .await?
        .ok_or_else(|| AppError::internal("an endpoint vanished inside its write"))?;
    audit(tx, org, by, action, &endpoint).await?;
    Ok(endpoint)
}

/// Records who changed an endpoint and what it now is (never its secret).
pub(super) async fn audit(
    tx: &mut WriteTx,
    org: OrganizationId,
    by: &str,
    action: AuditAction,
    e: &Endpoint,
) -> AppResult<()> {
    let types: Vec<&str> = e.event_types.iter().map(|t| t.as_str()).collect();
    tx.audit(
        org,
        Audit {
            action,
            actor: by,
            subject_type: "WebhookEndpoint",
            subject_id: e.id.0,
            reason: None,
            // The host only: a URL's path or query may carry the subscriber's own token, and
            // the audit log is readable with `read`.
            details: json!({
                "host": url::Url::parse(&e.url).ok().and_then(|u| u.host_str().map(str::to_owned)),
                "eventTypes": types,
                "status": e.status.as_str(),
                "rateLimitPerSecond": e.rate_limit_per_second,
            }),
        },
    )
    .await
}
