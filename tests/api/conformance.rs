//! Conformance of the sandbox to Ponto Connect: every response shape it serves is checked
//! against the vendored OpenAPI document, and every key of each operation's documented example
//! must be in the sandbox's answer (the checker is `openapi_check`). Token, revoke and error
//! bodies are checked against ponto-connect.md §2.2 and §3.

use crate::openapi_check::{Spec, assert_example_keys, conforms};
use crate::support::Sandbox;
use ponto_bridge::clock::SystemClock;
use serde_json::{Value, json};
use std::sync::Arc;

/// The operations the sandbox serves, with the schemas and examples to hold them to.
const OPERATIONS: &[(&str, &str)] = &[
    ("/accounts", "get"),
    ("/accounts/{id}", "get"),
    ("/accounts/{id}", "delete"),
    ("/accounts/{accountId}/transactions", "get"),
    ("/accounts/{accountId}/transactions/{id}", "get"),
    ("/financial-institutions", "get"),
    ("/financial-institutions/{id}", "get"),
    ("/organizations/{organizationId}/integration", "delete"),
    ("/userinfo", "get"),
];

async fn get(
    sb: &Sandbox,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
) -> (u16, Value) {
    send(sb, token, method, path, None).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_shape_the_sandbox_serves_conforms() {
    let spec = Spec::load();
    let sb = Sandbox::start(Arc::new(SystemClock)).await;
    let org = sb.org("Conformance NV").await;
    let acc = sb.account(&org, json!({"currentBalance": "6386.04", "holderName": "Conformance NV", "product": "Business"})).await;
    let spare = sb.account(&org, json!({})).await;
    sb.transactions_raw(&acc, r#"[{"amount":-100.0,"counterpartName":"Shop","counterpartReference":"BE23732688626491",
        "remittanceInformation":"BIGGER NEW JACKET","endToEndId":"e2e","bankTransactionCode":"PMNT-IRCT-ESCT","fee":0.35,
        "valueDate":"2022-09-23","purposeCode":"CASH","mandateId":"234","creditorId":"123","additionalInformation":"x",
        "cardReference":"1234","cardReferenceType":"MASKEDPAN","proprietaryBankTransactionCode":"12345"},
        {"amount":12.5,"valueDate":"2022-09-24"},{"amount":-3,"pending":true},{"amount":4.75,"pending":true}]"#.into()).await;
    let client = sb.client();
    let tokens = sb.link(&client, &org, &[&acc, &spare]).await;
    let token = tokens.access_token.expose().to_owned();
    let tx_list = get(
        &sb,
        Some(&token),
        reqwest::Method::GET,
        &format!("/accounts/{acc}/transactions?page[limit]=2"),
    )
    .await
    .1;
    let tx_id = tx_list["data"][0]["id"].as_str().unwrap().to_owned();

    for (path, method) in OPERATIONS {
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, body) = match (*path, *method) {
            ("/accounts", _) => get(&sb, Some(&token), m, "/accounts?page[limit]=1").await,
            ("/accounts/{id}", "get") => {
                get(&sb, Some(&token), m, &format!("/accounts/{acc}")).await
            }
            ("/accounts/{id}", "delete") => {
                get(&sb, Some(&token), m, &format!("/accounts/{spare}")).await
            }
            ("/accounts/{accountId}/transactions", _) => {
                get(
                    &sb,
                    Some(&token),
                    m,
                    &format!("/accounts/{acc}/transactions?page[limit]=1"),
                )
                .await
            }
            ("/accounts/{accountId}/transactions/{id}", _) => {
                get(
                    &sb,
                    Some(&token),
                    m,
                    &format!("/accounts/{acc}/transactions/{tx_id}"),
                )
                .await
            }
            ("/financial-institutions", _) => {
                get(&sb, None, m, "/financial-institutions?page[limit]=1").await
            }
            ("/financial-institutions/{id}", _) => {
                get(
                    &sb,
                    None,
                    m,
                    "/financial-institutions/9251e765-bfbe-48b0-a082-3b043c386131",
                )
                .await
            }
            ("/organizations/{organizationId}/integration", _) => continue, // below: it ends the integration
            ("/userinfo", _) => get(&sb, Some(&token), m, "/userinfo").await,
            other => panic!("no request for {other:?}"),
        };
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {body}"
        );
        let (schema, example) = spec.response(path, method);
        spec.assert_valid(schema, &body, &format!("{method} {path}"));
        assert_example_keys(&example, &body, &format!("{method} {path}"));
    }

    // Pending transactions have no operation in the document: hold them to the transaction
    // schema and the transaction listing's example.
    let (_, pending) = get(
        &sb,
        Some(&token),
        reqwest::Method::GET,
        &format!("/accounts/{acc}/pending-transactions?page[limit]=1"),
    )
    .await;
    let (tx_schema, tx_example) = spec.response("/accounts/{accountId}/transactions", "get");
    spec.assert_valid(tx_schema, &pending, "pending transactions");
    assert_example_keys(&tx_example, &pending, "pending transactions");
    assert_eq!(pending["data"][0]["type"], "pendingTransaction");
    let pid = pending["data"][0]["id"].as_str().unwrap();
    let (_, one) = get(
        &sb,
        Some(&token),
        reqwest::Method::GET,
        &format!("/accounts/{acc}/pending-transactions/{pid}"),
    )
    .await;
    spec.assert_valid(
        spec.named("transaction_single"),
        &one,
        "one pending transaction",
    );

    // Error bodies (§2.2): {"errors":[{code, detail, meta}]}.
    for (status, body) in [
        get(&sb, Some("not-a-token"), reqwest::Method::GET, "/accounts").await,
        get(
            &sb,
            Some(&token),
            reqwest::Method::GET,
            &format!("/accounts/{}", uuid::Uuid::new_v4()),
        )
        .await,
    ] {
        assert!(status == 401 || status == 404);
        let e = &body["errors"][0];
        assert!(
            e["code"].is_string() && e["detail"].is_string() && e["meta"]["requestId"].is_string(),
            "{body}"
        );
    }
    assert_eq!(
        get(
            &sb,
            Some(&token),
            reqwest::Method::GET,
            &format!("/accounts/{}", uuid::Uuid::new_v4())
        )
        .await
        .1["errors"][0]["meta"]["resource"],
        "account"
    );

    // Token (§3): access_token, expires_in, refresh_token, scope, token_type; and OAuth errors.
    let token_body: Value = sb
        .http
        .post(format!("{}/ponto-connect/oauth2/token", sb.base))
        .basic_auth("sandbox-client", Some("sandbox-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                tokens.refresh_token.as_ref().unwrap().expose(),
            ),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for key in [
        "access_token",
        "expires_in",
        "refresh_token",
        "scope",
        "token_type",
    ] {
        assert!(
            !token_body[key].is_null(),
            "token body lacks {key}: {token_body}"
        );
    }
    assert_eq!(token_body["expires_in"], 1799);
    assert_eq!(
        token_body["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .count(),
        2,
        "opaque xxx.yyy"
    );
    let oauth_error: Value = sb
        .http
        .post(format!("{}/ponto-connect/oauth2/token", sb.base))
        .basic_auth("sandbox-client", Some("sandbox-secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "nope")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(oauth_error["error"], "invalid_grant");
    assert!(oauth_error["error_description"].is_string());

    // Integration deletion (client token) conforms, and revocation answers {}.
    let app = client.client_credentials().await.unwrap();
    let (status, body) = get(
        &sb,
        Some(app.access_token.expose()),
        reqwest::Method::DELETE,
        &format!("/organizations/{org}/integration"),
    )
    .await;
    assert_eq!(status, 200);
    let (schema, example) = spec.response("/organizations/{organizationId}/integration", "delete");
    spec.assert_valid(schema, &body, "DELETE integration");
    assert_example_keys(&example, &body, "DELETE integration");
    let revoked = sb
        .http
        .post(format!("{}/ponto-connect/oauth2/revoke", sb.base))
        .basic_auth("sandbox-client", Some("sandbox-secret"))
        .form(&[("token", "anything")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(revoked.json::<Value>().await.unwrap(), json!({}));
}

/// A request to the sandbox's Ponto API: status and JSON body.
async fn send(
    sb: &Sandbox,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = sb
        .http
        .request(method, format!("{}/ponto-connect{path}", sb.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn synchronization_reauthorization_and_sandbox_data_shapes_conform() {
    use reqwest::Method;
    let spec = Spec::load();
    let sb = Sandbox::start(Arc::new(SystemClock)).await;
    let org = sb.org("Conformance II").await;
    let acc = sb.account(&org, json!({"currentBalance": "1308.5"})).await;
    sb.account(&org, json!({})).await;
    let client = sb.client();
    let tokens = sb.link(&client, &org, &[&acc]).await;
    let token = tokens.access_token.expose().to_owned();
    sb.transactions(&acc, json!([{"amount": "-100.0", "remittanceInformation": "a"}, {"amount": "5", "remittanceInformation": "b"},
        {"amount": "-1", "pending": true}, {"amount": "-2", "pending": true}])).await;

    let body = |subtype: &str| {
        json!({"data": {"type": "synchronization", "attributes": {
        "resourceType": "account", "resourceId": acc, "subtype": subtype, "customerIpAddress": "203.0.113.9"}}})
    };
    let (status, created) = send(
        &sb,
        Some(&token),
        Method::POST,
        "/synchronizations",
        Some(body("accountTransactions")),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    conforms(&spec, "/synchronizations", "post", &created);
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    crate::support::finished_sync(&client, &tokens.access_token, &id).await;
    let (_, got) = send(
        &sb,
        Some(&token),
        Method::GET,
        &format!("/synchronizations/{id}"),
        None,
    )
    .await;
    conforms(&spec, "/synchronizations/{id}", "get", &got);
    let (_, updated) = send(
        &sb,
        Some(&token),
        Method::GET,
        &format!("/synchronizations/{id}/updated-transactions?page[limit]=1"),
        None,
    )
    .await;
    conforms(
        &spec,
        "/synchronizations/{synchronizationId}/updated-transactions",
        "get",
        &updated,
    );

    let (_, created) = send(
        &sb,
        Some(&token),
        Method::POST,
        "/synchronizations",
        Some(body("accountTransactionsWithUnsettled")),
    )
    .await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    crate::support::finished_sync(&client, &tokens.access_token, &id).await;
    let (_, pending) = send(
        &sb,
        Some(&token),
        Method::GET,
        &format!("/synchronizations/{id}/updated-pending-transactions?page[limit]=1"),
        None,
    )
    .await;
    conforms(
        &spec,
        "/synchronizations/{synchronizationId}/updated-transactions",
        "get",
        &pending,
    );
    assert_eq!(pending["data"][0]["type"], "pendingTransaction");

    // Too soon: Ponto's error body.
    let (status, recent) = send(
        &sb,
        Some(&token),
        Method::POST,
        "/synchronizations",
        Some(body("accountTransactions")),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(recent["errors"][0]["code"], "accountRecentlySynchronized");

    let reauth = json!({"data": {"type": "reauthorizationRequest", "attributes": {"redirectUri": "https://app.example/back"}}});
    let (status, r) = send(
        &sb,
        Some(&token),
        Method::POST,
        &format!("/accounts/{acc}/reauthorization-requests"),
        Some(reauth),
    )
    .await;
    assert_eq!(status, 201);
    conforms(
        &spec,
        "/accounts/{accountId}/reauthorization-requests",
        "post",
        &r,
    );

    let fi = "/sandbox/financial-institutions/9251e765-bfbe-48b0-a082-3b043c386131/financial-institution-accounts";
    let fi_doc =
        "/sandbox/financial-institutions/{financialInstitutionId}/financial-institution-accounts";
    let fi_tx_doc = "/sandbox/financial-institutions/{financialInstitutionId}/financial-institution-accounts/{financialInstitutionAccountId}/financial-institution-transactions";
    let (_, list) = send(
        &sb,
        Some(&token),
        Method::GET,
        &format!("{fi}?page[limit]=1"),
        None,
    )
    .await;
    conforms(&spec, fi_doc, "get", &list);
    let (_, one) = send(&sb, Some(&token), Method::GET, &format!("{fi}/{acc}"), None).await;
    conforms(&spec, &format!("{fi_doc}/{{id}}"), "get", &one);
    let (_, txs) = send(
        &sb,
        Some(&token),
        Method::GET,
        &format!("{fi}/{acc}/financial-institution-transactions?page[limit]=1"),
        None,
    )
    .await;
    conforms(&spec, fi_tx_doc, "get", &txs);
    let (_, op_example) = spec.response(fi_tx_doc, "post");
    let request =
        spec.operation(fi_tx_doc, "post")["requestBody"]["content"]["application/json"]["example"]
            .clone();
    let request: Value = match request {
        Value::String(s) => serde_json::from_str(&s).unwrap(),
        v => v,
    };
    let (status, created) = send(
        &sb,
        Some(&token),
        Method::POST,
        &format!("{fi}/{acc}/financial-institution-transactions"),
        Some(request),
    )
    .await;
    assert_eq!(
        status, 201,
        "the document's own request example is accepted: {created}"
    );
    conforms(&spec, fi_tx_doc, "post", &created);
    assert_eq!(
        created["data"]["attributes"]["amount"],
        op_example["data"]["attributes"]["amount"]
    );
    let tid = created["data"]["id"].as_str().unwrap();
    let (_, one) = send(
        &sb,
        Some(&token),
        Method::GET,
        &format!("{fi}/{acc}/financial-institution-transactions/{tid}"),
        None,
    )
    .await;
    conforms(&spec, &format!("{fi_tx_doc}/{{id}}"), "get", &one);
    let patch = spec.operation(&format!("{fi_tx_doc}/{{id}}"), "patch")["requestBody"]["content"]["application/json"]["example"].clone();
    let patch: Value = match patch {
        Value::String(s) => serde_json::from_str(&s).unwrap(),
        v => v,
    };
    let (status, patched) = send(
        &sb,
        Some(&token),
        Method::PATCH,
        &format!("{fi}/{acc}/financial-institution-transactions/{tid}"),
        Some(patch),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    conforms(&spec, &format!("{fi_tx_doc}/{{id}}"), "patch", &patched);
}
