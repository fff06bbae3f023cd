//! Owns the webhook events the simulator announces, as Ponto Connect does: the 15 types with
//! the relationships and attributes each carries, their JSON:API body (compact, keys in
//! alphabetical order like Ponto's samples), and the requests to emit one on demand.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Map, json};
use uuid::Uuid;

/// What one event type carries besides the organization.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carries {
    /// Account, synchronization and `synchronizationSubtype`.
    SyncOutcome,
    /// Account and synchronization, nothing more.
    Details,
    /// Account, synchronization and `count`.
    Counted,
    /// Account only.
    Account,
    /// The organization only.
    Organization,
    /// Account and payment request.
    PaymentRequest,
}

/// The 15 Ponto Connect webhook types, as Ibanity's SDKs spell them.
pub(crate) const EVENT_TYPES: [(&str, Carries); 15] = [
    (
        "pontoConnect.synchronization.succeededWithoutChange",
        Carries::SyncOutcome,
    ),
    ("pontoConnect.synchronization.failed", Carries::SyncOutcome),
    ("pontoConnect.account.detailsUpdated", Carries::Details),
    ("pontoConnect.account.transactionsCreated", Carries::Counted),
    ("pontoConnect.account.transactionsUpdated", Carries::Counted),
    (
        "pontoConnect.account.pendingTransactionsCreated",
        Carries::Counted,
    ),
    (
        "pontoConnect.account.pendingTransactionsUpdated",
        Carries::Counted,
    ),
    ("pontoConnect.account.reauthorized", Carries::Account),
    ("pontoConnect.integration.accountAdded", Carries::Account),
    ("pontoConnect.integration.accountRevoked", Carries::Account),
    ("pontoConnect.integration.created", Carries::Organization),
    ("pontoConnect.integration.revoked", Carries::Organization),
    ("pontoConnect.organization.blocked", Carries::Organization),
    ("pontoConnect.organization.unblocked", Carries::Organization),
    (
        "pontoConnect.paymentRequest.closed",
        Carries::PaymentRequest,
    ),
];

/// The 15 types' full names.
pub fn all_event_types() -> impl Iterator<Item = &'static str> {
    EVENT_TYPES.iter().map(|(t, _)| *t)
}

/// The full name of a type given with or without its `pontoConnect.` prefix.
pub fn event_type(name: &str) -> Option<&'static str> {
    let full = name.strip_prefix("pontoConnect.").unwrap_or(name);
    EVENT_TYPES
        .iter()
        .map(|(t, _)| *t)
        .find(|t| t.strip_prefix("pontoConnect.") == Some(full))
}

fn carries(event_type: &str) -> Carries {
    EVENT_TYPES
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, c)| *c)
        .expect("a known event type")
}

/// One event: its id stays the same across every delivery attempt and copy.
#[derive(Debug, Clone)]
pub struct PontoEvent {
    pub id: Uuid,
    pub event_type: &'static str,
    pub created_at: DateTime<Utc>,
    pub organization: Uuid,
    pub account: Option<Uuid>,
    pub synchronization: Option<Uuid>,
    pub payment_request: Option<Uuid>,
    pub count: Option<usize>,
    pub subtype: Option<String>,
}

