//! Owns the sandbox's optional TLS: a server certificate, and — when a client CA is given —
//! mandatory client certificates signed by it, so ponto-bridge's mTLS identity is exercised for
//! real, as Ibanity requires of every API call.

use axum_server::tls_rustls::RustlsConfig;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::sync::Arc;

/// PEM contents (not paths) of the sandbox's TLS material.
#[derive(Clone)]
pub struct TlsFiles {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// When set, clients must present a certificate signed by this CA.
    pub client_ca_pem: Option<Vec<u8>>,
}

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

/// Serves `app` on `listener`, over TLS when `tls` is given (the sandbox, and the test suite's
/// TLS webhook receiver).
pub fn spawn_server(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<TlsFiles>,
) -> io::Result<tokio::task::JoinHandle<()>> {
    Ok(match tls {
        None => tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "server stopped");
            }
        }),
        Some(files) => {
            let server =
                axum_server::from_tcp_rustls(listener.into_std()?, server_config(&files)?)?;
            tokio::spawn(async move {
                if let Err(e) = server.serve(app.into_make_service()).await {
                    tracing::error!(error = %e, "TLS server stopped");
                }
            })
        }
    })
}

pub fn server_config(files: &TlsFiles) -> io::Result<RustlsConfig> {
    // rustls panics at first use when two crypto providers are compiled in and none is
    // installed; a second install (by the service in the same process) is harmless.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&files.cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid("TLS certificate", e))?;
    let key = PrivateKeyDer::from_pem_slice(&files.key_pem).map_err(|e| invalid("TLS key", e))?;
    let builder = rustls::ServerConfig::builder();
    let builder = match &files.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca) {
                roots
                    .add(cert.map_err(|e| invalid("client CA", e))?)
                    .map_err(|e| invalid("client CA", e))?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|e| invalid("client CA", e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| invalid("TLS certificate/key", e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}
