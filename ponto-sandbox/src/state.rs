//! Owns the simulator's world, in memory: Ponto organizations and their integration, accounts at
//! the sandbox bank, transactions, OAuth codes and tokens, injected faults and counters.

use crate::ClientSecret;
use chrono::{DateTime, NaiveDate, Utc};
use pb_clock::SharedClock;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap, VecDeque};
use uuid::Uuid;

/// The one bank of the sandbox (the id Ibanity's examples use).
pub const SANDBOX_BANK_ID: &str = "9251e765-bfbe-48b0-a082-3b043c386131";
/// Access tokens live as long as Ponto's (`expires_in: 1799`).
pub const ACCESS_TOKEN_SECS: i64 = 1799;
/// Authorization codes are single use and short-lived.
pub const CODE_SECS: i64 = 600;

#[derive(Debug, Clone)]
pub struct Org {
    pub id: Uuid,
    pub name: String,
    pub blocked: bool,
    pub integration: Option<Integration>,
}

#[derive(Debug, Clone)]
pub struct Integration {
    pub id: Uuid,
    pub client_id: String,
    /// Accounts whose slider the user switched on.
    pub accounts: BTreeSet<Uuid>,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: Uuid,
    pub org: Uuid,
    pub reference: String,
    pub reference_type: String,
    pub currency: String,
    pub description: String,
    pub holder_name: Option<String>,
    pub product: Option<String>,
    pub subtype: String,
    /// Balances as Ponto shows them (refreshed by an `accountDetails` synchronization).
    pub current_balance: Decimal,
    pub available_balance: Decimal,
    /// Balances at the bank, moved by every booked transaction.
    pub bank_current_balance: Decimal,
    pub bank_available_balance: Decimal,
    pub balance_changed_at: DateTime<Utc>,
    pub balance_reference_date: DateTime<Utc>,
    pub authorized_at: DateTime<Utc>,
    pub authorization_expires_at: DateTime<Utc>,
    /// The bank refuses the stored authorization (syncs fail with `authorizationInvalid`).
    pub authorization_invalid: bool,
    pub internal_reference: Uuid,
    pub created_at: DateTime<Utc>,
    pub synchronized_at: DateTime<Utc>,
    pub latest_sync: Synchronization,
}

/// A transaction as the bank holds it, or as Ponto last published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxData {
    pub pending: bool,
    pub amount: Decimal,
    pub currency: String,
    pub description: String,
    pub remittance_information: Option<String>,
    pub remittance_information_type: String,
    pub counterpart_name: Option<String>,
    pub counterpart_reference: Option<String>,
    pub execution_date: Option<NaiveDate>,
    pub value_date: Option<NaiveDate>,
    pub bank_transaction_code: Option<String>,
    pub proprietary_bank_transaction_code: Option<String>,
    pub end_to_end_id: Option<String>,
    pub purpose_code: Option<String>,
    pub mandate_id: Option<String>,
    pub creditor_id: Option<String>,
    pub additional_information: Option<String>,
    pub card_reference: Option<String>,
    pub card_reference_type: Option<String>,
    pub fee: Option<Decimal>,
    pub updated_at: DateTime<Utc>,
}

/// A transaction: what the bank holds now (`bank`, `None` once deleted) and what Ponto's API
/// shows (`shown`, updated only by a synchronization, as at Ponto).
#[derive(Debug, Clone)]
pub struct Tx {
    pub id: Uuid,
    pub account: Uuid,
    /// Insertion order; listings are newest value date first, then newest inserted.
    pub seq: u64,
    pub internal_reference: Uuid,
    pub digest: String,
    pub created_at: DateTime<Utc>,
    pub bank: Option<TxData>,
    pub shown: Option<TxData>,
}

/// A synchronization, created by a client or run by "Ponto" itself.
#[derive(Debug, Clone)]
pub struct Synchronization {
    pub id: Uuid,
    pub account: Uuid,
    pub subtype: String,
    pub status: String,
    pub errors: Vec<serde_json::Value>,
    pub customer_ip_address: Option<String>,
    pub client_created: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Booked and pending transactions this synchronization created or changed.
    pub updated: Vec<Uuid>,
    pub updated_pending: Vec<Uuid>,
}

/// A pending re-authorization of an account.
#[derive(Debug, Clone)]
pub struct Reauthorization {
    pub id: Uuid,
    pub org: Uuid,
    pub integration: Uuid,
    pub account: Uuid,
    pub redirect_uri: String,
    pub used: bool,
}

