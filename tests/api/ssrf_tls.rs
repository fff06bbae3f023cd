//! TLS on the guarded connection: a delivery goes to the address the guard checked, and the
//! receiver's certificate is verified against the URL's host name, not that address. A private
//! CA is trusted through `--webhook-ca-cert`; the public roots stay.

use crate::outbound_delivery::announce;
use crate::ssrf::{ATTEMPTS, Names, attempts, create};
use crate::support::pki::Ca;
use crate::support::{Receiver, TestApp};
use ponto_bridge::outbound::guard::HostLookup;
use serde_json::json;
use std::time::Duration;

/// A server resolving `hooks.tls.test` to 127.0.0.1 (only here), loopback allow-listed, with
/// `extra` flags.
async fn app(extra: &[&str]) -> TestApp {
    let names = Names::default();
    names.set("hooks.tls.test", "127.0.0.1");
    let lookup = HostLookup::new(names);
    let flags = [
        &[
            "--webhook-allowed-targets",
            "127.0.0.1/32",
            "--scheduler-poll-ms",
            "50",
        ],
        extra,
    ]
    .concat();
    TestApp::builder()
        .flags(&flags)
        .adjust(move |s| s.webhook_lookup = lookup)
        .start()
        .await
}

fn port(rx: &Receiver) -> u16 {
    reqwest::Url::parse(&rx.url).unwrap().port().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_verifies_the_host_name_on_the_checked_address() {
    let ca = Ca::new();
    let named = ca.server(&["hooks.tls.test"]);
    let right = Receiver::start_tls(&named.cert_pem, &named.key_pem).await;
    let other = ca.server(&["other.tls.test"]);
    let wrong = Receiver::start_tls(&other.cert_pem, &other.key_pem).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();

    // Only the test's resolver knows the name: a delivery that arrives went to its address.
    let app = app(&["--webhook-ca-cert", ca_file.to_str().unwrap()]).await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let good = create(
        &app,
        &format!("https://hooks.tls.test:{}/hook", port(&right)),
    )
    .await;
    assert_eq!(good["userErrors"], json!([]), "{good}");
    let bad = create(
        &app,
        &format!("https://hooks.tls.test:{}/hook", port(&wrong)),
    )
    .await;
    assert_eq!(bad["userErrors"], json!([]), "{bad}");
    let bad_id = bad["endpoint"]["id"].clone();

    announce(&app, org, "tls").await;
    let got = right.wait_for(1).await;
    assert_eq!(got[0].json()["type"], "connection.broken");

    // The same address, a certificate for another name from the same trusted CA: refused.
    attempts(&app, &bad_id).await;
    let d = app
        .gql_data(&app.full_token("acme"), ATTEMPTS, json!({"id": bad_id}))
        .await;
    let attempt = &d["webhookEndpoint"]["deliveries"]["edges"][0]["node"]["attempts"][0];
    assert_eq!(attempt["errorCode"], "TLS_FAILED", "{d}");
    let why = attempt["error"].as_str().unwrap();
    assert!(why.contains("not valid for name"), "{why}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        wrong.received().is_empty(),
        "no request without a valid handshake"
    );
}

/// Without the extra CA, the receiver's certificate is not trusted: the flag is what let the
/// delivery above through, not a client that accepts any certificate.
#[tokio::test(flavor = "multi_thread")]
async fn a_private_ca_is_trusted_only_when_configured() {
    let ca = Ca::new();
    let named = ca.server(&["hooks.tls.test"]);
    let rx = Receiver::start_tls(&named.cert_pem, &named.key_pem).await;
    let app = app(&[]).await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let d = create(&app, &format!("https://hooks.tls.test:{}/hook", port(&rx))).await;
    assert_eq!(d["userErrors"], json!([]), "{d}");
    announce(&app, org, "untrusted").await;
    let d = attempts(&app, &d["endpoint"]["id"]).await;
    let attempt = &d["webhookEndpoint"]["deliveries"]["edges"][0]["node"]["attempts"][0];
    assert_eq!(attempt["errorCode"], "TLS_FAILED", "{d}");
    assert!(rx.received().is_empty());
}
