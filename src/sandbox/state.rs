//! Owns the simulator's world, in memory: Ponto organizations and their integration, accounts at
//! the sandbox bank, transactions, OAuth codes and tokens, injected faults and counters.

use crate::clock::SharedClock;
use crate::secret::Secret;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
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
    pub created_at: DateTime<Utc>,
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
    pub current_balance: Decimal,
    pub available_balance: Decimal,
    pub balance_changed_at: DateTime<Utc>,
    pub balance_reference_date: DateTime<Utc>,
    pub authorized_at: DateTime<Utc>,
    pub authorization_expires_at: DateTime<Utc>,
    pub internal_reference: Uuid,
    pub created_at: DateTime<Utc>,
    pub synchronized_at: DateTime<Utc>,
    pub latest_sync: SyncSummary,
}

/// The `latestSynchronization` shown in account and transaction metadata.
#[derive(Debug, Clone)]
pub struct SyncSummary {
    pub id: Uuid,
    pub subtype: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Tx {
    pub id: Uuid,
    pub account: Uuid,
    pub pending: bool,
    /// Insertion order; listings are newest value date first, then newest inserted.
    pub seq: u64,
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
    pub internal_reference: Uuid,
    pub digest: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub client_id: String,
    pub org: Uuid,
    pub integration: Uuid,
    pub scope: String,
    pub used: bool,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub client_id: String,
    /// `None` for client-credentials tokens.
    pub org: Option<Uuid>,
    pub integration: Option<Uuid>,
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
    /// `"malformed"` (not JSON) or `"truncated"` (JSON cut in half); default: an error body.
    #[serde(default)]
    pub body: Option<String>,
    /// Only requests whose path contains this.
    #[serde(default)]
    pub path: Option<String>,
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
}

pub struct World {
    pub clock: SharedClock,
    pub clients: HashMap<String, Secret>,
    pub orgs: HashMap<Uuid, Org>,
    pub accounts: HashMap<Uuid, Account>,
    pub txs: HashMap<Uuid, Vec<Tx>>,
    pub codes: HashMap<String, Code>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub faults: VecDeque<Fault>,
    pub stats: Stats,
    pub next_seq: u64,
}

impl World {
    pub fn new(clock: SharedClock, client_id: &str, client_secret: &Secret) -> Self {
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
        }
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

    /// Revokes an integration: every token issued for it stops working.
    pub fn revoke_integration(&mut self, org: Uuid) -> Option<Uuid> {
        let integration = self.orgs.get_mut(&org)?.integration.as_mut()?;
        integration.revoked = true;
        let id = integration.id;
        self.refresh_tokens.retain(|_, t| t.integration != id);
        self.access_tokens.retain(|_, t| t.integration != Some(id));
        Some(id)
    }

    /// An account's transactions (booked or pending), newest value date first.
    pub fn listed(&self, account: Uuid, pending: bool) -> Vec<&Tx> {
        let mut v: Vec<&Tx> = self
            .txs
            .get(&account)
            .map(|t| t.iter().filter(|t| t.pending == pending).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| {
            (b.value_date.or(b.execution_date), b.seq)
                .cmp(&(a.value_date.or(a.execution_date), a.seq))
        });
        v
    }
}
