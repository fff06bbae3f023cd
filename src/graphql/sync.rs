//! Owns `syncNow`, `requestReauthorization` and `retryInboundEvents`: asking Ponto to
//! synchronize an account with its bank (rate limited), getting a link where the user renews an
//! account's consent, and requeuing Ponto webhooks whose effect kept failing.

use super::bank::{BankAccount, decode_account_id};
use super::errors::GqlResult;
use super::{ContextExt, RequireScope};
use crate::domain::scope::Scope;
use crate::error::AppError;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

#[derive(InputObject)]
pub struct SyncNowInput {
    pub account_id: ID,
    /// The IP address of the user asking (PSD2: the bank is told the customer is present).
    pub customer_ip_address: String,
}

/// A synchronization Ponto runs with the bank.
#[derive(SimpleObject)]
pub struct PontoSynchronization {
    /// Ponto's id.
    pub id: String,
    /// `accountDetails` or `accountTransactionsWithUnsettled`.
    pub subtype: String,
    /// `pending`, `running`, `success` or `error`.
    pub status: String,
}

#[derive(SimpleObject)]
pub struct SyncNowPayload {
    pub bank_account: BankAccount,
    pub synchronizations: Vec<PontoSynchronization>,
    /// The earliest time the next `syncNow` for this account is accepted.
    pub next_sync_allowed_at: DateTime<Utc>,
}

#[derive(InputObject)]
pub struct RequestReauthorizationInput {
    pub account_id: ID,
    /// Where the browser lands afterwards, with `ponto_status` (`REAUTHORIZED` or
    /// `ACCESS_DENIED`). Must be on an allowed origin.
    pub return_url: String,
}

#[derive(SimpleObject)]
pub struct RequestReauthorizationPayload {
    /// Open this URL of ours in the user's browser, once, within 10 minutes: it goes on to
    /// Ponto's re-authorization page for the account and comes back to `returnUrl`.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct SyncMutation;

#[Object]
impl SyncMutation {
    /// Asks Ponto to synchronize the account with its bank now (details and booked and pending
    /// transactions). At most once per account per 30 minutes: RATE_LIMITED with `retryAfter`.
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn sync_now(&self, ctx: &Context<'_>, input: SyncNowInput) -> GqlResult<SyncNowPayload> {
        let p = ctx.principal()?;
        let account = decode_account_id(&input.account_id)?;
        let ip: std::net::IpAddr =
            input
                .customer_ip_address
                .trim()
                .parse()
                .map_err(|_| AppError::BadUserInput {
                    message: "customerIpAddress is not an IP address".into(),
                    field: Some(vec!["customerIpAddress".into()]),
                })?;
        let result = ctx
            .puller()?
            .sync_now(p.organization_id, account, ip, &p.actor())
            .await?;
        let a = ctx
            .store()?
            .account(p.organization_id, account)
            .await?
            .ok_or_else(|| AppError::not_found("bank account"))?;
        Ok(SyncNowPayload {
            bank_account: BankAccount::from(a),
            synchronizations: result
                .synchronizations
                .into_iter()
                .map(|s| PontoSynchronization {
                    id: s.ponto_id,
                    subtype: s.subtype,
                    status: s.status,
                })
                .collect(),
            next_sync_allowed_at: result.next_sync_allowed_at,
        })
    }

    /// A link where the user renews the account's consent with the bank (PSD2 every 90–180 days).
    /// At most a few per account per window (RATE_LIMITED with `retryAfter`).
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn request_reauthorization(
        &self,
        ctx: &Context<'_>,
        input: RequestReauthorizationInput,
    ) -> GqlResult<RequestReauthorizationPayload> {
        let p = ctx.principal()?;
        let account = decode_account_id(&input.account_id)?;
        let (url, expires_at) = ctx
            .connect()?
            .request_reauthorization(p.organization_id, account, &input.return_url, &p.actor())
            .await?;
        Ok(RequestReauthorizationPayload { url, expires_at })
    }

    /// Requeues the organization's Ponto webhooks whose effect kept failing (`FAILED`), received
    /// since `since`: they are processed again from their first attempt.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn retry_inbound_events(
        &self,
        ctx: &Context<'_>,
        input: RetryInboundEventsInput,
    ) -> GqlResult<RetryInboundEventsPayload> {
        let p = ctx.principal()?;
        let store = ctx.store()?;
        let requeued = store
            .requeue_failed_inbound(p.organization_id, input.since)
            .await?;
        if requeued > 0 {
            store.bus().wake_inbound();
        }
        Ok(RetryInboundEventsPayload {
            requeued: i32::try_from(requeued).unwrap_or(i32::MAX),
        })
    }
}

#[derive(InputObject)]
pub struct RetryInboundEventsInput {
    /// Only events received from this time on.
    pub since: DateTime<Utc>,
}

#[derive(SimpleObject)]
pub struct RetryInboundEventsPayload {
    /// How many failed events were requeued.
    pub requeued: i32,
}
