//! Owns the service's Prometheus metrics (`GET /metrics`, text exposition format): one registry
//! per running service, so several instances in one process (tests) never mix their counts.

use crate::ponto::webhook::Rejection;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

/// Inbound Ponto webhook counters.
#[derive(Clone, Default)]
pub struct WebhookMetrics {
    pub received: Counter,
    pub rejected: Family<ReasonLabel, Counter>,
    pub stored: Counter,
    pub duplicates: Counter,
    pub key_fetches: Counter,
}

impl WebhookMetrics {
    pub fn rejected(&self, reason: Rejection) {
        self.rejected
            .get_or_create(&ReasonLabel {
                reason: reason.code(),
            })
            .inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkerLabel {
    pub worker: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

/// Reads of what Ponto holds.
#[derive(Clone, Default)]
pub struct SyncMetrics {
    /// By outcome: `ok`, `failed` (retried at the next read), `broken` (the link is broken).
    pub reads: Family<OutcomeLabel, Counter>,
    /// Transactions seen for the first time.
    pub transactions_imported: Counter,
    /// The scheduler's failed claims of due reads.
    pub step_failures: Counter,
}

impl SyncMetrics {
    pub fn read(&self, outcome: &'static str) {
        self.reads.get_or_create(&OutcomeLabel { outcome }).inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InboundLabel {
    /// Ponto's event type, or `other` for types Ponto does not document (bounded cardinality).
    pub r#type: String,
    pub status: &'static str,
}

/// Processing of stored Ponto webhooks.
#[derive(Clone, Default)]
pub struct InboundMetrics {
    /// Events that reached a status, by Ponto type and status.
    pub events: Family<InboundLabel, Counter>,
    /// Events waiting for a worker now (`PENDING`; parked ones excluded).
    pub waiting: Gauge,
    /// Age in seconds of the oldest waiting event (0 when none waits).
    pub lag_seconds: Gauge,
    /// Webhook effects (pulls) running now.
    pub pulls_in_flight: Gauge,
    /// The processor's failed claims of stored webhooks.
    pub step_failures: Counter,
}

impl InboundMetrics {
    pub fn reached(&self, event_type: &str, status: &'static str) {
        let known = crate::ponto::event::KNOWN_TYPES.contains(&event_type);
        self.events
            .get_or_create(&InboundLabel {
                r#type: if known { event_type } else { "other" }.to_owned(),
                status,
            })
            .inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    /// The endpoint's id (never its URL: a path or query may hold the subscriber's token).
    pub endpoint: String,
}

/// Outbound webhook deliveries.
#[derive(Clone, Default)]
pub struct DeliveryMetrics {
    /// Deliveries that reached an end: `succeeded` or `failed` (no attempt left, or 410).
    pub deliveries: Family<OutcomeLabel, Counter>,
    /// Attempts by outcome: `success` (2xx), `http_error` (any other status), `no_answer`
    /// (timeout, refused connection, TLS).
    pub attempts: Family<OutcomeLabel, Counter>,
    /// Failed attempts per endpoint.
    pub endpoint_failures: Family<EndpointLabel, Counter>,
    /// Deliveries not yet made (PENDING), all organizations.
    pub backlog: Gauge,
    /// Age in seconds of the oldest delivery not yet made (0 when none).
    pub oldest_pending_seconds: Gauge,
    /// Endpoints disabled automatically (410 or failing too long).
    pub endpoints_disabled: Counter,
    /// The delivery worker's failed claims of deliveries.
    pub step_failures: Counter,
}

impl DeliveryMetrics {
    pub fn attempt(&self, outcome: &'static str) {
        self.attempts.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    pub fn finished(&self, outcome: &'static str) {
        self.deliveries
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    pub fn endpoint_failed(&self, endpoint: impl ToString) {
        self.endpoint_failures
            .get_or_create(&EndpointLabel {
                endpoint: endpoint.to_string(),
            })
            .inc();
    }
}

/// HTTP requests in flight and shed.
#[derive(Clone, Default)]
pub struct HttpMetrics {
    pub in_flight: Gauge,
    /// Requests answered 503 `OVERLOADED` at once.
    pub shed: Counter,
    /// Requests answered 503 `DEADLINE_EXCEEDED`.
    pub timed_out: Counter,
}

/// GraphQL over WebSocket.
#[derive(Clone, Default)]
pub struct WsMetrics {
    /// Connections open (authenticated).
    pub connections: Gauge,
    /// Connections dropped because the client did not read what it was sent.
    pub slow_clients: Counter,
}

pub struct Metrics {
    registry: Registry,
    pub webhooks: WebhookMetrics,
    pub sync: SyncMetrics,
    pub inbound: InboundMetrics,
    pub deliveries: DeliveryMetrics,
    pub ws: WsMetrics,
    pub http: HttpMetrics,
    /// 1 while the last readiness check reached the database, 0 after one that did not.
    pub database_up: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let webhooks = WebhookMetrics::default();
        registry.register(
            "ponto_webhooks_received",
            "Ponto webhooks received at /webhooks/ponto",
            webhooks.received.clone(),
        );
        registry.register(
            "ponto_webhooks_rejected",
            "Ponto webhooks rejected, by reason code",
            webhooks.rejected.clone(),
        );
        registry.register(
            "ponto_webhooks_stored",
            "Verified Ponto webhooks stored",
            webhooks.stored.clone(),
        );
        registry.register(
            "ponto_webhooks_duplicates",
            "Verified Ponto webhooks already stored (acknowledged, nothing written)",
            webhooks.duplicates.clone(),
        );
        registry.register(
            "ponto_webhook_key_fetches",
            "Fetches of Ponto's webhook key set",
            webhooks.key_fetches.clone(),
        );
        // One family, one series per worker: each worker holds its own series' counter.
        let workers = Family::<WorkerLabel, Counter>::default();
        registry.register(
            "background_step_failures",
            "Failed steps of a background worker (scheduler, inbound, deliveries); it backs off while they fail",
            workers.clone(),
        );
        let step = |worker| workers.get_or_create(&WorkerLabel { worker }).clone();
        let sync = SyncMetrics {
            step_failures: step("scheduler"),
            ..Default::default()
        };
        registry.register(
            "ponto_reads",
            "Reads of an organization's data at Ponto, by outcome",
            sync.reads.clone(),
        );
        registry.register(
            "ponto_transactions_imported",
            "Bank transactions seen for the first time",
            sync.transactions_imported.clone(),
        );
        let inbound = InboundMetrics {
            step_failures: step("inbound"),
            ..Default::default()
        };
        registry.register(
            "ponto_inbound_events",
            "Stored Ponto webhooks that reached a status, by type and status",
            inbound.events.clone(),
        );
        registry.register(
            "ponto_inbound_events_waiting",
            "Stored Ponto webhooks waiting for a worker (PENDING)",
            inbound.waiting.clone(),
        );
        registry.register(
            "ponto_inbound_lag_seconds",
            "Age of the oldest PENDING Ponto webhook (parked ones excluded)",
            inbound.lag_seconds.clone(),
        );
        registry.register(
            "ponto_inbound_pulls_in_flight",
            "Ponto webhook effects (pulls) running",
            inbound.pulls_in_flight.clone(),
        );
        let database_up = Gauge::default();
        database_up.set(1);
        registry.register(
            "database_up",
            "1 while the last readiness check (/readyz) reached the database in time, else 0",
            database_up.clone(),
        );
        let http = HttpMetrics::default();
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being served (probes and metrics excluded)",
            http.in_flight.clone(),
        );
        registry.register(
            "http_requests_shed",
            "HTTP requests answered 503 OVERLOADED because too many were in flight",
            http.shed.clone(),
        );
        registry.register(
            "http_requests_timed_out",
            "HTTP requests answered 503 DEADLINE_EXCEEDED because they ran past PB_REQUEST_TIMEOUT_MS",
            http.timed_out.clone(),
        );
        let ws = WsMetrics::default();
        registry.register(
            "graphql_ws_connections",
            "Authenticated GraphQL WebSocket connections open",
            ws.connections.clone(),
        );
        registry.register(
            "graphql_ws_slow_clients",
            "GraphQL WebSocket connections dropped because the client did not read",
            ws.slow_clients.clone(),
        );
        let deliveries = DeliveryMetrics {
            step_failures: step("deliveries"),
            ..Default::default()
        };
        registry.register(
            "webhook_deliveries",
            "Outbound webhook deliveries that reached an end, by outcome",
            deliveries.deliveries.clone(),
        );
        registry.register(
            "webhook_attempts",
            "Outbound webhook attempts, by outcome (success, http_error, no_answer)",
            deliveries.attempts.clone(),
        );
        registry.register(
            "webhook_endpoint_failures",
            "Failed outbound webhook attempts, by endpoint id",
            deliveries.endpoint_failures.clone(),
        );
        registry.register(
            "webhook_deliveries_pending",
            "Outbound webhook deliveries not yet made",
            deliveries.backlog.clone(),
        );
        registry.register(
            "webhook_oldest_pending_seconds",
            "Age of the oldest outbound webhook delivery not yet made",
            deliveries.oldest_pending_seconds.clone(),
        );
        registry.register(
            "webhook_endpoints_disabled",
            "Webhook endpoints disabled automatically (410 or failing too long)",
            deliveries.endpoints_disabled.clone(),
        );
        Self {
            registry,
            webhooks,
            sync,
            inbound,
            deliveries,
            ws,
            http,
            database_up,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_in_text_format() {
        let m = Metrics::new();
        m.webhooks.received.inc();
        m.webhooks.rejected(Rejection::DigestMismatch);
        let text = m.render();
        assert!(text.contains("ponto_webhooks_received_total 1"), "{text}");
        assert!(
            text.contains("ponto_webhooks_rejected_total{reason=\"DIGEST_MISMATCH\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
