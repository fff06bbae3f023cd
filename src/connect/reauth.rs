//! Owns re-authorization of an account's consent: our own long-lived link
//! (`/reauthorize/{account}?t=…`, sealed, bound to organization and account, expiring) that
//! mints a fresh Ponto re-authorization request when opened, `requestReauthorization` for
//! front-ends, and the landing page Ponto sends the browser back to.

use super::flow::{Next, hash};
use super::{Connect, FLOW_TTL_SECS};
use crate::domain::ids::{AccountId, OrganizationId};
use crate::error::{AppError, AppResult};
use crate::store::accounts::Account;
use crate::store::flows::NewFlow;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Why a re-authorization link was refused (stable codes on the error page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    Invalid,
    Expired,
}

impl LinkRefusal {
    pub fn code(self) -> &'static str {
        match self {
            LinkRefusal::Invalid => "LINK_INVALID",
            LinkRefusal::Expired => "LINK_EXPIRED",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    o: uuid::Uuid,
    a: uuid::Uuid,
    e: i64,
}

fn link_binding() -> crate::crypto::Binding<'static> {
    crate::crypto::Binding {
        table: "link",
        column: "reauthorize",
        row: uuid::Uuid::nil(),
        organization: uuid::Uuid::nil(),
    }
}

impl Connect {
    /// Our re-authorization URL for an account, valid for the configured lifetime.
    pub fn reauthorization_link(
        &self,
        org: OrganizationId,
        account: AccountId,
    ) -> AppResult<String> {
        let exp = self.clock().now() + Duration::days(self.reauth_link_days);
        let claims = serde_json::to_vec(&Claims {
            o: org.0,
            a: account.0,
            e: exp.timestamp(),
        })
        .expect("claims serialize");
        let sealed = self.keys.seal(&claims, link_binding())?;
        Ok(format!(
            "{}?t={}",
            self.public(&format!("reauthorize/{account}")),
            URL_SAFE_NO_PAD.encode(sealed)
        ))
    }

    /// `GET /reauthorize/{account}?t=…`: checks the token, then sends the browser to a fresh
    /// Ponto re-authorization request for that account.
    pub async fn open_reauthorization_link(
        &self,
        account: &str,
        token: &str,
    ) -> AppResult<Result<String, LinkRefusal>> {
        let Some(claims) = URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| self.keys.open(&b, link_binding()).ok())
            .and_then(|b| serde_json::from_slice::<Claims>(&b).ok())
        else {
            return Ok(Err(LinkRefusal::Invalid));
        };
        if uuid::Uuid::parse_str(account).ok() != Some(claims.a) {
            return Ok(Err(LinkRefusal::Invalid));
        }
        if claims.e < self.clock().now().timestamp() {
            return Ok(Err(LinkRefusal::Expired));
        }
        let org = OrganizationId(claims.o);
        let Some(account) = self.store.account(org, AccountId(claims.a)).await? else {
            return Ok(Err(LinkRefusal::Invalid));
        };
        let done = self.public("reauthorize/done");
        self.ponto_reauthorization(org, &account, &done, "system")
            .await
            .map(Ok)
    }

    /// `requestReauthorization`: Ponto's link for the account; the browser comes back through
    /// us to the checked `returnUrl`.
    pub async fn request_reauthorization(
        &self,
        org: OrganizationId,
        account: AccountId,
        return_url: &str,
        actor: &str,
    ) -> AppResult<String> {
        let return_url = self.check_return_url(return_url)?;
        let account = self
            .store
            .account(org, account)
            .await?
            .ok_or_else(|| AppError::not_found("bank account"))?;
        self.ponto_reauthorization(org, &account, return_url.as_str(), actor)
            .await
    }

    async fn ponto_reauthorization(
        &self,
        org: OrganizationId,
        a: &Account,
        return_url: &str,
        actor: &str,
    ) -> AppResult<String> {
        let ponto = self.ponto()?;
        let mut state = [0u8; 32];
        rand::rng().fill_bytes(&mut state);
        let state = URL_SAFE_NO_PAD.encode(state);
        let expires_at = self.clock().now() + Duration::seconds(FLOW_TTL_SECS * 6);
        let mut tx = self.store.begin_write().await?;
        let flow = tx
            .create_oauth_flow(
                org,
                NewFlow {
                    purpose: "REAUTHORIZE",
                    account_id: Some(a.id.0),
                    ticket_hash: hash(&format!("reauth:{state}")),
                    return_url: return_url.to_owned(),
                    reconnect: false,
                    created_by: actor.to_owned(),
                    expires_at,
                },
            )
            .await?;
        tx.commit().await?;
        self.store
            .bind_flow(flow, &hash(&state), None, None, expires_at)
            .await?;
        let token = self.tokens.access_token(org).await?;
        let redirect = format!("{}?state={state}", self.public("oauth/ponto/reauthorized"));
        Ok(ponto
            .request_reauthorization(&token, &a.ponto_id, &redirect)
            .await?)
    }

    /// Back from Ponto's re-authorization page: read the account again soon, and go on.
    pub async fn reauthorized(&self, state: Option<&str>, error: Option<&str>) -> AppResult<Next> {
        let Some(flow) = (match state {
            Some(s) => self.store.flow_by_state(&hash(s)).await?,
            None => None,
        })
        .filter(|f| f.purpose == "REAUTHORIZE") else {
            return Ok(Next::Refused(super::flow::Refusal::InvalidState));
        };
        if !self.store.complete_flow(flow.id, "IN_PROGRESS").await? {
            return Ok(Next::Refused(super::flow::Refusal::StateAlreadyUsed));
        }
        let status = if error.is_some() {
            "ACCESS_DENIED"
        } else {
            "REAUTHORIZED"
        };
        self.store.set_flow_outcome(flow.id, status).await?;
        if error.is_none() {
            self.store.read_soon(flow.organization_id).await?;
            self.store.bus().wake_reads();
        }
        let mut back = url::Url::parse(&flow.return_url).map_err(AppError::internal)?;
        back.query_pairs_mut().append_pair("ponto_status", status);
        Ok(Next::Redirect(back.to_string()))
    }
}