impl PontoEvent {
    pub fn new(event_type: &'static str, organization: Uuid, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            event_type,
            created_at: now,
            organization,
            account: None,
            synchronization: None,
            payment_request: None,
            count: None,
            subtype: None,
        }
    }

    /// An event about a synchronization of `account`.
    pub fn of_sync(
        event_type: &'static str,
        organization: Uuid,
        now: DateTime<Utc>,
        account: Uuid,
        synchronization: Uuid,
    ) -> Self {
        Self {
            account: Some(account),
            synchronization: Some(synchronization),
            ..Self::new(event_type, organization, now)
        }
    }

    pub fn of_account(
        event_type: &'static str,
        organization: Uuid,
        now: DateTime<Utc>,
        account: Uuid,
    ) -> Self {
        Self {
            account: Some(account),
            ..Self::new(event_type, organization, now)
        }
    }

    /// Ponto's body: `{"data": {"attributes", "id", "relationships", "type"}}`, compact, with
    /// the keys in alphabetical order (serde_json's map is ordered).
    pub fn body(&self) -> String {
        let mut attributes = Map::new();
        attributes.insert(
            "createdAt".into(),
            self.created_at
                .to_rfc3339_opts(SecondsFormat::Millis, true)
                .into(),
        );
        if let Some(n) = self.count {
            attributes.insert("count".into(), n.into());
        }
        if let Some(s) = &self.subtype {
            attributes.insert("synchronizationSubtype".into(), s.clone().into());
        }
        let mut relationships = Map::new();
        let mut relate = |name: &str, id: Option<Uuid>| {
            if let Some(id) = id {
                relationships.insert(
                    name.into(),
                    json!({"data": {"id": id.to_string(), "type": name}}),
                );
            }
        };
        relate("organization", Some(self.organization));
        relate("account", self.account);
        relate("synchronization", self.synchronization);
        relate("paymentRequest", self.payment_request);
        json!({"data": {
            "attributes": attributes,
            "id": self.id.to_string(),
            "relationships": relationships,
            "type": self.event_type,
        }})
        .to_string()
    }
}

/// `POST /_sandbox/webhooks/emit`: any of the 15 types, for an organization (and account).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmitRequest {
    #[serde(rename = "type")]
    event_type: String,
    organization: Uuid,
    account: Option<Uuid>,
    synchronization: Option<Uuid>,
    payment_request: Option<Uuid>,
    count: Option<usize>,
    synchronization_subtype: Option<String>,
}

impl EmitRequest {
    /// The event asked for; ids the type needs and the request left out are made up (a
    /// synchronization or payment request nobody can read), except the account, which must
    /// be the organization's.
    pub fn event(self, now: DateTime<Utc>) -> Result<PontoEvent, String> {
        let event_type = event_type(&self.event_type).ok_or_else(|| {
            format!(
                "unknown type {:?}: one of the 15 pontoConnect.* types",
                self.event_type
            )
        })?;
        let mut e = PontoEvent::new(event_type, self.organization, now);
        let kind = carries(event_type);
        if kind != Carries::Organization {
            e.account = Some(
                self.account
                    .ok_or_else(|| format!("{event_type} needs an account"))?,
            );
        }
        if matches!(
            kind,
            Carries::SyncOutcome | Carries::Details | Carries::Counted
        ) {
            e.synchronization = Some(self.synchronization.unwrap_or_else(Uuid::new_v4));
        }
        match kind {
            Carries::SyncOutcome => {
                e.subtype = Some(
                    self.synchronization_subtype
                        .unwrap_or_else(|| "accountTransactions".into()),
                )
            }
            Carries::Counted => e.count = Some(self.count.unwrap_or(1)),
            Carries::PaymentRequest => {
                e.payment_request = Some(self.payment_request.unwrap_or_else(Uuid::new_v4))
            }
            _ => {}
        }
        Ok(e)
    }

    pub fn account(&self) -> Option<Uuid> {
        self.account
    }

    pub fn organization(&self) -> Uuid {
        self.organization
    }
}

/// The events of a finished synchronization, from what it changed: one per kind of change,
/// else `succeededWithoutChange`; `failed` when it ended in error.
#[derive(Clone, Copy)]
pub struct SyncOutcome {
    pub ok: bool,
    pub details_changed: bool,
    pub created: usize,
    pub updated: usize,
    pub created_pending: usize,
    pub updated_pending: usize,
}

impl SyncOutcome {
    pub fn unchanged() -> Self {
        Self {
            ok: true,
            details_changed: false,
            created: 0,
            updated: 0,
            created_pending: 0,
            updated_pending: 0,
        }
    }

    pub fn failed() -> Self {
        Self {
            ok: false,
            ..Self::unchanged()
        }
    }

