//! Owns linking a tenant to Ponto: the browser flow (ticket → cookie-bound state → callback),
//! return-URL checks, sealing tokens at rest, refreshing them one at a time, and unlinking.
//! Knows nothing of HTTP: `http` turns its answers into redirects and cookies.

pub mod flow;
pub mod reauth;
mod tokens;

pub use flow::{CallbackParams, Started};
pub use tokens::TokenManager;

use crate::clock::SharedClock;
use crate::crypto::{Binding, KeyRing};
use crate::domain::ids::{ConnectionId, OrganizationId};
use crate::error::{AppError, AppResult};
use crate::ponto::PontoClient;
use crate::ponto::model::AccountAttributes;
use crate::store::Store;
use crate::store::accounts::AccountUpsert;
use std::sync::Arc;
use url::Url;

/// How long a `connectPonto` ticket, and then the authorization at Ponto, may take.
pub const FLOW_TTL_SECS: i64 = 600;
/// Ponto scopes we ask for: account information, a refresh token, the organization's name.
pub const SCOPES: &str = "ai offline_access name";
/// Name of the cookie binding a flow to the browser that started it.
pub const COOKIE: &str = "pb_oauth";

/// The linking service. Cheap to clone.
#[derive(Clone)]
pub struct Connect {
    pub(crate) store: Store,
    pub(crate) ponto: Option<PontoClient>,
    pub(crate) keys: Arc<KeyRing>,
    pub(crate) public_url: Url,
    allowed_origins: Arc<Vec<url::Origin>>,
    /// Lifetime of our re-authorization links, in days.
    pub(crate) reauth_link_days: i64,
    /// Ponto re-authorization requests per account and window.
    pub(crate) reauth_limit: ReauthLimit,
    pub tokens: TokenManager,
    /// The steps that must finish once started (the code exchange, Ponto requests that spend
    /// a limit); shutdown waits for them.
    pub shield: crate::shield::Shield,
}

/// At most `requests` Ponto re-authorization requests per account per `window`.
#[derive(Debug, Clone, Copy)]
pub struct ReauthLimit {
    pub requests: i32,
    pub window: chrono::Duration,
}

impl Connect {
    pub fn new(
        store: Store,
        ponto: Option<PontoClient>,
        keys: Arc<KeyRing>,
        public_url: Url,
        allowed_origins: &[String],
        reauth_link_days: i64,
        reauth_limit: ReauthLimit,
    ) -> AppResult<Self> {
        let origins = allowed_origins
            .iter()
            .filter(|o| !o.trim().is_empty())
            .map(|o| {
                Url::parse(o.trim()).map(|u| u.origin()).map_err(|_| {
                    AppError::bad_input(format!("PB_RETURN_URL_ORIGINS: {o:?} is not an origin"))
                })
            })
            .collect::<AppResult<Vec<_>>>()?;
        let tokens = TokenManager::new(store.clone(), ponto.clone(), keys.clone());
        let reauth_link_days = reauth_link_days.max(1);
        Ok(Self {
            store,
            ponto,
            keys,
            public_url,
            allowed_origins: Arc::new(origins),
            reauth_link_days,
            reauth_limit,
            tokens,
            shield: Default::default(),
        })
    }

    pub fn clock(&self) -> &SharedClock {
        self.store.clock()
    }

    pub(crate) fn ponto(&self) -> AppResult<&PontoClient> {
        self.ponto.as_ref().ok_or_else(|| {
            AppError::UpstreamUnavailable(
                "Ponto is not configured (PB_PONTO_CLIENT_ID/SECRET)".into(),
            )
        })
    }