/// A browser's authorization in progress, as received on `/oauth2/auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
    pub scope: String,
    pub code_challenge: String,
}

#[derive(Debug, Clone)]
pub struct Code {
    pub request: AuthRequest,
    pub org: Uuid,
    pub integration: Uuid,
    /// The token family this code's exchange starts (revoked together).
    pub grant: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub client_id: String,
    pub org: Uuid,
    pub integration: Uuid,
    pub grant: Uuid,
    pub scope: String,
    pub used: bool,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub client_id: String,
    /// `None` for client-credentials tokens.
    pub org: Option<Uuid>,
    pub integration: Option<Uuid>,
    pub grant: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
}

/// What the next matching API requests answer instead of the real thing.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// HTTP status to answer (429, 500, 503…); 200 with `body` for malformed answers.
    #[serde(default = "default_fault_status")]
    pub status: u16,
    /// How many requests it applies to.
    #[serde(default = "one")]
    pub count: u32,
    /// `Retry-After` seconds to send.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Delay before answering, in milliseconds (applies with or without a status).
    #[serde(default)]
    pub delay_ms: u64,
    /// With a 2xx status: the real answer is computed at once and held this long before it is
    /// sent (a listing that is stale by the time it arrives).
    #[serde(default)]
    pub delay_after_ms: u64,
    /// `"malformed"` (not JSON) or `"truncated"` (JSON cut in half); default: an error body.
    #[serde(default)]
    pub body: Option<String>,
    /// Only requests whose path contains this.
    #[serde(default)]
    pub path: Option<String>,
    /// Applies to every matching request for this long instead of to `count` requests (a
    /// rate limit of a period, say).
    #[serde(default)]
    pub for_ms: Option<u64>,
    /// When a period fault ends.
    #[serde(skip)]
    pub until: Option<std::time::Instant>,
}

fn default_fault_status() -> u16 {
    503
}
fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub token_requests: u64,
    pub api_requests: u64,
    pub webhook_key_requests: u64,
    /// API requests by `METHOD /path` (ids included), for tests that count one kind.
    pub requests: std::collections::BTreeMap<String, u64>,
    /// API requests being answered now.
    pub concurrent_requests: u64,
    /// The most API requests in flight at once.
    pub peak_concurrent_requests: u64,
    /// The same per Ponto organization (the access token's), by organization id.
    pub peak_concurrent_requests_by_organization: std::collections::BTreeMap<String, u64>,
    #[serde(skip)]
    pub concurrent_by_organization: HashMap<Uuid, u64>,
}

pub struct World {
    pub clock: SharedClock,
    pub clients: HashMap<String, ClientSecret>,
    pub orgs: HashMap<Uuid, Org>,
    pub accounts: HashMap<Uuid, Account>,
    pub txs: HashMap<Uuid, Vec<Tx>>,
    pub codes: HashMap<String, Code>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub faults: VecDeque<Fault>,
    pub stats: Stats,
    pub next_seq: u64,
    pub syncs: HashMap<Uuid, Synchronization>,
    pub reauthorizations: HashMap<Uuid, Reauthorization>,
    /// `Ibanity-Idempotency-Key` → the synchronization it created.
    pub idempotency: HashMap<String, Uuid>,
    /// Where the world's webhook events go.
    pub outbox: std::sync::Arc<crate::deliver::Outbox>,
    pub request_log: crate::observe::RequestLog,
}

impl World {
    pub fn new(
        clock: SharedClock,
        client_id: &str,
        client_secret: &ClientSecret,
        outbox: std::sync::Arc<crate::deliver::Outbox>,
    ) -> Self {
        Self {
            clock,
            clients: HashMap::from([(client_id.to_owned(), client_secret.clone())]),
            orgs: HashMap::new(),
            accounts: HashMap::new(),
            txs: HashMap::new(),
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            faults: VecDeque::new(),
            stats: Stats::default(),
            next_seq: 0,
            syncs: HashMap::new(),
            reauthorizations: HashMap::new(),
            idempotency: HashMap::new(),
            outbox,
            request_log: Default::default(),
        }
    }

    /// Announces an event to the webhook target (sent after the caller's change is in place:
    /// delivery runs on its own task).
    pub fn emit(&self, event: crate::events::PontoEvent) {
        self.outbox.push(event);
    }

    /// Announces an organization-level event.
    pub fn emit_org(&self, event_type: &'static str, org: Uuid) {
        self.emit(crate::events::PontoEvent::new(event_type, org, self.now()));
    }