    pub fn events(
        &self,
        organization: Uuid,
        account: Uuid,
        synchronization: Uuid,
        subtype: &str,
        now: DateTime<Utc>,
    ) -> Vec<PontoEvent> {
        let event =
            |t: &'static str| PontoEvent::of_sync(t, organization, now, account, synchronization);
        let outcome = |t: &'static str| PontoEvent {
            subtype: Some(subtype.to_owned()),
            ..event(t)
        };
        if !self.ok {
            return vec![outcome("pontoConnect.synchronization.failed")];
        }
        let mut out = Vec::new();
        if self.details_changed {
            out.push(event("pontoConnect.account.detailsUpdated"));
        }
        for (n, t) in [
            (self.created, "pontoConnect.account.transactionsCreated"),
            (self.updated, "pontoConnect.account.transactionsUpdated"),
            (
                self.created_pending,
                "pontoConnect.account.pendingTransactionsCreated",
            ),
            (
                self.updated_pending,
                "pontoConnect.account.pendingTransactionsUpdated",
            ),
        ] {
            if n > 0 {
                out.push(PontoEvent {
                    count: Some(n),
                    ..event(t)
                });
            }
        }
        if out.is_empty() {
            out.push(outcome(
                "pontoConnect.synchronization.succeededWithoutChange",
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_has_ponto_s_shape_and_key_order() {
        let org = Uuid::parse_str("9315d6b3-129a-481a-9604-e2a95e0f967d").unwrap();
        let acc = Uuid::parse_str("1d89d411-e310-4802-bbb7-aad7d98371e7").unwrap();
        let sync = Uuid::parse_str("178b59a6-679f-43d4-b5ad-28caea0bc08b").unwrap();
        let at = DateTime::parse_from_rfc3339("2023-08-10T12:24:42.224Z")
            .unwrap()
            .to_utc();
        let mut e = PontoEvent::of_sync(
            "pontoConnect.synchronization.succeededWithoutChange",
            org,
            at,
            acc,
            sync,
        );
        e.id = Uuid::parse_str("3465fd2f-6c9a-484e-971e-56bf44c9181a").unwrap();
        e.subtype = Some("accountTransactions".into());
        // Ponto's own sample (Ibanity's Ruby SDK fixture), byte for byte.
        assert_eq!(
            e.body(),
            r#"{"data":{"attributes":{"createdAt":"2023-08-10T12:24:42.224Z","synchronizationSubtype":"accountTransactions"},"id":"3465fd2f-6c9a-484e-971e-56bf44c9181a","relationships":{"account":{"data":{"id":"1d89d411-e310-4802-bbb7-aad7d98371e7","type":"account"}},"organization":{"data":{"id":"9315d6b3-129a-481a-9604-e2a95e0f967d","type":"organization"}},"synchronization":{"data":{"id":"178b59a6-679f-43d4-b5ad-28caea0bc08b","type":"synchronization"}}},"type":"pontoConnect.synchronization.succeededWithoutChange"}}"#
        );
    }

    #[test]
    fn every_type_is_known_with_or_without_its_prefix() {
        for (t, _) in EVENT_TYPES {
            assert_eq!(event_type(t), Some(t));
            assert_eq!(
                event_type(t.strip_prefix("pontoConnect.").unwrap()),
                Some(t)
            );
        }
        assert_eq!(event_type("synchronization.succeeded"), None);
    }

    #[test]
    fn a_sync_announces_each_kind_of_change_or_that_there_was_none() {
        let (o, a, s, now) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Utc::now());
        let types = |r: SyncOutcome| -> Vec<&str> {
            r.events(o, a, s, "accountTransactionsWithUnsettled", now)
                .iter()
                .map(|e| e.event_type)
                .collect()
        };
        let nothing = SyncOutcome::unchanged();
        assert_eq!(
            types(SyncOutcome { ..nothing }),
            ["pontoConnect.synchronization.succeededWithoutChange"]
        );
        assert_eq!(
            types(SyncOutcome {
                created: 2,
                updated_pending: 1,
                ..nothing
            }),
            [
                "pontoConnect.account.transactionsCreated",
                "pontoConnect.account.pendingTransactionsUpdated"
            ]
        );
        assert_eq!(
            types(SyncOutcome {
                created: 3,
                ..SyncOutcome::failed()
            }),
            ["pontoConnect.synchronization.failed"]
        );
    }
}
