//! Owns the Ponto Connect v2 client: OAuth2 (authorization code with PKCE, refresh, client
//! credentials, revocation) with HTTP Basic client authentication, and the account and
//! transaction endpoints with JSON:API paging (`page[limit]=100`, following `links.next`).
//!
//! Configured only by roots, so the same code talks to `https://api.ibanity.com` or to the
//! built-in sandbox: Ponto Connect lives under `<root>/ponto-connect`, webhook keys at
//! `<root>/webhooks/keys`.

use super::error::PontoError;
use super::model::{
    AccountAttributes, Collection, Resource, Single, TokenResponse, TokenSet, Transaction, UserInfo,
};
use super::transport::{self, Replay, RetryPolicy};
use crate::secret::Secret;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use std::time::Duration;
use url::Url;

/// Production defaults (a test pins them).
pub const DEFAULT_API_ROOT: &str = "https://api.ibanity.com";
pub const DEFAULT_AUTHORIZATION_URL: &str = "https://authorization.myponto.com/oauth2/auth";
/// Largest page Ponto serves.
pub const PAGE_LIMIT: u32 = 100;

#[derive(Clone)]
pub struct PontoConfig {
    pub api_root: Url,
    pub authorization_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
    /// PEM certificate chain and private key of our Ibanity application (mTLS).
    pub identity_pem: Option<Vec<u8>>,
    /// Extra trusted root (PEM), e.g. the sandbox's self-signed CA.
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for PontoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PontoConfig")
            .field("api_root", &self.api_root.as_str())
            .field("authorization_url", &self.authorization_url.as_str())
            .field("client_id", &self.client_id)
            .field("mtls", &self.identity_pem.is_some())
            .finish()
    }
}

#[derive(Clone)]
pub struct PontoClient {
    http: reqwest::Client,
    cfg: PontoConfig,
}

/// The HTTP client for Ibanity: rustls, our mTLS identity and extra CA if configured, no
/// redirects followed.
pub fn http_client(
    identity_pem: Option<&[u8]>,
    ca_pem: Option<&[u8]>,
    timeout: Duration,
) -> Result<reqwest::Client, PontoError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ponto-bridge/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = identity_pem {
        let identity = reqwest::Identity::from_pem(pem)
            .map_err(|e| PontoError::Config(format!("client certificate/key: {e}")))?;
        builder = builder.identity(identity);
    }
    if let Some(pem) = ca_pem {
        let ca = reqwest::Certificate::from_pem(pem)
            .map_err(|e| PontoError::Config(format!("CA certificate: {e}")))?;
        builder = builder.add_root_certificate(ca);
    }
    builder
        .build()
        .map_err(|e| PontoError::Config(e.to_string()))
}

/// Where a paged listing continues.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The URL of the next page, if any (`links.next`).
    pub next: Option<String>,
}

impl PontoClient {
    pub fn new(cfg: PontoConfig) -> Result<Self, PontoError> {
        let http = http_client(
            cfg.identity_pem.as_deref(),
            cfg.ca_pem.as_deref(),
            cfg.timeout,
        )?;
        Ok(Self { http, cfg })
    }

    pub fn config(&self) -> &PontoConfig {
        &self.cfg
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `<root>/ponto-connect/<path>`.
    pub(super) fn api(&self, path: &str) -> String {
        format!(
            "{}/ponto-connect/{}",
            self.cfg.api_root.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    /// `<root>/webhooks/keys` — at the root, not under `/ponto-connect`.
    pub fn webhook_keys_url(&self) -> String {
        format!(
            "{}/webhooks/keys",
            self.cfg.api_root.as_str().trim_end_matches('/')
        )
    }

    /// The browser URL that starts an authorization (PKCE S256).
    pub fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        code_challenge: &str,
        scope: &str,
    ) -> Url {
        let mut url = self.cfg.authorization_url.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.cfg.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", scope)
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        url
    }

    pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, PontoError> {
        serde_json::from_slice(body).map_err(|e| PontoError::Malformed(e.to_string()))
    }

    async fn token(
        &self,
        form: Vec<(&str, String)>,
        replay: Replay,
    ) -> Result<TokenSet, PontoError> {
        let url = self.api("oauth2/token");
        let body = transport::send(&self.cfg.retry, replay, || {
            self.http
                .post(&url)
                .basic_auth(&self.cfg.client_id, Some(self.cfg.client_secret.expose()))
                .header("accept", "application/json")
                .form(&form)
        })
        .await?;
        Ok(Self::parse::<TokenResponse>(&body)?.into())
    }

    /// Exchanges an authorization code (single use) with its PKCE verifier.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenSet, PontoError> {
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
            ("code_verifier", verifier.to_owned()),
            ("client_id", self.cfg.client_id.clone()),
        ];
        self.token(form, Replay::Once).await
    }

