//! Owns the demo's webhook subscriber: a small HTTP server on loopback that the demo's endpoint
//! points at, checking every delivery with the reference Standard Webhooks library and printing
//! what arrived (type, the invoice, account or transaction it is about, signature verified).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use std::sync::{Arc, OnceLock};

/// The receiver, running until the process ends.
pub struct DemoReceiver {
    pub url: String,
    secret: Arc<OnceLock<String>>,
}

impl DemoReceiver {
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}/webhooks", listener.local_addr()?);
        let secret = Arc::new(OnceLock::new());
        let router = Router::new()
            .route("/webhooks", post(receive))
            .with_state(secret.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { url, secret })
    }

    /// The endpoint's secret, once created: deliveries before it are answered 503 (and retried).
    pub fn set_secret(&self, secret: String) {
        let _ = self.secret.set(secret);
    }
}

async fn receive(
    State(secret): State<Arc<OnceLock<String>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Some(secret) = secret.get() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let verified = standardwebhooks::Webhook::new(secret)
        .and_then(|w| w.verify(&body, &headers))
        .is_ok();
    let envelope: Value = serde_json::from_slice(&body).unwrap_or_default();
    println!(
        "webhook  {:<38} {}  {}",
        envelope["type"].as_str().unwrap_or("?"),
        about(&envelope["data"]),
        if verified {
            "signature verified"
        } else {
            "SIGNATURE INVALID"
        }
    );
    if verified {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    }
}

/// What an event is about, in a few words.
fn about(data: &Value) -> String {
    let s = |k: &str| data[k].as_str().unwrap_or("").to_owned();
    if data.get("invoiceId").is_some() {
        format!(
            "invoice {} {} (open {} {})",
            s("number"),
            s("status"),
            s("openAmount"),
            s("currency")
        )
    } else if data.get("transactionId").is_some() {
        format!(
            "transaction {} {} {}",
            s("amount"),
            s("currency"),
            s("counterpartName")
        )
    } else if data.get("accountId").is_some() {
        format!(
            "account {}",
            data["iban"].as_str().unwrap_or(&s("accountId"))
        )
    } else if data.get("connectionId").is_some() {
        format!("connection {}", s("status"))
    } else {
        s("endpointId")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn says_what_an_event_is_about() {
        let inv = json!({"invoiceId": "i", "number": "2026-0001", "status": "S",
                         "openAmount": "0.00", "currency": "EUR"});
        assert_eq!(about(&inv), "invoice 2026-0001 S (open 0.00 EUR)");
        assert_eq!(about(&json!({"accountId": "a", "iban": null})), "account a");
        assert_eq!(
            about(&json!({"connectionId": "c", "status": "S"})),
            "connection S"
        );
    }
}