    /// Announces an account-level event.
    pub fn emit_account(&self, event_type: &'static str, org: Uuid, account: Uuid) {
        let e = crate::events::PontoEvent::of_account(event_type, org, self.now(), account);
        self.emit(e);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The accounts of an organization at the bank, in creation order.
    pub fn org_accounts(&self, org: Uuid) -> Vec<&Account> {
        let mut v: Vec<&Account> = self.accounts.values().filter(|a| a.org == org).collect();
        v.sort_by_key(|a| (a.created_at, a.id));
        v
    }

    /// Accounts shared with a live integration, in creation order.
    pub fn shared_accounts(&self, integration: Uuid) -> Vec<&Account> {
        let Some(i) = self
            .orgs
            .values()
            .filter_map(|o| o.integration.as_ref())
            .find(|i| i.id == integration)
        else {
            return vec![];
        };
        let mut v: Vec<&Account> = i
            .accounts
            .iter()
            .filter_map(|id| self.accounts.get(id))
            .collect();
        v.sort_by_key(|a| (a.created_at, a.id));
        v
    }

    /// Revokes one token family. When it was the integration's last live one, the
    /// integration goes with it (as revoking at Ponto does).
    pub fn revoke_grant(&mut self, grant: Uuid) {
        let Some(rt) = self
            .refresh_tokens
            .values()
            .find(|t| t.grant == grant)
            .cloned()
        else {
            return;
        };
        self.refresh_tokens.retain(|_, t| t.grant != grant);
        self.access_tokens.retain(|_, t| t.grant != Some(grant));
        let others = self
            .refresh_tokens
            .values()
            .any(|t| t.integration == rt.integration && !t.used);
        if !others {
            self.revoke_integration(rt.org);
        }
    }

    /// Revokes an integration: every token issued for it stops working.
    pub fn revoke_integration(&mut self, org: Uuid) -> Option<Uuid> {
        let integration = self.orgs.get_mut(&org)?.integration.as_mut()?;
        let was_live = !integration.revoked;
        integration.revoked = true;
        let id = integration.id;
        if was_live {
            self.emit_org("pontoConnect.integration.revoked", org);
        }
        self.refresh_tokens.retain(|_, t| t.integration != id);
        self.access_tokens.retain(|_, t| t.integration != Some(id));
        Some(id)
    }

    /// An account's transactions as Ponto shows them (booked or pending), newest value date
    /// first.
    pub fn listed(&self, account: Uuid, pending: bool) -> Vec<(&Tx, &TxData)> {
        let mut v: Vec<(&Tx, &TxData)> = self
            .txs
            .get(&account)
            .map(|t| {
                t.iter()
                    .filter_map(|t| {
                        t.shown
                            .as_ref()
                            .filter(|d| d.pending == pending)
                            .map(|d| (t, d))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|(a, ad), (b, bd)| {
            (bd.value_date.or(bd.execution_date), b.seq)
                .cmp(&(ad.value_date.or(ad.execution_date), a.seq))
        });
        v
    }

    /// Transactions at the bank (what the sandbox data API shows), newest value date first.
    pub fn at_bank(&self, account: Uuid) -> Vec<(&Tx, &TxData)> {
        let mut v: Vec<(&Tx, &TxData)> = self
            .txs
            .get(&account)
            .map(|t| {
                t.iter()
                    .filter_map(|t| t.bank.as_ref().map(|d| (t, d)))
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|(a, ad), (b, bd)| {
            (bd.value_date.or(bd.execution_date), b.seq)
                .cmp(&(ad.value_date.or(ad.execution_date), a.seq))
        });
        v
    }

    pub fn tx_mut(&mut self, id: Uuid) -> Option<&mut Tx> {
        self.txs
            .values_mut()
            .flat_map(|v| v.iter_mut())
            .find(|t| t.id == id)
    }

    /// Adds a transaction at the bank; booked ones move the bank balances. Ponto shows it
    /// after the next synchronization.
    pub fn add_bank_tx(&mut self, account: Uuid, data: TxData) -> Uuid {
        let id = Uuid::new_v4();
        self.next_seq += 1;
        if !data.pending
            && let Some(a) = self.accounts.get_mut(&account)
        {
            a.bank_current_balance += data.amount;
            a.bank_available_balance += data.amount;
        }
        let digest = Sha256::digest(id.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let created_at = data.updated_at;
        let tx = Tx {
            id,
            account,
            seq: self.next_seq,
            internal_reference: Uuid::new_v4(),
            digest,
            created_at,
            bank: Some(data),
            shown: None,
        };
        self.txs.entry(account).or_default().push(tx);
        id
    }
}
