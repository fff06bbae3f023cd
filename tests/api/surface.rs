//! The API surface as tests see it: every root field listed by introspection, and for each the
//! scope it needs and a request that exercises it. Adding a root field without adding it here
//! fails the scope and isolation tests.

use crate::support::TestApp;
use ponto_bridge::domain::scope::Scope;
use serde_json::{Value, json};

/// Root fields by introspection, as `query.<name>`, `mutation.<name>`, `subscription.<name>`.
pub async fn root_fields(app: &TestApp) -> Vec<String> {
    let q = "{ __schema { queryType { fields { name } } mutationType { fields { name } } subscriptionType { fields { name } } } }";
    let data = app
        .gql_data(&app.full_token("introspector"), q, json!({}))
        .await;
    let mut out = Vec::new();
    for (kind, key) in [
        ("query", "queryType"),
        ("mutation", "mutationType"),
        ("subscription", "subscriptionType"),
    ] {
        if let Some(fields) = data["__schema"][key]["fields"].as_array() {
            for f in fields {
                out.push(format!("{kind}.{}", f["name"].as_str().unwrap()));
            }
        }
    }
    assert!(out.len() > 5, "introspection works: {data}");
    out
}

/// A request that calls one root field, and the scope it needs.
pub struct Call {
    pub scope: Scope,
    pub doc: &'static str,
    pub vars: Value,
}

