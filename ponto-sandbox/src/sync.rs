//! Owns the simulator's synchronizations: what Ponto's API shows changes only when a
//! synchronization copies the bank's state — `accountDetails` for balances,
//! `accountTransactions` for booked transactions, `accountTransactionsWithUnsettled` for booked
//! and pending ones — or fails with `authorizationInvalid` when the bank refuses the consent.

use super::state::{Synchronization, World};
use crate::events::SyncOutcome;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

pub const SUBTYPES: [&str; 3] = [
    "accountDetails",
    "accountTransactions",
    "accountTransactionsWithUnsettled",
];

fn authorization_invalid() -> Value {
    json!({
        "code": "authorizationInvalid",
        "detail": "The authorization is invalid, you should ask the customer to reauthorize the account",
        "meta": {},
    })
}

impl World {
    pub fn new_sync(
        &self,
        account: Uuid,
        subtype: &str,
        ip: Option<String>,
        client_created: bool,
        now: DateTime<Utc>,
    ) -> Synchronization {
        Synchronization {
            id: Uuid::new_v4(),
            account,
            subtype: subtype.to_owned(),
            status: "pending".into(),
            errors: vec![],
            customer_ip_address: ip,
            client_created,
            created_at: now,
            updated_at: now,
            updated: vec![],
            updated_pending: vec![],
        }
    }

    /// Creates a synchronization in `pending`; the caller completes it later.
    pub fn create_sync(
        &mut self,
        account: Uuid,
        subtype: &str,
        ip: Option<String>,
        client_created: bool,
    ) -> Uuid {
        let s = self.new_sync(account, subtype, ip, client_created, self.now());
        let id = s.id;
        self.syncs.insert(id, s);
        id
    }

    pub fn set_sync_status(&mut self, id: Uuid, status: &str) {
        let now = self.now();
        if let Some(s) = self.syncs.get_mut(&id) {
            s.status = status.into();
            s.updated_at = now;
        }
    }

    /// Runs a synchronization to its end: success with what it published, or error; then
    /// announces what it changed, as Ponto's webhooks do.
    pub fn complete_sync(&mut self, id: Uuid) {
        let Some(sync) = self.syncs.get(&id).cloned() else {
            return;
        };
        let now = self.now();
        let result = self.publish(sync.account, &sync.subtype);
        let Some(s) = self.syncs.get_mut(&id) else {
            return;
        };
        let outcome = match result {
            Ok(p) => {
                s.status = "success".into();
                s.updated = p.updated;
                s.updated_pending = p.updated_pending;
                p.outcome
            }
            Err(e) => {
                s.status = "error".into();
                s.errors = vec![e];
                SyncOutcome::failed()
            }
        };
        s.updated_at = now;
        let done = s.clone();
        let Some(a) = self.accounts.get_mut(&done.account) else {
            return;
        };
        a.latest_sync = done;
        a.synchronized_at = now;
        let org = a.org;
        for e in outcome.events(org, sync.account, id, &sync.subtype, now) {
            self.emit(e);
        }
    }

    /// What Ponto does on its own schedule (and right after an account is authorized): every
    /// subtype for every shared account of the organization, completed at once.
    pub fn ponto_side_sync(&mut self, org: Uuid) -> Vec<Uuid> {
        let accounts: Vec<Uuid> = self
            .orgs
            .get(&org)
            .and_then(|o| o.integration.as_ref())
            .filter(|i| !i.revoked)
            .map(|i| i.accounts.iter().copied().collect())
            .unwrap_or_default();
        accounts
            .into_iter()
            .flat_map(|a| self.sync_account_now(a))
            .collect()
    }

    /// Every subtype for one account, completed at once.
    pub fn sync_account_now(&mut self, account: Uuid) -> Vec<Uuid> {
        SUBTYPES
            .iter()
            .map(|subtype| {
                let id = self.create_sync(account, subtype, None, false);
                self.complete_sync(id);
                id
            })
            .collect()
    }

    /// Copies the bank's state into what the API shows, per subtype: the booked and pending
    /// transactions created or changed, and what the webhooks announce.
    fn publish(&mut self, account: Uuid, subtype: &str) -> Result<Published, Value> {
        let now = self.now();
        let a = self
            .accounts
            .get_mut(&account)
            .ok_or_else(authorization_invalid)?;
        if a.authorization_invalid || a.authorization_expires_at <= now {
            return Err(authorization_invalid());
        }
        let mut outcome = SyncOutcome::unchanged();
        if subtype == "accountDetails" {
            if (a.current_balance, a.available_balance)
                != (a.bank_current_balance, a.bank_available_balance)
            {
                a.current_balance = a.bank_current_balance;
                a.available_balance = a.bank_available_balance;
                a.balance_changed_at = now;
                outcome.details_changed = true;
            }
            a.balance_reference_date = now
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc();
            return Ok(Published {
                updated: vec![],
                updated_pending: vec![],
                outcome,
            });
        }
        let with_pending = subtype == "accountTransactionsWithUnsettled";
        let (mut updated, mut updated_pending) = (vec![], vec![]);
        for tx in self.txs.entry(account).or_default().iter_mut() {
            // Pending transactions change only with the subtype that includes them.
            let concerns = |pending: bool| !pending || with_pending;
            let bank_concerned = tx.bank.as_ref().is_some_and(|b| concerns(b.pending));
            let shown_concerned = tx.shown.as_ref().is_some_and(|s| concerns(s.pending));
            if !(bank_concerned || shown_concerned) || tx.bank == tx.shown {
                continue;
            }
            let new = tx.shown.is_none();
            let tx_was_pending = tx.shown.as_ref().is_some_and(|s| s.pending);
            tx.shown = tx.bank.clone();
            match &tx.shown {
                Some(d) if d.pending => {
                    updated_pending.push(tx.id);
                    *if new {
                        &mut outcome.created_pending
                    } else {
                        &mut outcome.updated_pending
                    } += 1;
                }
                Some(_) => {
                    updated.push(tx.id);
                    *if new {
                        &mut outcome.created
                    } else {
                        &mut outcome.updated
                    } += 1;
                }
                // Deleted at the bank: no longer listed, but the synchronization changed the
                // set, so its webhook says so (a client rereads the set and sees the absence).
                None => {
                    if tx_was_pending {
                        outcome.updated_pending += 1;
                    } else {
                        outcome.updated += 1;
                    }
                }
            }
        }
        Ok(Published {
            updated,
            updated_pending,
            outcome,
        })
    }
}

/// What a synchronization published: the transactions it lists as updated, and the outcome
/// its webhooks announce.
struct Published {
    updated: Vec<Uuid>,
    updated_pending: Vec<Uuid>,
    outcome: SyncOutcome,
}
