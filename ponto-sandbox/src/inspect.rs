//! Owns what a test may read of the sandbox's world beyond the Ponto and control APIs: owned
//! answers to narrow questions (which tokens were issued, is one spent, how many faults wait).
//! The world itself stays private, so no caller holds its lock or depends on its layout.

use crate::SandboxHandle;
use crate::state::World;
use std::sync::MutexGuard;

impl SandboxHandle {
    fn world(&self) -> MutexGuard<'_, World> {
        self.state.world.lock().expect("sandbox state")
    }

    /// The id of the transaction at the bank with this remittance information.
    pub fn transaction_id_by_remittance(&self, remittance: &str) -> Option<String> {
        self.world()
            .txs
            .values()
            .flatten()
            .find(|t| {
                t.bank
                    .as_ref()
                    .is_some_and(|d| d.remittance_information.as_deref() == Some(remittance))
            })
            .map(|t| t.id.to_string())
    }

    /// Faults queued at `/_sandbox/faults` that no request has consumed yet.
    pub fn queued_faults(&self) -> usize {
        self.world().faults.len()
    }

    /// Every access and refresh token handed out, spent or not.
    pub fn issued_tokens(&self) -> Vec<String> {
        let world = self.world();
        world
            .access_tokens
            .keys()
            .chain(world.refresh_tokens.keys())
            .cloned()
            .collect()
    }

    /// Whether this refresh token was spent; `None` when the sandbox never issued it.
    pub fn refresh_token_spent(&self, token: &str) -> Option<bool> {
        self.world().refresh_tokens.get(token).map(|t| t.used)
    }

    /// Refresh tokens issued and not yet spent.
    pub fn live_refresh_tokens(&self) -> usize {
        self.world()
            .refresh_tokens
            .values()
            .filter(|t| !t.used)
            .count()
    }

    /// The public keys served at `/webhooks/keys`, as a JWK set.
    pub fn webhook_keys(&self) -> serde_json::Value {
        self.webhook_signer().jwks()
    }

    /// A copy of the current webhook signing keys, to sign many bodies without a request each
    /// (a benchmark's senders).
    pub fn webhook_signer(&self) -> crate::webhooks::Signer {
        self.state.signer.read().expect("signer").clone()
    }

    /// Re-authorization requests received through the API.
    pub fn reauthorization_requests(&self) -> usize {
        self.world().reauthorizations.len()
    }
}
