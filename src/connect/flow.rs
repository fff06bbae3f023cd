//! Owns the browser flow of linking Ponto: `connectPonto` hands out a one-time ticket; opening
//! it binds a fresh OAuth `state` and PKCE verifier to a cookie of that browser and goes to
//! Ponto; the callback requires the same browser, exchanges the code, fetches the Ponto
//! organization and its accounts, stores everything (tokens sealed), and sends the browser back
//! to the checked `returnUrl` with only `ponto_status` added.

use super::{Connect, FLOW_TTL_SECS, SCOPES, account_upsert};
use crate::domain::ids::OrganizationId;
use crate::domain::status::{ConnectionStatus, FlowOutcome};
use crate::error::{AppError, AppResult};
use crate::ponto::model::TokenSet;
use crate::secret::Secret;
use crate::store::connection::{Link, LinkOutcome};
use crate::store::flows::{NewFlow, OAuthFlow, Purpose, Ticket};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What the browser does next when a flow step is refused outright (no trustworthy place to
/// send it back to): an error page with this stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InvalidTicket,
    TicketAlreadyUsed,
    InvalidState,
    StateAlreadyUsed,
    BrowserMismatch,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::InvalidTicket => "INVALID_TICKET",
            Refusal::TicketAlreadyUsed => "TICKET_ALREADY_USED",
            Refusal::InvalidState => "INVALID_STATE",
            Refusal::StateAlreadyUsed => "STATE_ALREADY_USED",
            Refusal::BrowserMismatch => "BROWSER_MISMATCH",
        }
    }
}

/// A step's answer: go somewhere, or an error page.
#[derive(Debug)]
pub enum Next {
    Redirect(String),
    Refused(Refusal),
}

/// `/oauth/ponto/start` succeeded: set the cookie, go to Ponto.
#[derive(Debug)]
pub struct Started {
    pub redirect: String,
    pub cookie_value: String,
    pub cookie_max_age_secs: i64,
}

/// What the connect confirmation page shows (`GET /oauth/ponto/start`), and the CSRF token its
/// form posts back.
#[derive(Debug)]
pub struct Confirmation {
    /// The display name the minting token carried (`org_name`), else the organization's
    /// external id.
    pub organization: String,
    /// Where the browser returns afterwards.
    pub return_origin: String,
    pub csrf: String,
}

/// The confirmation form's token: bound to the flow cookie and the ticket, so only a page served
/// to this browser can continue (a cross-site POST has neither the cookie nor the token).
pub fn csrf_token(cookie: &str, ticket: &str) -> String {
    hash(&format!("ponto-bridge/confirm|{cookie}|{ticket}"))
}

/// A fresh random value: tickets, states, cookies.
pub(crate) fn random_token() -> String {
    random()
}

pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

