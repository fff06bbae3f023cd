//! mTLS for real: certificates generated for this run (a CA, the sandbox's server certificate,
//! our client identity); the sandbox in TLS mode refuses a client without the identity and
//! accepts it with it.

use crate::support::Sandbox;
use crate::support::pki::{Ca, Issued};
use ponto_bridge::clock::SystemClock;
use ponto_bridge::ponto::PontoClient;
use ponto_sandbox::{self as sandbox, SandboxOptions, tls::TlsFiles};
use std::sync::Arc;

struct Pki {
    ca_pem: String,
    server: Issued,
    client: Issued,
}

fn generate_pki() -> Pki {
    let ca = Ca::new();
    Pki {
        server: ca.server(&["localhost", "127.0.0.1"]),
        client: ca.client(),
        ca_pem: ca.pem,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tls_sandbox_requires_our_client_certificate() {
    crate::support::init_tracing();
    let pki = generate_pki();
    let mut opts = SandboxOptions::new("127.0.0.1:0".parse().unwrap(), Arc::new(SystemClock));
    opts.tls = Some(TlsFiles {
        cert_pem: pki.server.cert_pem.clone().into_bytes(),
        key_pem: pki.server.key_pem.clone().into_bytes(),
        client_ca_pem: Some(pki.ca_pem.clone().into_bytes()),
    });
    let handle = sandbox::start(opts).await.unwrap();
    assert!(handle.base_url.starts_with("https://"));

    // The plain-HTTP test harness gives the client configuration; point it at the TLS sandbox.
    let plain = Sandbox::start(Arc::new(SystemClock)).await;
    let mut cfg = plain.config();
    cfg.api_root = handle.base_url.parse().unwrap();
    cfg.ca_pem = Some(pki.ca_pem.clone().into_bytes());
    cfg.retry.max_retries = 0;

    let anonymous = PontoClient::new(cfg.clone()).unwrap();
    let refused = anonymous.client_credentials().await.unwrap_err();
    assert_eq!(
        refused.code(),
        "PONTO_UNAVAILABLE",
        "no client certificate, no TLS session: {refused:?}"
    );

    cfg.identity_pem =
        Some(format!("{}\n{}", pki.client.cert_pem, pki.client.key_pem).into_bytes());
    let identified = PontoClient::new(cfg.clone()).unwrap();
    let token = identified.client_credentials().await.unwrap();
    assert!(!token.access_token.expose().is_empty());

    // A certificate from another CA is refused too.
    let stranger = generate_pki();
    cfg.identity_pem =
        Some(format!("{}\n{}", stranger.client.cert_pem, stranger.client.key_pem).into_bytes());
    assert_eq!(
        PontoClient::new(cfg)
            .unwrap()
            .client_credentials()
            .await
            .unwrap_err()
            .code(),
        "PONTO_UNAVAILABLE"
    );
}
