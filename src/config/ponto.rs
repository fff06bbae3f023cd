//! Owns how the service reaches Ponto (or the built-in sandbox): API and OAuth roots, client
//! credentials, mTLS identity and extra CA, timeouts and retries, and the webhook key set URL.

use crate::secret::Secret;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach Ponto Connect (or the built-in sandbox: only the roots differ).
#[derive(Debug, Clone, Args)]
pub struct PontoSettings {
    /// API root. Ponto Connect is under `<root>/ponto-connect`, webhook keys at
    /// `<root>/webhooks/keys`.
    #[arg(long, env = "PB_PONTO_API_ROOT", default_value = crate::ponto::client::DEFAULT_API_ROOT)]
    pub ponto_api_root: url::Url,

    /// Browser authorization page.
    #[arg(long, env = "PB_PONTO_AUTHORIZATION_URL", default_value = crate::ponto::client::DEFAULT_AUTHORIZATION_URL)]
    pub ponto_authorization_url: url::Url,

    /// OAuth client id of our Ibanity application.
    #[arg(long, env = "PB_PONTO_CLIENT_ID")]
    pub ponto_client_id: Option<String>,

    /// OAuth client secret of our Ibanity application.
    #[arg(long, env = "PB_PONTO_CLIENT_SECRET", hide_env_values = true)]
    pub ponto_client_secret: Option<Secret>,

    /// PEM file with the client certificate (chain) for mTLS to Ponto.
    #[arg(long, env = "PB_PONTO_CLIENT_CERT")]
    pub ponto_client_cert: Option<PathBuf>,

    /// PEM file with the private key of that certificate.
    #[arg(long, env = "PB_PONTO_CLIENT_KEY")]
    pub ponto_client_key: Option<PathBuf>,

    /// Extra trusted CA (PEM) for the Ponto API, e.g. a sandbox run with TLS.
    #[arg(long, env = "PB_PONTO_CA_CERT")]
    pub ponto_ca_cert: Option<PathBuf>,

    /// Our Ibanity application id: the `aud` Ponto's webhook signatures must carry. Without it
    /// `/webhooks/ponto` answers 503 `WEBHOOKS_NOT_CONFIGURED`.
    #[arg(long, env = "PB_PONTO_APPLICATION_ID")]
    pub ponto_application_id: Option<String>,

    /// Timeout of one request to Ponto, in seconds.
    #[arg(long, env = "PB_PONTO_TIMEOUT_SECS", default_value_t = 30)]
    pub ponto_timeout_secs: u64,

    /// Retries of a failed request to Ponto (429, 5xx, timeouts), with backoff and jitter.
    #[arg(long, env = "PB_PONTO_MAX_RETRIES", default_value_t = 3)]
    pub ponto_max_retries: u32,
}

impl PontoSettings {
    /// `<API root>/webhooks/keys`: at the root, not under `/ponto-connect`.
    pub fn webhook_keys_url(&self) -> String {
        format!("{}/webhooks/keys", self.webhook_issuer())
    }

    /// The `iss` of Ponto's webhook signatures: the API root as configured, without a trailing
    /// slash (`https://api.ibanity.com`).
    pub fn webhook_issuer(&self) -> String {
        self.ponto_api_root
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    /// An HTTP client for Ibanity with our mTLS identity and extra CA, if configured.
    pub fn http_client(&self) -> Result<reqwest::Client, crate::error::AppError> {
        let (identity, ca) = self.tls_files()?;
        crate::ponto::client::http_client(
            identity.as_deref(),
            ca.as_deref(),
            Duration::from_secs(self.ponto_timeout_secs),
        )
        .map_err(|e| crate::error::AppError::bad_input(e.to_string()))
    }

    /// The mTLS identity (certificate chain + key, PEM) and the extra CA (PEM), if configured.
    #[allow(clippy::type_complexity)]
    fn tls_files(&self) -> Result<(Option<Vec<u8>>, Option<Vec<u8>>), crate::error::AppError> {
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| {
                crate::error::AppError::bad_input(format!("cannot read {}: {e}", p.display()))
            })
        };
        let identity = match (&self.ponto_client_cert, &self.ponto_client_key) {
            (Some(c), Some(k)) => Some([read(c)?, b"\n".to_vec(), read(k)?].concat()),
            (None, None) => None,
            _ => {
                return Err(crate::error::AppError::bad_input(
                    "set both PB_PONTO_CLIENT_CERT and PB_PONTO_CLIENT_KEY",
                ));
            }
        };
        Ok((identity, self.ponto_ca_cert.as_ref().map(read).transpose()?))
    }

    /// The client configuration, or `None` when no client id/secret is configured.
    pub fn client_config(
        &self,
    ) -> Result<Option<crate::ponto::PontoConfig>, crate::error::AppError> {
        let (Some(id), Some(secret)) = (&self.ponto_client_id, &self.ponto_client_secret) else {
            return Ok(None);
        };
        let (identity_pem, ca_pem) = self.tls_files()?;
        Ok(Some(crate::ponto::PontoConfig {
            api_root: self.ponto_api_root.clone(),
            authorization_url: self.ponto_authorization_url.clone(),
            client_id: id.clone(),
            client_secret: secret.clone(),
            identity_pem,
            ca_pem,
            timeout: Duration::from_secs(self.ponto_timeout_secs),
            retry: crate::ponto::transport::RetryPolicy {
                max_retries: self.ponto_max_retries,
                ..Default::default()
            },
        }))
    }
}