/// The call for a root field, or `None` when the table lacks it (a test failure).
pub fn call(field: &str) -> Option<Call> {
    let any_id = ponto_bridge::graphql::ids::encode("Invoice", uuid::Uuid::now_v7());
    let c = |scope, doc, vars| Some(Call { scope, doc, vars });
    match field {
        "query.viewer" => c(Scope::Read, "{ viewer { subject } }", json!({})),
        "query.pontoConnection" => c(Scope::Read, "{ pontoConnection { status } }", json!({})),
        "query.bankAccounts" => c(
            Scope::Read,
            "{ bankAccounts { edges { node { id } } } }",
            json!({}),
        ),
        "query.bankAccount" => c(
            Scope::Read,
            "query($id: ID!) { bankAccount(id: $id) { id } }",
            json!({"id": any_id}),
        ),
        "query.transactions" => c(
            Scope::Read,
            "{ transactions { edges { node { id } } } }",
            json!({}),
        ),
        "query.invoices" => c(
            Scope::Read,
            "{ invoices { edges { node { id } } } }",
            json!({}),
        ),
        "query.invoice" => c(
            Scope::Read,
            "query($id: ID) { invoice(id: $id) { id } }",
            json!({"id": any_id}),
        ),
        "query.node" => c(
            Scope::Read,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": any_id}),
        ),
        "mutation.upsertInvoices" => c(
            Scope::Write,
            "mutation { upsertInvoices(input: {invoices: []}) { userErrors { code } } }",
            json!({}),
        ),
        "mutation.connectPonto" => c(
            Scope::Write,
            "mutation { connectPonto(input: {returnUrl: \"https://app.example/\"}) { url } }",
            json!({}),
        ),
        "mutation.disconnectPonto" => c(
            Scope::Write,
            "mutation { disconnectPonto { pontoConnection { status } } }",
            json!({}),
        ),
        "mutation.syncNow" => c(
            Scope::Write,
            "mutation($id: ID!) { syncNow(input: {accountId: $id, customerIpAddress: \"203.0.113.1\"}) { nextSyncAllowedAt } }",
            json!({"id": ponto_bridge::graphql::ids::encode("BankAccount", uuid::Uuid::now_v7())}),
        ),
        "mutation.requestReauthorization" => c(
            Scope::Write,
            "mutation($id: ID!) { requestReauthorization(input: {accountId: $id, returnUrl: \"https://app.example/\"}) { url } }",
            json!({"id": ponto_bridge::graphql::ids::encode("BankAccount", uuid::Uuid::now_v7())}),
        ),
        "mutation.retryInboundEvents" => c(
            Scope::Admin,
            "mutation($s: DateTime!) { retryInboundEvents(input: {since: $s}) { requeued } }",
            json!({"s": chrono::Utc::now().to_rfc3339()}),
        ),
        "mutation.voidInvoice" => c(
            Scope::Write,
            "mutation($id: ID) { voidInvoice(input: {id: $id}) { userErrors { code } } }",
            json!({"id": any_id}),
        ),
        "query.matchSuggestions" => c(
            Scope::Read,
            "query($id: ID) { matchSuggestions(invoiceId: $id) { evidence } }",
            json!({"id": any_id}),
        ),
        "query.reconciliationSettings" => c(
            Scope::Read,
            "{ reconciliationSettings { matchTolerance } }",
            json!({}),
        ),
        "query.ignoreRules" => c(Scope::Read, "{ ignoreRules { id } }", json!({})),
        "query.auditLog" => c(
            Scope::Read,
            "{ auditLog { edges { node { id } } } }",
            json!({}),
        ),
        "mutation.matchTransaction" => c(
            Scope::Write,
            "mutation($id: ID!) { matchTransaction(input: {transactionId: $id, invoiceId: $id}) { userErrors { code } } }",
            json!({"id": any_id}),
        ),
        "mutation.unmatchTransaction" => c(
            Scope::Write,
            "mutation($id: ID!) { unmatchTransaction(input: {matchId: $id}) { userErrors { code } } }",
            json!({"id": any_id}),
        ),
        "mutation.dismissSuggestion" => c(
            Scope::Write,
            "mutation($id: ID!) { dismissSuggestion(input: {transactionId: $id, invoiceId: $id}) { userErrors { code } } }",
            json!({"id": any_id}),
        ),
        "mutation.ignoreTransaction" => c(
            Scope::Write,
            "mutation($id: ID!) { ignoreTransaction(input: {transactionId: $id}) { userErrors { code } } }",
            json!({"id": any_id}),
        ),
        "mutation.restoreTransaction" => c(
            Scope::Write,
            "mutation($id: ID!) { restoreTransaction(input: {transactionId: $id}) { userErrors { code } } }",
            json!({"id": any_id}),
        ),
        "mutation.createIgnoreRule" => c(
            Scope::Write,
            "mutation { createIgnoreRule(input: {keyword: \"bank fees\"}) { userErrors { code } } }",
            json!({}),
        ),
        "mutation.deleteIgnoreRule" => c(
            Scope::Write,
            "mutation($id: ID!) { deleteIgnoreRule(input: {id: $id}) { userErrors { code } } }",
            json!({"id": any_id}),
        ),
        "mutation.updateReconciliationSettings" => c(
            Scope::Admin,
            "mutation { updateReconciliationSettings(input: {matchTolerance: \"0.01\"}) { userErrors { code } } }",
            json!({}),
        ),
        "query.webhookEndpoints" => c(Scope::Admin, "{ webhookEndpoints { id } }", json!({})),
        "query.webhookEventTypes" => c(
            Scope::Admin,
            "{ webhookEventTypes { name description schema } }",
            json!({}),
        ),
        "mutation.sendTestWebhook" => c(
            Scope::Admin,
            "mutation($id: ID!) { sendTestWebhook(input: {id: $id}) { delivery { id } userErrors { code } } }",
            json!({"id": any_id}),
        ),
        "mutation.redeliverWebhook" => c(
            Scope::Admin,
            "mutation($id: ID!) { redeliverWebhook(input: {deliveryId: $id}) { delivery { id } userErrors { code } } }",
            json!({"id": any_id}),
        ),
        "mutation.recoverWebhookEndpoint" => c(
            Scope::Admin,
            "mutation($id: ID!, $s: DateTime!) { recoverWebhookEndpoint(input: {endpointId: $id, since: $s}) { requeued userErrors { code } } }",
            json!({"id": any_id, "s": (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339()}),
        ),
        "query.events" => c(
            Scope::Admin,
            "{ events(first: 5) { edges { node { id seq cursor type timestamp data } } } }",
            json!({}),
        ),
        "query.webhookEndpoint" => c(
            Scope::Admin,
            "query($id: ID!) { webhookEndpoint(id: $id) { id } }",
            json!({"id": any_id}),
        ),
        "mutation.createWebhookEndpoint" => c(
            Scope::Admin,
            "mutation { createWebhookEndpoint(input: {url: \"https://127.0.0.1/x\"}) { secret userErrors { code } } }",
            json!({}),
        ),
        "mutation.updateWebhookEndpoint" => c(
            Scope::Admin,
            "mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, enabled: false}) { userErrors { code } } }",
            json!({"id": any_id}),
        ),
        "mutation.deleteWebhookEndpoint" => c(
            Scope::Admin,
            "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { userErrors { code } } }",
            json!({"id": any_id}),
        ),
        "mutation.rotateWebhookSecret" => c(
            Scope::Admin,
            "mutation($id: ID!) { rotateWebhookSecret(input: {id: $id}) { secret userErrors { code } } }",
            json!({"id": any_id}),
        ),
        "subscription.invoicePaymentStatusChanged" => c(
            Scope::Read,
            "subscription { invoicePaymentStatusChanged { id status } }",
            json!({}),
        ),
        "subscription.transactionAdded" => c(
            Scope::Read,
            "subscription { transactionAdded { id } }",
            json!({}),
        ),
        "subscription.transactionChanged" => c(
            Scope::Read,
            "subscription { transactionChanged { id } }",
            json!({}),
        ),
        "subscription.bankAccountChanged" => c(
            Scope::Read,
            "subscription { bankAccountChanged { id } }",
            json!({}),
        ),
        "subscription.connectionStatusChanged" => c(
            Scope::Read,
            "subscription { connectionStatusChanged { status } }",
            json!({}),
        ),
        "subscription.events" => c(
            Scope::Admin,
            "subscription { events { seq type } }",
            json!({}),
        ),
        _ => None,
    }
}

/// Sends a root field's call as `token`: over HTTP, or over `/graphql/ws` for a subscription
/// (its first result, or `{"data": null}` once it started with nothing to show yet).
pub async fn send(app: &TestApp, field: &str, token: &str, c: &Call) -> Value {
    if field.starts_with("subscription.") {
        crate::subscriptions::first_result(app, token, c.doc, c.vars.clone()).await
    } else {
        app.gql(token, c.doc, c.vars.clone()).await
    }
}
