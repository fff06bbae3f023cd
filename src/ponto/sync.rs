//! Owns the client side of synchronizations and re-authorization requests: creating and
//! reading synchronizations (with an idempotency key, so a retried POST creates one), listing
//! what a synchronization updated, and asking for a re-authorization link.

use super::client::{Page, PontoClient};
use super::error::{ApiErrorEntry, PontoError};
use super::model::{Single, Transaction};
use super::transport::{self, Replay};
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncSubtype {
    AccountDetails,
    AccountTransactions,
    /// Booked and pending transactions (the only subtype that refreshes pending ones).
    AccountTransactionsWithUnsettled,
}

impl SyncSubtype {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountDetails => "accountDetails",
            Self::AccountTransactions => "accountTransactions",
            Self::AccountTransactionsWithUnsettled => "accountTransactionsWithUnsettled",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncAttributes {
    pub resource_type: String,
    pub resource_id: String,
    pub subtype: String,
    /// `pending`, `running`, `success` or `error`.
    pub status: String,
    #[serde(default)]
    pub errors: Vec<ApiErrorEntry>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Synchronization {
    pub id: String,
    pub attributes: SyncAttributes,
}

impl Synchronization {
    pub fn is_done(&self) -> bool {
        matches!(self.attributes.status.as_str(), "success" | "error")
    }

    /// Whether it failed because the bank no longer accepts the account's authorization.
    pub fn authorization_invalid(&self) -> bool {
        self.attributes.status == "error"
            && self
                .attributes
                .errors
                .iter()
                .any(|e| e.code == "authorizationInvalid")
    }
}

impl PontoClient {
    /// Asks Ponto to synchronize an account with the bank. Ponto answers
    /// `accountRecentlySynchronized` when one was asked for too soon.
    pub async fn create_synchronization(
        &self,
        token: &Secret,
        account_id: &str,
        subtype: SyncSubtype,
        customer_ip: &str,
    ) -> Result<Synchronization, PontoError> {
        let body = json!({"data": {"type": "synchronization", "attributes": {
            "resourceType": "account", "resourceId": account_id, "subtype": subtype.as_str(), "customerIpAddress": customer_ip,
        }}});
        let key = uuid::Uuid::new_v4().to_string();
        let url = self.api("synchronizations");
        let bytes = transport::send(&self.config().retry, Replay::Safe, || {
            self.http()
                .post(&url)
                .bearer_auth(token.expose())
                .header("Ibanity-Idempotency-Key", &key)
                .json(&body)
        })
        .await?;
        let doc: Single<SyncAttributes> = Self::parse(&bytes)?;
        Ok(Synchronization {
            id: doc.data.id,
            attributes: doc.data.attributes,
        })
    }

    pub async fn synchronization(
        &self,
        token: &Secret,
        id: &str,
    ) -> Result<Synchronization, PontoError> {
        let bytes = self
            .get(&self.api(&format!("synchronizations/{id}")), token)
            .await?;
        let doc: Single<SyncAttributes> = Self::parse(&bytes)?;
        Ok(Synchronization {
            id: doc.data.id,
            attributes: doc.data.attributes,
        })
    }

    /// One page of the booked (or pending) transactions a synchronization created or changed.
    pub async fn updated_transactions_page(
        &self,
        token: &Secret,
        sync_id: &str,
        pending: bool,
        next: Option<&str>,
    ) -> Result<Page<Transaction>, PontoError> {
        let kind = if pending {
            "updated-pending-transactions"
        } else {
            "updated-transactions"
        };
        self.transactions_at(
            token,
            &format!("synchronizations/{sync_id}/{kind}"),
            pending,
            next,
        )
        .await
    }

    /// A link where the customer renews the account's consent at the bank; afterwards the
    /// browser comes back to `redirect_uri`.
    pub async fn request_reauthorization(
        &self,
        token: &Secret,
        account_id: &str,
        redirect_uri: &str,
    ) -> Result<String, PontoError> {
        let body = json!({"data": {"type": "reauthorizationRequest", "attributes": {"redirectUri": redirect_uri}}});
        let url = self.api(&format!("accounts/{account_id}/reauthorization-requests"));
        let bytes = transport::send(&self.config().retry, Replay::Once, || {
            self.http()
                .post(&url)
                .bearer_auth(token.expose())
                .json(&body)
        })
        .await?;
        #[derive(Deserialize)]
        struct Doc {
            data: Data,
        }
        #[derive(Deserialize)]
        struct Data {
            links: Links,
        }
        #[derive(Deserialize)]
        struct Links {
            redirect: String,
        }
        let doc: Doc = Self::parse(&bytes)?;
        Ok(doc.data.links.redirect)
    }
}