fn random() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// Only hashes of tickets, states and cookies are stored.
pub(crate) fn hash(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `cookie` is the one the flow was bound to.
pub(crate) fn same_browser(flow: &OAuthFlow, cookie: Option<&str>) -> bool {
    matches!((cookie, &flow.browser_binding_hash), (Some(c), Some(h)) if hash(c) == *h)
}

/// `returnUrl` with `ponto_status` appended and nothing else.
pub(crate) fn back(return_url: &str, status: FlowOutcome) -> String {
    match url::Url::parse(return_url) {
        Ok(mut u) => {
            u.query_pairs_mut()
                .append_pair("ponto_status", status.as_str());
            u.to_string()
        }
        Err(_) => return_url.to_owned(),
    }
}

impl Connect {
    /// `connectPonto`: a one-time URL of ours (10 minutes) that starts the flow in a browser.
    #[tracing::instrument(skip_all, fields(organization = %org))]
    pub async fn create_ticket(
        &self,
        org: OrganizationId,
        organization_name: Option<&str>,
        actor: &str,
        return_url: &str,
        reconnect: bool,
    ) -> AppResult<(String, DateTime<Utc>)> {
        let return_url = self.check_return_url(return_url)?;
        self.ponto()?;
        if !reconnect
            && let Some(c) = self.store.connection(org).await?
            && c.status == ConnectionStatus::Connected
        {
            return Err(AppError::Conflict(
                "Ponto is already connected; pass reconnect: true to link again".into(),
            ));
        }
        let ticket = random();
        let expires_at = self.clock().now() + Duration::seconds(FLOW_TTL_SECS);
        let mut tx = self.store.begin_write().await?;
        tx.create_oauth_flow(
            org,
            NewFlow {
                purpose: Purpose::Connect,
                organization_name: organization_name.map(str::to_owned),
                account_id: None,
                ticket_hash: hash(&ticket),
                return_url: return_url.to_string(),
                reconnect,
                created_by: actor.to_owned(),
                expires_at,
            },
        )
        .await?;
        tx.commit().await?;
        Ok((
            format!("{}?ticket={ticket}", self.public("oauth/ponto/start")),
            expires_at,
        ))
    }

    /// `GET /oauth/ponto/start?ticket=…`: what the confirmation page shows. Uses nothing, so a
    /// link scanner fetching it cannot burn the ticket.
    #[tracing::instrument(skip_all, fields(organization = tracing::field::Empty))]
    pub async fn confirmation(
        &self,
        ticket: &str,
        cookie: &str,
    ) -> AppResult<Result<Confirmation, Next>> {
        let flow = match self
            .store
            .peek_ticket(&hash(ticket), Purpose::Connect)
            .await?
        {
            Ticket::Unknown => return Ok(Err(Next::Refused(Refusal::InvalidTicket))),
            Ticket::AlreadyUsed => return Ok(Err(Next::Refused(Refusal::TicketAlreadyUsed))),
            Ticket::Expired(f) => {
                return Ok(Err(Next::Redirect(back(
                    &f.return_url,
                    FlowOutcome::Expired,
                ))));
            }
            Ticket::Fresh(f) => f,
        };
        super::record_organization(flow.organization_id);
        let organization = match flow.organization_name {
            Some(name) => name,
            None => {
                self.store
                    .organization(flow.organization_id)
                    .await?
                    .external_id
            }
        };
        let return_origin = url::Url::parse(&flow.return_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        Ok(Ok(Confirmation {
            organization,
            return_origin,
            csrf: csrf_token(cookie, ticket),
        }))
    }

    /// `POST /oauth/ponto/start`: the user confirmed (or declined) on the page served to this
    /// browser. Consumes the ticket; on `proceed`, binds the flow to the browser's cookie and a
    /// fresh OAuth `state` and PKCE verifier, and sends it to Ponto.
    #[tracing::instrument(skip_all, fields(organization = tracing::field::Empty))]
    pub async fn start(
        &self,
        ticket: &str,
        cookie: Option<&str>,
        csrf: &str,
        proceed: bool,
    ) -> AppResult<Result<Started, Next>> {
        let Some(cookie) =
            cookie.filter(|c| bool::from(csrf_token(c, ticket).as_bytes().ct_eq(csrf.as_bytes())))
        else {
            return Ok(Err(Next::Refused(Refusal::BrowserMismatch)));
        };
        let flow = match self
            .store
            .use_ticket(&hash(ticket), Purpose::Connect)
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
        super::record_organization(flow.organization_id);
        if !proceed {
            self.store
                .complete_flow(flow.id, FlowOutcome::AccessDenied)
                .await?;
            tracing::info!(organization = %flow.organization_id, "connect link declined");
            return Ok(Err(Next::Redirect(back(
                &flow.return_url,
                FlowOutcome::AccessDenied,
            ))));
        }
        let ponto = self.ponto()?;
        let (state, verifier) = (random(), crate::ponto::pkce_verifier());
        let binding = Connect::binding(
            "oauth_flow",
            "pkce_verifier_enc",
            flow.id,
            flow.organization_id,
        );
        let sealed = self
            .keys
            .seal_secret(&Secret::new(verifier.clone()), binding)?;
        let expires_at = self.clock().now() + Duration::seconds(FLOW_TTL_SECS);
        self.store
            .bind_flow(
                flow.id,
                &hash(&state),
                Some(&hash(cookie)),
                Some(sealed),
                expires_at,
            )
            .await?;
        let url = ponto.authorization_url(
            &self.callback_url(),
            &state,
            &crate::ponto::pkce_challenge(&verifier),
            SCOPES,
        );
        tracing::info!("connect link confirmed, browser sent to Ponto");
        Ok(Ok(Started {
            redirect: url.to_string(),
            cookie_value: cookie.to_owned(),
            cookie_max_age_secs: FLOW_TTL_SECS,
        }))
    }

    /// `/oauth/ponto/callback`: only the browser that started the flow, only once. Shielded:
    /// the authorization code works once, so its exchange and our record of it finish together.
    pub async fn callback(&self, params: CallbackParams, cookie: Option<&str>) -> AppResult<Next> {
        let (this, cookie) = (self.clone(), cookie.map(str::to_owned));
        self.shield
            .run(async move { this.exchange(params, cookie.as_deref()).await })
            .await
    }

    #[tracing::instrument(name = "callback", skip_all, fields(organization = tracing::field::Empty))]
    async fn exchange(&self, params: CallbackParams, cookie: Option<&str>) -> AppResult<Next> {
        let Some(flow) = (match params.state.as_deref() {
            Some(s) => self.store.flow_by_state(&hash(s), Purpose::Connect).await?,
            None => None,
        }) else {
            return Ok(Next::Refused(Refusal::InvalidState));
        };
        super::record_organization(flow.organization_id);
        if !same_browser(&flow, cookie) {
            return Ok(Next::Refused(Refusal::BrowserMismatch));
        }
        if flow.completed_at.is_some()
            || !self
                .store
                .complete_flow(flow.id, FlowOutcome::InProgress)
                .await?
        {
            return Ok(Next::Refused(Refusal::StateAlreadyUsed));
        }
        let status = self.finish(&flow, params).await;
        self.store.set_flow_outcome(flow.id, status).await?;
        tracing::info!(organization = %flow.organization_id, status = status.as_str(), "Ponto authorization finished");
        Ok(Next::Redirect(back(&flow.return_url, status)))
    }

    /// The rest of the callback; its answer is the `ponto_status`.
    async fn finish(&self, flow: &OAuthFlow, params: CallbackParams) -> FlowOutcome {
        if flow.expires_at < self.clock().now() {
            return FlowOutcome::Expired;
        }
        if params.error.is_some() {
            return FlowOutcome::AccessDenied;
        }
        let Some(code) = params.code else {
            return FlowOutcome::AccessDenied;
        };
        match self.exchange_and_link(flow, &code).await {
            Ok(status) => status,
            Err(e) => {
                tracing::warn!(organization = %flow.organization_id, error = %crate::error::Esc(&e), "Ponto authorization could not be completed");
                FlowOutcome::UpstreamUnavailable
            }
        }
    }

    async fn exchange_and_link(&self, flow: &OAuthFlow, code: &str) -> AppResult<FlowOutcome> {
        let ponto = self.ponto()?;
        let org = flow.organization_id;
        let sealed = flow
            .pkce_verifier_enc
            .as_ref()
            .ok_or_else(|| AppError::internal("flow without verifier"))?;
        let verifier = self.keys.open_secret(
            sealed,
            Connect::binding("oauth_flow", "pkce_verifier_enc", flow.id, org),
        )?;
        let tokens = ponto
            .exchange_code(code, verifier.expose(), &self.callback_url())
            .await?;
        let refresh = tokens.refresh_token.clone().ok_or_else(|| {
            AppError::UpstreamUnavailable("Ponto returned no refresh token".into())
        })?;
        let linked = async {
            let user = ponto.userinfo(&tokens.access_token).await?;
            let accounts = ponto.accounts(&tokens.access_token).await?;
            let accounts = accounts
                .iter()
                .map(account_upsert)
                .collect::<AppResult<Vec<_>>>()?;
            self.link(org, flow.reconnect, user.sub, &tokens, &refresh, accounts)
                .await
        }
        .await;
        let status = match linked {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => FlowOutcome::Conflict,
            Err(e) => {
                tracing::warn!(organization = %org, error = %crate::error::Esc(&e), "linking failed after the token exchange");
                FlowOutcome::UpstreamUnavailable
            }
        };
        // Nothing of it was stored: give the integration back.
        if let Err(e) = ponto.revoke(&refresh).await {
            tracing::warn!(organization = %org, error = %crate::error::Esc(&e), "could not revoke unused Ponto tokens");
        }
        Ok(status)
    }

    /// Stores the link; `None` when it conflicts with another tenant or an existing link.
    async fn link(
        &self,
        org: OrganizationId,
        reconnect: bool,
        ponto_org: String,
        tokens: &TokenSet,
        refresh: &Secret,
        accounts: Vec<crate::store::accounts::AccountUpsert>,
    ) -> AppResult<Option<FlowOutcome>> {
        let existing = self.store.connection(org).await?;
        if !reconnect
            && existing
                .as_ref()
                .is_some_and(|c| c.status == ConnectionStatus::Connected)
        {
            return Ok(None);
        }
        let conn = existing.map_or_else(crate::domain::ids::ConnectionId::new, |c| c.id);
        let access_enc = self.keys.seal_secret(
            &tokens.access_token,
            Connect::token_binding("access_token_enc", conn, org),
        )?;
        let refresh_enc = self.keys.seal_secret(
            refresh,
            Connect::token_binding("refresh_token_enc", conn, org),
        )?;
        let mut tx = self.store.begin_write().await?;
        let parked_for = ponto_org.clone();
        let outcome = tx
            .link_connection(
                org,
                Link {
                    connection_id: conn,
                    ponto_organization_id: ponto_org,
                    access_enc,
                    refresh_enc,
                    access_expires_at: self.clock().now() + Duration::seconds(tokens.expires_in),
                    scope: tokens.scope.clone(),
                    accounts,
                },
            )
            .await?;
        match outcome {
            LinkOutcome::Conflict => {
                tx.rollback().await?;
                Ok(None)
            }
            LinkOutcome::Linked { no_accounts, .. } => {
                tx.commit().await?;
                // The first import starts now; Ponto's events that came before the link apply.
                self.store.bus().wake_reads();
                match self.store.unpark_inbound(&parked_for).await {
                    Ok(0) => {}
                    Ok(_) => self.store.bus().wake_inbound(),
                    Err(e) => {
                        tracing::warn!(organization = %org, error = %crate::error::Esc(&e), "could not reconsider parked Ponto webhooks; they wait for the next link")
                    }
                }
                Ok(Some(if no_accounts {
                    FlowOutcome::NoAccountsActivated
                } else {
                    FlowOutcome::Connected
                }))
            }
        }
    }

    /// `disconnectPonto`: revoke at Ponto (best effort), then unlink here keeping the data.
    #[tracing::instrument(skip_all, fields(organization = %org))]
    pub async fn disconnect(&self, org: OrganizationId) -> AppResult<bool> {
        let refresh = match self.store.sealed_tokens(org).await? {
            Some(t) => match &t.refresh_enc {
                Some(sealed) => Some(self.keys.open_secret(
                    sealed,
                    Connect::token_binding("refresh_token_enc", t.connection_id, org),
                )?),
                None => None,
            },
            None => None,
        };
        // Unlinked here first: Ponto announces the revocation at once (`integration.revoked`),
        // and that webhook must find the link disconnected, not act on it.
        let mut tx = self.store.begin_write().await?;
        let changed = tx.disconnect(org).await?;
        tx.commit().await?;
        if let (Ok(ponto), Some(refresh)) = (self.ponto(), refresh)
            && let Err(e) = ponto.revoke(&refresh).await
        {
            tracing::warn!(organization = %org, error = %crate::error::Esc(&e), "revoking at Ponto failed; unlinked here anyway");
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ponto_status_is_added() {
        assert_eq!(
            back("https://app.example/bank?tab=ponto", FlowOutcome::Connected),
            "https://app.example/bank?tab=ponto&ponto_status=CONNECTED"
        );
        assert_eq!(
            back("https://app.example/", FlowOutcome::AccessDenied),
            "https://app.example/?ponto_status=ACCESS_DENIED"
        );
        assert_ne!(hash("a"), hash("b"));
        assert_eq!(hash("a").len(), 64);
        assert_eq!(super::super::COOKIE, "pb_oauth");
    }
}
