//! Owns `connectPonto` and `disconnectPonto`: starting a link in the user's browser, and
//! unlinking while keeping every account, transaction and match.

use super::bank::PontoConnection;
use super::errors::GqlResult;
use super::{ContextExt, RequireScope};
use crate::domain::scope::Scope;
use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

#[derive(InputObject)]
pub struct ConnectPontoInput {
    /// Where the browser lands afterwards, with `ponto_status` appended. Must be on an allowed
    /// origin (`PB_RETURN_URL_ORIGINS`).
    pub return_url: String,
    /// Link again although a link exists (after BROKEN, or to change the shared accounts).
    #[graphql(default = false)]
    pub reconnect: bool,
}

#[derive(SimpleObject)]
pub struct ConnectPontoPayload {
    /// Open this URL in the user's browser, within 10 minutes: a page of ours names the
    /// organization and where the user returns; continuing goes to Ponto (once).
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(InputObject, Default)]
pub struct DisconnectPontoInput {
    /// Free text kept in the logs.
    pub reason: Option<String>,
}

#[derive(SimpleObject)]
pub struct DisconnectPontoPayload {
    pub ponto_connection: PontoConnection,
}

#[derive(Default)]
pub struct ConnectMutation;

#[Object]
impl ConnectMutation {
    /// Starts linking the organization's bank accounts through Ponto: returns a one-time URL of
    /// ours that takes the user's browser to Ponto. CONFLICT while connected, unless `reconnect`.
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn connect_ponto(
        &self,
        ctx: &Context<'_>,
        input: ConnectPontoInput,
    ) -> GqlResult<ConnectPontoPayload> {
        let p = ctx.principal()?;
        let (url, expires_at) = ctx
            .connect()?
            .create_ticket(
                p.organization_id,
                p.organization_name.as_deref(),
                &p.actor(),
                &input.return_url,
                input.reconnect,
            )
            .await?;
        Ok(ConnectPontoPayload { url, expires_at })
    }

    /// Unlinks Ponto: revokes the integration at Ponto and marks the connection DISCONNECTED and
    /// its accounts revoked; their data stays.
    #[graphql(guard = "RequireScope(Scope::Write)")]
    async fn disconnect_ponto(
        &self,
        ctx: &Context<'_>,
        input: Option<DisconnectPontoInput>,
    ) -> GqlResult<DisconnectPontoPayload> {
        let p = ctx.principal()?;
        let reason = input.and_then(|i| i.reason).unwrap_or_default();
        // Debug-formatted: user text cannot forge log lines.
        tracing::info!(organization = %p.organization_id, actor = ?p.actor(), reason = ?reason.chars().take(200).collect::<String>(), "disconnectPonto");
        ctx.connect()?.disconnect(p.organization_id).await?;
        Ok(DisconnectPontoPayload {
            ponto_connection: ctx.store()?.connection(p.organization_id).await?.into(),
        })
    }
}