    /// `<public base>/<path>`.
    pub fn public(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.public_url.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    /// Where Ponto sends the browser back.
    pub fn callback_url(&self) -> String {
        self.public("oauth/ponto/callback")
    }

    /// Whether cookies must be `Secure` (public URL on https).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// A `returnUrl` must be an absolute http(s) URL on a configured origin, without
    /// credentials (so `https://allowed.example@evil.example` and `//evil.example` fail).
    pub fn check_return_url(&self, raw: &str) -> AppResult<Url> {
        let bad = |why: &str| AppError::BadUserInput {
            message: format!("returnUrl {why}"),
            field: Some(vec!["returnUrl".into()]),
        };
        if raw.len() > 2048 {
            return Err(bad("is too long"));
        }
        let url = Url::parse(raw).map_err(|_| bad("must be an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("must be http(s)"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not contain credentials"));
        }
        if !self.allowed_origins.contains(&url.origin()) {
            return Err(bad("is not on an allowed origin (PB_RETURN_URL_ORIGINS)"));
        }
        Ok(url)
    }

    pub(crate) fn binding<'a>(
        table: &'a str,
        column: &'a str,
        row: uuid::Uuid,
        org: OrganizationId,
    ) -> Binding<'a> {
        Binding {
            table,
            column,
            row,
            organization: org.0,
        }
    }

    pub(crate) fn token_binding(
        column: &str,
        conn: ConnectionId,
        org: OrganizationId,
    ) -> Binding<'_> {
        Self::binding("ponto_connection", column, conn.0, org)
    }
}

/// Names the organization on the current span once a browser step has looked its flow up (the
/// entry point's span declares the field empty: the organization is not known before that).
fn record_organization(org: OrganizationId) {
    tracing::Span::current().record("organization", tracing::field::display(org));
}

/// An account as Ponto describes it, in our terms.
pub fn account_upsert(
    r: &crate::ponto::model::Resource<AccountAttributes>,
) -> AppResult<AccountUpsert> {
    use crate::domain::money::{Currency, Money};
    let a = &r.attributes;
    let currency = Currency::parse(&a.currency)
        .map_err(|e| AppError::UpstreamUnavailable(format!("Ponto sent {e}")))?;
    let minor = |d: Option<rust_decimal::Decimal>| -> AppResult<Option<i64>> {
        d.map(|d| Money::from_decimal(d, currency).map(|m| m.minor))
            .transpose()
            .map_err(|e| AppError::UpstreamUnavailable(format!("Ponto sent a balance that {e}")))
    };
    let availability = r
        .meta
        .as_ref()
        .and_then(|m| m["availability"].as_str())
        .map(str::to_owned);
    let fi = r
        .relationships
        .as_ref()
        .and_then(|rel| rel["financialInstitution"]["data"]["id"].as_str())
        .map(str::to_owned);
    Ok(AccountUpsert {
        ponto_id: r.id.clone(),
        reference: a.reference.clone(),
        reference_type: a.reference_type.clone(),
        currency,
        description: a.description.clone(),
        holder_name: a.holder_name.clone(),
        product: a.product.clone(),
        subtype: a.subtype.clone(),
        financial_institution_id: fi,
        current_balance_minor: minor(a.current_balance)?,
        current_balance_reference_date: a.current_balance_reference_date,
        available_balance_minor: minor(a.available_balance)?,
        available_balance_reference_date: a.available_balance_reference_date,
        authorized_at: a.authorized_at,
        authorization_expires_at: a.authorization_expiration_expected_at,
        availability,
    })
}

/// Deletes finished or expired flows once their retention is over: checked every `poll`, run at
/// most once per minute of the service's clock (so a test clock moved ahead runs it at once).
pub async fn run_flow_cleanup(
    store: Store,
    retention: chrono::Duration,
    poll: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut last: Option<chrono::DateTime<chrono::Utc>> = None;
    loop {
        let now = store.clock().now();
        if last.is_none_or(|l| now - l >= chrono::Duration::minutes(1)) {
            last = Some(now);
            match store.delete_flows_expired_before(now - retention).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(
                    deleted = n,
                    "old connect and re-authorization flows deleted"
                ),
                Err(e) => {
                    tracing::warn!(error = %crate::error::Esc(&e), "could not delete old flows")
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(poll) => {}
        }
    }
}