    /// Uses a refresh token (single use: Ponto answers with a new one to keep).
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<TokenSet, PontoError> {
        let form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.expose().to_owned()),
            ("client_id", self.cfg.client_id.clone()),
        ];
        self.token(form, Replay::Once).await
    }

    /// A client access token for integration-level endpoints.
    pub async fn client_credentials(&self) -> Result<TokenSet, PontoError> {
        self.token(
            vec![("grant_type", "client_credentials".to_owned())],
            Replay::Safe,
        )
        .await
    }

    /// Revokes a refresh token, and with it the integration.
    pub async fn revoke(&self, refresh_token: &Secret) -> Result<(), PontoError> {
        let url = self.api("oauth2/revoke");
        let form = [("token", refresh_token.expose().to_owned())];
        transport::send(&self.cfg.retry, Replay::Safe, || {
            self.http
                .post(&url)
                .basic_auth(&self.cfg.client_id, Some(self.cfg.client_secret.expose()))
                .form(&form)
        })
        .await?;
        Ok(())
    }

    pub(super) async fn get(&self, url: &str, token: &Secret) -> Result<bytes::Bytes, PontoError> {
        transport::send(&self.cfg.retry, Replay::Safe, || {
            self.http
                .get(url)
                .bearer_auth(token.expose())
                .header("accept", "application/json")
        })
        .await
    }

    async fn delete(&self, url: &str, token: &Secret) -> Result<bytes::Bytes, PontoError> {
        transport::send(&self.cfg.retry, Replay::Safe, || {
            self.http
                .delete(url)
                .bearer_auth(token.expose())
                .header("accept", "application/json")
        })
        .await
    }

    pub async fn userinfo(&self, token: &Secret) -> Result<UserInfo, PontoError> {
        Self::parse(&self.get(&self.api("userinfo"), token).await?)
    }

    /// One page of a listing: the first page of `path`, or the page at `next`.
    async fn page<A: DeserializeOwned>(
        &self,
        token: &Secret,
        first: &str,
        next: Option<&str>,
    ) -> Result<Page<Resource<A>>, PontoError> {
        let url = self.page_url(first, next)?;
        let doc: Collection<A> = Self::parse(&self.get(&url, token).await?)?;
        Ok(Page {
            items: doc.data,
            next: doc.links.and_then(|l| l.next),
        })
    }

    /// A `next` link is followed only when it points at our configured API root, so a
    /// tampered link cannot make us send the bearer token elsewhere.
    fn page_url(&self, first: &str, next: Option<&str>) -> Result<String, PontoError> {
        match next {
            None => Ok(format!("{}?page[limit]={PAGE_LIMIT}", self.api(first))),
            Some(n) => {
                let root =
                    Url::parse(&self.api("")).map_err(|e| PontoError::Config(e.to_string()))?;
                let url = Url::parse(n)
                    .map_err(|_| PontoError::Malformed(format!("links.next is not a URL: {n}")))?;
                if url.origin() != root.origin() || !url.path().starts_with(root.path()) {
                    return Err(PontoError::Malformed(
                        "links.next points outside the API root".into(),
                    ));
                }
                Ok(n.to_owned())
            }
        }
    }

    /// Every page of a listing, concatenated.
    async fn all<A: DeserializeOwned>(
        &self,
        token: &Secret,
        path: &str,
    ) -> Result<Vec<Resource<A>>, PontoError> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self.page::<A>(token, path, next.as_deref()).await?;
            out.extend(page.items);
            match page.next {
                Some(n) if Some(&n) != next.as_ref() => next = Some(n),
                _ => return Ok(out),
            }
        }
    }

    pub async fn accounts(
        &self,
        token: &Secret,
    ) -> Result<Vec<Resource<AccountAttributes>>, PontoError> {
        self.all(token, "accounts").await
    }

    pub async fn account(
        &self,
        token: &Secret,
        id: &str,
    ) -> Result<Resource<AccountAttributes>, PontoError> {
        let doc: Single<AccountAttributes> = Self::parse(
            &self
                .get(&self.api(&format!("accounts/{id}")), token)
                .await?,
        )?;
        Ok(doc.data)
    }

    /// Revokes one account from the integration.
    pub async fn revoke_account(&self, token: &Secret, id: &str) -> Result<(), PontoError> {
        self.delete(&self.api(&format!("accounts/{id}")), token)
            .await
            .map(|_| ())
    }

    /// Deletes the integration of a Ponto organization (client credentials token).
    pub async fn delete_integration(
        &self,
        client_token: &Secret,
        organization_id: &str,
    ) -> Result<(), PontoError> {
        self.delete(
            &self.api(&format!("organizations/{organization_id}/integration")),
            client_token,
        )
        .await
        .map(|_| ())
    }

    /// One page of an account's booked (or pending) transactions, each with its exact JSON.
    pub async fn transactions_page(
        &self,
        token: &Secret,
        account_id: &str,
        pending: bool,
        next: Option<&str>,
    ) -> Result<Page<Transaction>, PontoError> {
        let path = format!(
            "accounts/{account_id}/{}",
            if pending {
                "pending-transactions"
            } else {
                "transactions"
            }
        );
        self.transactions_at(token, &path, pending, next).await
    }

    /// One page of a transaction listing at `path`, keeping each transaction's exact JSON.
    pub(super) async fn transactions_at(
        &self,
        token: &Secret,
        path: &str,
        pending: bool,
        next: Option<&str>,
    ) -> Result<Page<Transaction>, PontoError> {
        let url = self.page_url(path, next)?;
        let body = self.get(&url, token).await?;
        #[derive(serde::Deserialize)]
        struct RawCollection<'a> {
            #[serde(borrow)]
            data: Vec<&'a RawValue>,
            #[serde(default)]
            links: Option<super::model::Links>,
        }
        let doc: RawCollection =
            serde_json::from_slice(&body).map_err(|e| PontoError::Malformed(e.to_string()))?;
        let items = doc
            .data
            .into_iter()
            .map(|raw| Transaction::from_resource(raw.get(), pending))
            .collect::<Result<Vec<_>, PontoError>>()?;
        Ok(Page {
            items,
            next: doc.links.and_then(|l| l.next),
        })
    }

    /// Every booked (or pending) transaction of an account, following `links.next`.
    pub async fn all_transactions(
        &self,
        token: &Secret,
        account_id: &str,
        pending: bool,
    ) -> Result<Vec<Transaction>, PontoError> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .transactions_page(token, account_id, pending, next.as_deref())
                .await?;
            out.extend(page.items);
            match page.next {
                Some(n) if Some(&n) != next.as_ref() => next = Some(n),
                _ => return Ok(out),
            }
        }
    }
}
