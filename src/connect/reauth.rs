//! Owns re-authorization of an account's consent: our own long-lived link
//! (`/reauthorize/{account}?t=…`, sealed, bound to organization and account, expiring) that
//! mints a fresh Ponto re-authorization request when opened, `requestReauthorization`'s one-time
//! URL for front-ends, the per-account limit on Ponto requests, and the return from Ponto, which
//! only the browser that went there (the flow cookie) may complete.

use super::flow::{Next, Refusal, Started, back, hash, random_token, same_browser};
use super::{Connect, FLOW_TTL_SECS};
use crate::domain::ids::{AccountId, OrganizationId};
use crate::domain::status::FlowOutcome;
use crate::error::{AppError, AppResult};
use crate::store::accounts::Account;
use crate::store::flows::{NewFlow, Purpose, Ticket};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Why a re-authorization link was refused (stable codes on the error page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    Invalid,
    Expired,
    /// Too many re-authorization requests for the account; try again in this many seconds.
    RateLimited {
        retry_after_secs: i64,
    },
}

impl LinkRefusal {
    pub fn code(self) -> &'static str {
        match self {
            LinkRefusal::Invalid => "LINK_INVALID",
            LinkRefusal::Expired => "LINK_EXPIRED",
            LinkRefusal::RateLimited { .. } => "RATE_LIMITED",
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

    /// `GET /reauthorize/{account}?t=…`: checks the token, counts the request against the
    /// account's limit, then sends the browser (now bound by the flow cookie) to a fresh Ponto
    /// re-authorization request for that account.
    /// Shielded: it counts against the limit and asks Ponto, then answers the link.
    pub async fn open_reauthorization_link(
        &self,
        account: &str,
        token: &str,
        cookie: Option<&str>,
    ) -> AppResult<Result<Started, LinkRefusal>> {
        let this = self.clone();
        let (account, token) = (account.to_owned(), token.to_owned());
        let cookie = cookie.map(str::to_owned);
        self.shield
            .run(async move { this.open_link(&account, &token, cookie.as_deref()).await })
            .await
    }

    #[tracing::instrument(name = "open_reauthorization_link", skip_all, fields(organization = tracing::field::Empty))]
    async fn open_link(
        &self,
        account: &str,
        token: &str,
        cookie: Option<&str>,
    ) -> AppResult<Result<Started, LinkRefusal>> {
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
        super::record_organization(org);
        let Some(account) = self.store.account(org, AccountId(claims.a)).await? else {
            return Ok(Err(LinkRefusal::Invalid));
        };
        if let Err(retry_after_secs) = self.claim_reauthorization(org, account.id).await? {
            return Ok(Err(LinkRefusal::RateLimited { retry_after_secs }));
        }
        let flow = self
            .create_reauthorization_flow(org, &account, &self.public("reauthorize/done"), "system")
            .await?
            .0;
        self.to_ponto(flow, org, &account, cookie).await.map(Ok)
    }

    /// `requestReauthorization`: a one-time URL of ours (10 minutes); opening it binds the
    /// browser and goes on to Ponto's page for the account, which sends it back through us to the
    /// checked `returnUrl`. Counts against the account's limit (shielded: once counted, the
    /// link is made).
    pub async fn request_reauthorization(
        &self,
        org: OrganizationId,
        account: AccountId,
        return_url: &str,
        actor: &str,
    ) -> AppResult<(String, DateTime<Utc>)> {
        let this = self.clone();
        let (return_url, actor) = (return_url.to_owned(), actor.to_owned());
        self.shield
            .run(async move { this.request_link(org, account, &return_url, &actor).await })
            .await
    }

    #[tracing::instrument(name = "request_reauthorization", skip_all, fields(organization = %org))]
    async fn request_link(
        &self,
        org: OrganizationId,
        account: AccountId,
        return_url: &str,
        actor: &str,
    ) -> AppResult<(String, DateTime<Utc>)> {
        let return_url = self.check_return_url(return_url)?;
        self.ponto()?;
        let account = self
            .store
            .account(org, account)
            .await?
            .ok_or_else(|| AppError::not_found("bank account"))?;
        if let Err(retry_after_secs) = self.claim_reauthorization(org, account.id).await? {
            return Err(AppError::RateLimited {
                message: "too many re-authorization requests for this account".into(),
                retry_after_secs: retry_after_secs.max(1) as u64,
            });
        }
        let (_, ticket, expires_at) = self
            .create_reauthorization_flow(org, &account, return_url.as_str(), actor)
            .await?;
        Ok((
            format!("{}?ticket={ticket}", self.public("oauth/ponto/reauthorize")),
            expires_at,
        ))
    }

    /// `GET /oauth/ponto/reauthorize?ticket=…`: the URL `requestReauthorization` handed out.
    /// Shielded: the ticket works once, so using it and asking Ponto finish together.
    pub async fn start_reauthorization(
        &self,
        ticket: &str,
        cookie: Option<&str>,
    ) -> AppResult<Result<Started, Next>> {
        let this = self.clone();
        let (ticket, cookie) = (ticket.to_owned(), cookie.map(str::to_owned));
        self.shield
            .run(async move {
                this.use_reauthorization_ticket(&ticket, cookie.as_deref())
                    .await
            })
            .await
    }

    #[tracing::instrument(name = "start_reauthorization", skip_all, fields(organization = tracing::field::Empty))]
    async fn use_reauthorization_ticket(
        &self,
        ticket: &str,
        cookie: Option<&str>,
    ) -> AppResult<Result<Started, Next>> {
        let flow = match self
            .store
            .use_ticket(&hash(ticket), Purpose::Reauthorize)
            .await?
        {
            Ticket::Unknown => return Ok(Err(Next::Refused(Refusal::InvalidTicket))),
            Ticket::AlreadyUsed => return Ok(Err(Next::Refused(Refusal::TicketAlreadyUsed))),
            Ticket::Expired(f) => {
                self.store.complete_flow(f.id, FlowOutcome::Expired).await?;
                return Ok(Err(Next::Redirect(back(
                    &f.return_url,
                    FlowOutcome::Expired,
                ))));
            }
            Ticket::Fresh(f) => f,
        };
        let org = flow.organization_id;
        super::record_organization(org);
        let account = match flow.account_id {
            Some(a) => self.store.account(org, AccountId(a)).await?,
            None => None,
        };
        let Some(account) = account else {
            return Ok(Err(Next::Refused(Refusal::InvalidTicket)));
        };
        match self.to_ponto(flow.id, org, &account, cookie).await {
            Ok(started) => Ok(Ok(started)),
            Err(e) => {
                tracing::warn!(organization = %org, error = %crate::error::Esc(&e), "Ponto re-authorization request failed");
                self.store
                    .complete_flow(flow.id, FlowOutcome::UpstreamUnavailable)
                    .await?;
                Ok(Err(Next::Redirect(back(
                    &flow.return_url,
                    FlowOutcome::UpstreamUnavailable,
                ))))
            }
        }
    }

    /// One more Ponto request for the account, or how many seconds until the next is allowed.
    async fn claim_reauthorization(
        &self,
        org: OrganizationId,
        account: AccountId,
    ) -> AppResult<Result<(), i64>> {
        let limit = self.reauth_limit;
        Ok(self
            .store
            .claim_reauthorization(org, account, limit.window, limit.requests)
            .await?
            .map_err(|next| (next - self.clock().now()).num_seconds().max(1)))
    }

    /// A REAUTHORIZE flow with a one-time ticket; returns the flow, the ticket and its expiry.
    async fn create_reauthorization_flow(
        &self,
        org: OrganizationId,
        a: &Account,
        return_url: &str,
        actor: &str,
    ) -> AppResult<(uuid::Uuid, String, DateTime<Utc>)> {
        let ticket = random_token();
        let expires_at = self.clock().now() + Duration::seconds(FLOW_TTL_SECS);
        let mut tx = self.store.begin_write().await?;
        let flow = tx
            .create_oauth_flow(
                org,
                NewFlow {
                    purpose: Purpose::Reauthorize,
                    organization_name: None,
                    account_id: Some(a.id.0),
                    ticket_hash: hash(&ticket),
                    return_url: return_url.to_owned(),
                    reconnect: false,
                    created_by: actor.to_owned(),
                    expires_at,
                },
            )
            .await?;
        tx.commit().await?;
        Ok((flow, ticket, expires_at))
    }

    /// Binds the flow to a fresh `state` and this browser's cookie (the one it has, so a connect
    /// flow pending in the same browser keeps working, else a new one), and asks Ponto for a
    /// re-authorization request that comes back to `/oauth/ponto/reauthorized`.
    async fn to_ponto(
        &self,
        flow: uuid::Uuid,
        org: OrganizationId,
        a: &Account,
        cookie: Option<&str>,
    ) -> AppResult<Started> {
        let ponto = self.ponto()?;
        let state = random_token();
        let cookie = cookie.map_or_else(random_token, str::to_owned);
        let expires_at = self.clock().now() + Duration::seconds(FLOW_TTL_SECS * 6);
        self.store
            .bind_flow(flow, &hash(&state), Some(&hash(&cookie)), None, expires_at)
            .await?;
        let token = self.tokens.access_token(org).await?;
        let redirect = format!("{}?state={state}", self.public("oauth/ponto/reauthorized"));
        let url = ponto
            .request_reauthorization(&token, &a.ponto_id, &redirect)
            .await?;
        Ok(Started {
            redirect: url,
            cookie_value: cookie,
            cookie_max_age_secs: FLOW_TTL_SECS * 6,
        })
    }

    /// Back from Ponto's re-authorization page, in the browser that went there: read the
    /// account again soon, and go on.
    #[tracing::instrument(skip_all, fields(organization = tracing::field::Empty))]
    pub async fn reauthorized(
        &self,
        state: Option<&str>,
        cookie: Option<&str>,
        error: Option<&str>,
    ) -> AppResult<Next> {
        let Some(flow) = (match state {
            Some(s) => {
                self.store
                    .flow_by_state(&hash(s), Purpose::Reauthorize)
                    .await?
            }
            None => None,
        }) else {
            return Ok(Next::Refused(Refusal::InvalidState));
        };
        super::record_organization(flow.organization_id);
        if !same_browser(&flow, cookie) {
            return Ok(Next::Refused(Refusal::BrowserMismatch));
        }
        if !self
            .store
            .complete_flow(flow.id, FlowOutcome::InProgress)
            .await?
        {
            return Ok(Next::Refused(Refusal::StateAlreadyUsed));
        }
        let status = if flow.expires_at < self.clock().now() {
            FlowOutcome::Expired
        } else if error.is_some() {
            FlowOutcome::AccessDenied
        } else {
            FlowOutcome::Reauthorized
        };
        self.store.set_flow_outcome(flow.id, status).await?;
        if status == FlowOutcome::Reauthorized {
            self.store.read_soon(flow.organization_id).await?;
            self.store.bus().wake_reads();
        }
        Ok(Next::Redirect(back(&flow.return_url, status)))
    }
}
