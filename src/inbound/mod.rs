//! Owns receiving Ponto's webhooks: verifying the `Signature` (through `ponto::webhook` and the
//! key cache), storing each verified event raw exactly once before it is acknowledged, and
//! counting every outcome. A rejected webhook is logged and counted, never stored.

pub mod process;

use crate::clock::SharedClock;
use crate::error::AppError;
use crate::metrics::WebhookMetrics;
use crate::ponto::event::WebhookEvent;
use crate::ponto::webhook::{self, Expected, Rejection};
use crate::ponto::webhook_keys::WebhookKeys;
use crate::store::Store;
use crate::store::inbound::NewInboundEvent;

/// How a webhook was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    Stored,
    /// Already stored: acknowledged, nothing written.
    Duplicate,
}

#[derive(Debug)]
pub enum IntakeError {
    Rejected(Rejection),
    /// Verified, but not a Ponto event (no `data.id` or `data.type`).
    NotAnEvent,
    Internal(AppError),
}

pub struct Inbound {
    store: Store,
    keys: WebhookKeys,
    expected: Expected,
    clock: SharedClock,
    metrics: WebhookMetrics,
}

impl Inbound {
    pub fn new(
        store: Store,
        keys: WebhookKeys,
        expected: Expected,
        metrics: WebhookMetrics,
    ) -> Self {
        let clock = store.clock().clone();
        Self {
            store,
            keys,
            expected,
            clock,
            metrics,
        }
    }

    /// Verifies and stores one webhook; `body` is the bytes received.
    pub async fn receive(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Intake, IntakeError> {
        self.metrics.received.inc();
        let outcome = self.verify_and_store(signature, body).await;
        match &outcome {
            Ok(Intake::Stored) => {
                self.metrics.stored.inc();
            }
            Ok(Intake::Duplicate) => {
                self.metrics.duplicates.inc();
            }
            Err(IntakeError::Rejected(r)) => {
                self.metrics.rejected(*r);
                tracing::warn!(
                    reason = r.code(),
                    bytes = body.len(),
                    "Ponto webhook rejected"
                );
            }
            Err(IntakeError::NotAnEvent) => {
                tracing::warn!(bytes = body.len(), "signed Ponto webhook is not an event");
            }
            Err(IntakeError::Internal(_)) => {}
        }
        outcome
    }

    async fn verify_and_store(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Intake, IntakeError> {
        let signature = signature.ok_or(IntakeError::Rejected(Rejection::SignatureMissing))?;
        let kid = webhook::signing_kid(signature).map_err(IntakeError::Rejected)?;
        let key = self.keys.key(&kid).await.map_err(IntakeError::Rejected)?;
        let now = self.clock.now().timestamp();
        webhook::verify(signature, body, &key, &self.expected, now)
            .map_err(IntakeError::Rejected)?;
        let event = WebhookEvent::parse(body).ok_or(IntakeError::NotAnEvent)?;
        let stored = self
            .store
            .store_inbound_event(NewInboundEvent {
                ponto_event_id: &event.id,
                ponto_organization_id: event.organization.as_deref(),
                event_type: &event.event_type,
                raw_body: body,
            })
            .await
            .map_err(IntakeError::Internal)?;
        if stored {
            self.store.bus().wake_inbound();
        }
        Ok(if stored {
            Intake::Stored
        } else {
            Intake::Duplicate
        })
    }
}
