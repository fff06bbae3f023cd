//! Owns sending again on request, each an audited write under the organization's lock: a test
//! event to one endpoint (`webhook_endpoint.test`), one more attempt of a delivery, and
//! everything an endpoint missed since a time (its failed deliveries, and the events it never
//! got while it was disabled).

use super::endpoints::{Endpoints, audit, not_found};
use crate::domain::event::{EndpointTestData, Event};
use crate::domain::ids::{DeliveryId, EndpointId, OrganizationId};
use crate::domain::input::{Problem, Refusal};
use crate::domain::status::{AuditAction, DeliveryStatus, EndpointStatus};
use crate::reconcile::manual::Outcome;
use crate::store::WriteTx;
use crate::store::delivery_log::DeliveryView;
use crate::store::webhooks::Endpoint;
use chrono::{DateTime, Utc};

/// What `recover` queued.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub endpoint: Endpoint,
    pub requeued: u64,
}

fn disabled() -> Refusal {
    Refusal::new(
        "endpointId",
        Problem::EndpointDisabled,
        "the endpoint is disabled: enable it first (updateWebhookEndpoint)",
    )
}

/// The endpoint if the organization has it and it is enabled; else the refusal, on `field`.
async fn enabled(
    tx: &mut WriteTx,
    org: OrganizationId,
    id: EndpointId,
    field: &'static str,
) -> crate::error::AppResult<Result<Endpoint, Refusal>> {
    Ok(match tx.endpoint_in(org, id).await? {
        None => Err(Refusal {
            field,
            ..not_found()
        }),
        Some(e) if e.status != EndpointStatus::Enabled => Err(Refusal {
            field,
            ..disabled()
        }),
        Some(e) => Ok(e),
    })
}

impl Endpoints {
    /// Logs a `webhook_endpoint.test` event delivered to this endpoint only; its delivery.
    pub async fn send_test(
        &self,
        org: OrganizationId,
        by: &str,
        id: EndpointId,
    ) -> Outcome<DeliveryView> {
        let mut tx = self.begin(org).await?;
        let endpoint = match enabled(&mut tx, org, id, "id").await? {
            Ok(e) => e,
            Err(r) => return Ok(Err(r)),
        };
        tx.lock_event_log(org).await?;
        let event = Event::endpoint_test(EndpointTestData {
            endpoint_id: id.to_string(),
            message: "A test event from ponto-bridge: this endpoint receives.".into(),
        });
        let appended = tx.append_event_for(org, &event, id).await?;
        audit(&mut tx, org, by, AuditAction::WebhookTestSent, &endpoint).await?;
        tx.commit().await?;
        let delivery = self
            .store()
            .deliveries_of_event(org, appended.id)
            .await?
            .pop()
            .ok_or_else(|| crate::error::AppError::internal("a test event has no delivery"))?;
        Ok(Ok(delivery))
    }

    /// One more attempt of a delivery, due now (a finished one becomes pending again).
    pub async fn redeliver(
        &self,
        org: OrganizationId,
        by: &str,
        id: DeliveryId,
    ) -> Outcome<DeliveryView> {
        let missing = || Refusal::new("deliveryId", Problem::NotFound, "delivery not found");
        let Some(found) = self.store().delivery(org, id).await? else {
            return Ok(Err(missing()));
        };
        let mut tx = self.begin(org).await?;
        let endpoint = match enabled(&mut tx, org, found.endpoint_id, "deliveryId").await? {
            Ok(e) => e,
            Err(r) if r.problem == Problem::NotFound => return Ok(Err(missing())),
            Err(r) => return Ok(Err(r)),
        };
        // Older than the window, its event is about to be deleted with its deliveries.
        if found.event.created_at < tx.now() - self.recover_window {
            return Ok(Err(Refusal::new(
                "deliveryId",
                Problem::OutOfRange,
                "its event is older than the recover window",
            )));
        }
        if !tx.redeliver(org, id).await? {
            return Ok(Err(if found.status == DeliveryStatus::Cancelled {
                missing()
            } else {
                Refusal::new(
                    "deliveryId",
                    Problem::Conflict,
                    "an attempt of it is in flight: try again when it ends",
                )
            }));
        }
        audit(&mut tx, org, by, AuditAction::WebhookRedelivered, &endpoint).await?;
        tx.commit().await?;
        self.store().bus().wake_deliveries();
        let delivery = self.store().delivery(org, id).await?.ok_or_else(|| {
            crate::error::AppError::internal("a delivery vanished after its redelivery")
        })?;
        Ok(Ok(delivery))
    }

    /// Queues everything the endpoint missed since `since` (no earlier than its creation, no
    /// further back than the recover window): its failed deliveries, and the events of its
    /// types it never got (it was disabled then).
    pub async fn recover(
        &self,
        org: OrganizationId,
        by: &str,
        id: EndpointId,
        since: DateTime<Utc>,
    ) -> Outcome<Recovered> {
        let mut tx = self.begin(org).await?;
        let endpoint = match enabled(&mut tx, org, id, "endpointId").await? {
            Ok(e) => e,
            Err(r) => return Ok(Err(r)),
        };
        let now = tx.now();
        if since > now || since < now - self.recover_window {
            return Ok(Err(Refusal::new(
                "since",
                Problem::OutOfRange,
                format!("from {} days ago to now", self.recover_window.num_days()),
            )));
        }
        tx.lock_event_log(org).await?;
        let from = since.max(endpoint.created_at);
        let requeued = tx
            .recover_endpoint(org, id, &endpoint.event_types, from)
            .await?;
        audit(&mut tx, org, by, AuditAction::WebhookRecovered, &endpoint).await?;
        tx.commit().await?;
        if requeued > 0 {
            self.store().bus().wake_deliveries();
        }
        Ok(Ok(Recovered { endpoint, requeued }))
    }
}
