//! Owns reading a Ponto webhook event's body: its id, type and the ids of what it is about.
//! Nothing else in the body is trusted; effects read Ponto's API.

use serde::Deserialize;

/// The 15 types Ponto Connect documents (Ibanity's SDKs agree on exactly these).
pub const KNOWN_TYPES: [&str; 15] = [
    "pontoConnect.synchronization.succeededWithoutChange",
    "pontoConnect.synchronization.failed",
    "pontoConnect.account.detailsUpdated",
    "pontoConnect.account.transactionsCreated",
    "pontoConnect.account.transactionsUpdated",
    "pontoConnect.account.pendingTransactionsCreated",
    "pontoConnect.account.pendingTransactionsUpdated",
    "pontoConnect.account.reauthorized",
    "pontoConnect.integration.accountAdded",
    "pontoConnect.integration.accountRevoked",
    "pontoConnect.integration.created",
    "pontoConnect.integration.revoked",
    "pontoConnect.organization.blocked",
    "pontoConnect.organization.unblocked",
    "pontoConnect.paymentRequest.closed",
];

/// A Ponto Connect webhook event: `{"data": {"id", "type", "relationships": {…}}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub id: String,
    /// Ponto's type, e.g. `pontoConnect.account.transactionsCreated`.
    pub event_type: String,
    pub organization: Option<String>,
    pub account: Option<String>,
    pub synchronization: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    relationships: Relationships,
}

#[derive(Deserialize, Default)]
struct Relationships {
    organization: Option<Related>,
    account: Option<Related>,
    synchronization: Option<Related>,
}

#[derive(Deserialize)]
struct Related {
    data: RelatedId,
}

#[derive(Deserialize)]
struct RelatedId {
    id: String,
}

impl WebhookEvent {
    /// The event in `body`; `None` when it is not one (no `data.id` or `data.type`, or an id
    /// that cannot be Ponto's).
    pub fn parse(body: &[u8]) -> Option<Self> {
        let e: Envelope = serde_json::from_slice(body).ok()?;
        let d = e.data;
        if d.id.is_empty() || d.id.len() > 200 || d.event_type.is_empty() {
            return None;
        }
        let id = |r: Option<Related>| r.map(|r| r.data.id).filter(|i| !i.is_empty());
        Some(Self {
            id: d.id,
            event_type: d.event_type,
            organization: id(d.relationships.organization),
            account: id(d.relationships.account),
            synchronization: id(d.relationships.synchronization),
        })
    }

    /// The type without Ponto's `pontoConnect.` prefix, e.g. `account.transactionsCreated`.
    pub fn kind(&self) -> &str {
        self.event_type
            .strip_prefix("pontoConnect.")
            .unwrap_or(&self.event_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ids_and_type_of_ponto_s_sample() {
        let body = br#"{"data":{"attributes":{"createdAt":"2023-08-10T12:24:42.224Z","synchronizationSubtype":"accountTransactions"},"id":"3465fd2f-6c9a-484e-971e-56bf44c9181a","relationships":{"account":{"data":{"id":"1d89d411-e310-4802-bbb7-aad7d98371e7","type":"account"}},"organization":{"data":{"id":"9315d6b3-129a-481a-9604-e2a95e0f967d","type":"organization"}},"synchronization":{"data":{"id":"178b59a6-679f-43d4-b5ad-28caea0bc08b","type":"synchronization"}}},"type":"pontoConnect.synchronization.succeededWithoutChange"}}"#;
        let e = WebhookEvent::parse(body).unwrap();
        assert_eq!(e.kind(), "synchronization.succeededWithoutChange");
        assert_eq!(
            e.account.as_deref(),
            Some("1d89d411-e310-4802-bbb7-aad7d98371e7")
        );
        assert_eq!(
            e.synchronization.as_deref(),
            Some("178b59a6-679f-43d4-b5ad-28caea0bc08b")
        );
        assert_eq!(
            e.organization.as_deref(),
            Some("9315d6b3-129a-481a-9604-e2a95e0f967d")
        );
        assert_eq!(
            WebhookEvent::parse(br#"{"data":{"id":"","type":"x"}}"#),
            None
        );
        assert_eq!(WebhookEvent::parse(b"[]"), None);
    }
}
