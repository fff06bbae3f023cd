//! Outbound webhook endpoints managed through GraphQL (scope `admin`): created with a
//! `whsec_` secret shown once and sealed at rest, refused with their codes where the URL, the
//! event types or the limits are wrong (nothing written), changed, disabled and enabled,
//! their secret rotated with an overlap, deleted with their pending deliveries cancelled, and
//! every change audited without the secret.

use crate::support::TestApp;
use crate::tokens::database_bytes;
use ponto_bridge::clock::Clock;
use ponto_bridge::domain::event::{ConnectionData, ConnectionEvent, Event};
use ponto_bridge::domain::status::DeliveryStatus;
use serde_json::{Value, json};

const CREATE: &str = "mutation($url: String!, $types: [String!], $d: String, $r: Int) {
    createWebhookEndpoint(input: {url: $url, eventTypes: $types, description: $d, rateLimitPerSecond: $r}) {
    endpoint { id url description eventTypes status rateLimitPerSecond } secret userErrors { field message code } } }";

const LIST: &str = "{ webhookEndpoints { id url description eventTypes status disabledReason rateLimitPerSecond previousSecretExpiresAt } }";

const UPDATE: &str = "mutation($id: ID!, $url: String, $types: [String!], $on: Boolean) {
    updateWebhookEndpoint(input: {id: $id, url: $url, eventTypes: $types, enabled: $on}) {
    endpoint { id url eventTypes status disabledReason description rateLimitPerSecond } userErrors { field code } } }";

async fn app(allow_http: bool) -> TestApp {
    TestApp::builder()
        .flags(&[
            "--webhook-allowed-targets",
            "127.0.0.1/32, hooks.example.com",
            "--webhook-allow-http",
            if allow_http { "true" } else { "false" },
        ])
        .start()
        .await
}

fn create_vars(url: &str, types: Value) -> Value {
    json!({"url": url, "types": types, "d": "accounting sync", "r": 5})
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_is_created_with_its_secret_shown_once_and_sealed_at_rest() {
    let app = app(true).await;
    let admin = app.full_token("acme");
    let d = app
        .gql_data(
            &admin,
            CREATE,
            create_vars(
                "http://127.0.0.1:9/hook",
                json!(["invoice.paid", "invoice.paid"]),
            ),
        )
        .await["createWebhookEndpoint"]
        .take();
    assert_eq!(d["userErrors"], json!([]), "{d}");
    let e = &d["endpoint"];
    assert_eq!(e["eventTypes"], json!(["invoice.paid"]), "each type once");
    assert_eq!(e["status"], "ENABLED");
    assert_eq!(e["rateLimitPerSecond"], 5);
    assert_eq!(e["description"], "accounting sync");
    let secret = d["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");

    // Shown only there: no field of the endpoint type carries it, and the database holds it
    // sealed (neither the whsec_ form nor its key bytes appear).
    let fields = app
        .gql_data(
            &admin,
            "{ __type(name: \"WebhookEndpoint\") { fields { name } } }",
            json!({}),
        )
        .await;
    let names: Vec<&str> = fields["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"url"), "{fields}");
    assert!(
        names
            .iter()
            .all(|n| !n.to_lowercase().contains("secret") || *n == "previousSecretExpiresAt"),
        "{fields}"
    );
    let listed = app.gql_data(&admin, LIST, json!({})).await;
    assert!(!listed.to_string().contains(&secret[6..]));
    let bytes = database_bytes(&app).await;
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD
        .decode(&secret[6..])
        .unwrap();
    for needle in [secret.as_bytes(), &secret.as_bytes()[6..], key.as_slice()] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the secret is readable in the database"
        );
    }
    let audit = app
        .gql_data(
            &admin,
            "{ auditLog(first: 10) { edges { node { action actor details } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        audit["auditLog"]["edges"][0]["node"]["action"],
        "WEBHOOK_ENDPOINT_CREATED"
    );
    assert!(!audit.to_string().contains(&secret[6..]));

    // Omitted types: every type.
    let d = app
        .gql_data(
            &admin,
            CREATE,
            json!({"url": "https://hooks.example.com/all"}),
        )
        .await["createWebhookEndpoint"]
        .take();
    assert_eq!(d["endpoint"]["eventTypes"], json!([]), "{d}");
    assert_eq!(d["endpoint"]["rateLimitPerSecond"], Value::Null);
    assert_ne!(d["secret"], json!(secret), "each endpoint its own secret");
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_carry_their_code_and_create_nothing() {
    let app = app(false).await;
    let admin = app.full_token("acme");
    let too_long = format!("https://hooks.example.com/{}", "a".repeat(2000));
    for (vars, field, code) in [
        (
            create_vars(
                "https://127.0.0.1/x",
                json!(["invoice.paid", "invoice.payd"]),
            ),
            "eventTypes",
            "UNKNOWN_EVENT_TYPE",
        ),
        (
            create_vars("https://10.0.0.1/x", json!([])),
            "url",
            "TARGET_NOT_ALLOWED",
        ),
        (
            create_vars("https://localhost/x", json!([])),
            "url",
            "TARGET_NOT_ALLOWED",
        ),
        (
            create_vars("https://169.254.169.254/latest", json!([])),
            "url",
            "TARGET_NOT_ALLOWED",
        ),
        (
            create_vars("http://127.0.0.1/x", json!([])),
            "url",
            "HTTPS_REQUIRED",
        ),
        (
            create_vars("hooks.example.com/x", json!([])),
            "url",
            "INVALID",
        ),
        (
            create_vars("https://u:p@hooks.example.com/x", json!([])),
            "url",
            "INVALID",
        ),
        (create_vars(&too_long, json!([])), "url", "TOO_LONG"),
        (
            json!({"url": "https://hooks.example.com/x", "r": 0}),
            "rateLimitPerSecond",
            "OUT_OF_RANGE",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "d": "x".repeat(501)}),
            "description",
            "TOO_LONG",
        ),
    ] {
        let d = app.gql_data(&admin, CREATE, vars).await["createWebhookEndpoint"].take();
        assert_eq!(d["userErrors"][0]["code"], code, "{d}");
        assert_eq!(d["userErrors"][0]["field"], json!([field]), "{d}");
        assert!(d["endpoint"].is_null() && d["secret"].is_null(), "{d}");
    }
    assert_eq!(
        app.gql_data(&admin, LIST, json!({})).await["webhookEndpoints"],
        json!([])
    );
    // Positive control: the same server accepts an allowed https target.
    let d = app
        .gql_data(
            &admin,
            CREATE,
            create_vars("https://127.0.0.1:8443/x", json!([])),
        )
        .await["createWebhookEndpoint"]
        .take();
    assert_eq!(d["userErrors"], json!([]), "{d}");
    // An update is checked the same way, and leaves the endpoint as it was.
    let id = d["endpoint"]["id"].clone();
    let u = app
        .gql_data(
            &admin,
            UPDATE,
            json!({"id": id, "url": "https://10.0.0.1/x"}),
        )
        .await["updateWebhookEndpoint"]
        .take();
    assert_eq!(u["userErrors"][0]["code"], "TARGET_NOT_ALLOWED", "{u}");
    let listed = app.gql_data(&admin, LIST, json!({})).await;
    assert_eq!(
        listed["webhookEndpoints"][0]["url"],
        "https://127.0.0.1:8443/x"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_change_rotate_and_delete_and_deletion_cancels_their_deliveries() {
    let app = app(true).await;
    let admin = app.full_token("acme");
    let d = app
        .gql_data(
            &admin,
            CREATE,
            create_vars("http://127.0.0.1:9/a", json!(["connection.broken"])),
        )
        .await["createWebhookEndpoint"]
        .take();
    let id = d["endpoint"]["id"].clone();
    let first_secret = d["secret"].clone();

    // Disable, then enable; change the types and clear the description and limit.
    let off = app
        .gql_data(&admin, UPDATE, json!({"id": id, "on": false}))
        .await["updateWebhookEndpoint"]
        .take();
    assert_eq!(off["endpoint"]["status"], "DISABLED", "{off}");
    assert_eq!(off["endpoint"]["disabledReason"], "disabled by tester");
    let on = app
        .gql_data(&admin, UPDATE, json!({"id": id, "on": true, "types": []}))
        .await["updateWebhookEndpoint"]
        .take();
    assert_eq!(on["endpoint"]["status"], "ENABLED", "{on}");
    assert_eq!(on["endpoint"]["disabledReason"], Value::Null);
    assert_eq!(on["endpoint"]["eventTypes"], json!([]));
    let clear = "mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, description: null, rateLimitPerSecond: null}) {
        endpoint { description rateLimitPerSecond url } userErrors { code } } }";
    let c = app.gql_data(&admin, clear, json!({"id": id})).await["updateWebhookEndpoint"].take();
    assert_eq!(
        c["endpoint"],
        json!({"description": null, "rateLimitPerSecond": null, "url": "http://127.0.0.1:9/a"}),
        "{c}"
    );

    // Rotation: a new secret, the old one signing beside it for the overlap (24 h).
    let rotate = "mutation($id: ID!) { rotateWebhookSecret(input: {id: $id}) {
        endpoint { previousSecretExpiresAt } secret userErrors { code } } }";
    let r = app.gql_data(&admin, rotate, json!({"id": id})).await["rotateWebhookSecret"].take();
    assert_eq!(r["userErrors"], json!([]), "{r}");
    assert!(r["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_ne!(r["secret"], first_secret);
    let until: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(r["endpoint"]["previousSecretExpiresAt"].clone()).unwrap();
    assert_eq!(until - app.clock.now(), chrono::Duration::hours(24));

    // A delivery waiting for this endpoint is cancelled by the deletion; nothing is lost for
    // the other endpoint.
    let other = app
        .gql_data(
            &admin,
            CREATE,
            create_vars("http://127.0.0.1:9/b", json!([])),
        )
        .await["createWebhookEndpoint"]["endpoint"]["id"]
        .clone();
    assert!(other.is_string());
    let org = app.store.ensure_organization("acme").await.unwrap();
    let mut tx = app.store.begin_write().await.unwrap();
    let event = Event::connection(
        ConnectionEvent::Broken,
        ConnectionData {
            connection_id: "c".into(),
            status: "BROKEN".into(),
            problems: vec![],
            reason: None,
        },
    );
    let appended = tx.append_event(org, &event, None).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    assert_eq!(appended.deliveries, 2);
    let del = "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { deletedEndpointId userErrors { code } } }";
    let gone = app.gql_data(&admin, del, json!({"id": id})).await["deleteWebhookEndpoint"].take();
    assert_eq!(gone["deletedEndpointId"], id, "{gone}");
    let statuses: Vec<DeliveryStatus> = app
        .store
        .deliveries_for_event(org, appended.id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.status)
        .collect();
    let mut statuses = statuses;
    statuses.sort_by_key(|s| s.as_str());
    assert_eq!(
        statuses,
        [DeliveryStatus::Cancelled, DeliveryStatus::Pending]
    );
    let listed = app.gql_data(&admin, LIST, json!({})).await;
    assert_eq!(listed["webhookEndpoints"].as_array().unwrap().len(), 1);
    assert_eq!(listed["webhookEndpoints"][0]["id"], other);
    // Gone for every mutation.
    let again = app.gql_data(&admin, del, json!({"id": id})).await["deleteWebhookEndpoint"].take();
    assert_eq!(again["userErrors"][0]["code"], "NOT_FOUND");
    let r = app.gql_data(&admin, rotate, json!({"id": id})).await["rotateWebhookSecret"].take();
    assert_eq!(r["userErrors"][0]["code"], "NOT_FOUND");
    let u = app
        .gql_data(&admin, UPDATE, json!({"id": id, "on": true}))
        .await["updateWebhookEndpoint"]
        .take();
    assert_eq!(u["userErrors"][0]["code"], "NOT_FOUND");

    let actions: Vec<String> = app
        .gql_data(
            &admin,
            "{ auditLog(first: 20) { edges { node { action } } } }",
            json!({}),
        )
        .await["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        [
            "WEBHOOK_ENDPOINT_DELETED",
            "WEBHOOK_ENDPOINT_CREATED",
            "WEBHOOK_SECRET_ROTATED",
            "WEBHOOK_ENDPOINT_UPDATED",
            "WEBHOOK_ENDPOINT_UPDATED",
            "WEBHOOK_ENDPOINT_UPDATED",
            "WEBHOOK_ENDPOINT_CREATED",
        ]
    );
}

/// Lock order (ARCHITECTURE invariant 5): a finishing attempt holds its delivery row, then
/// updates its endpoint's failure clock; a deletion meanwhile waits for it rather than holding
/// the endpoint row while it waits (a deadlock, one side failing `INTERNAL`). Built as the race:
/// the attempt's two steps are taken by hand on a second connection around the deletion.
/// PostgreSQL only: SQLite has one writer at a time.
#[tokio::test(flavor = "multi_thread")]
async fn a_deletion_waits_for_a_finishing_attempt_instead_of_deadlocking() {
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    let app = TestApp::builder()
        .flags(&[
            "--webhook-allowed-targets",
            "127.0.0.1/32",
            "--webhook-allow-http",
            "true",
            // Due in an hour: the worker never takes the delivery during the test.
            "--webhook-retry-schedule",
            "3600,3600",
        ])
        .start()
        .await;
    if !app.db.url.starts_with("postgres") {
        return;
    }
    let admin = app.full_token("acme");
    let url = "http://127.0.0.1:9/race";
    let id = app
        .gql_data(&admin, CREATE, create_vars(url, json!([])))
        .await["createWebhookEndpoint"]["endpoint"]["id"]
        .clone();
    let org = app.store.ensure_organization("acme").await.unwrap();
    let mut tx = app.store.begin_write().await.unwrap();
    let event = Event::connection(
        ConnectionEvent::Broken,
        ConnectionData {
            connection_id: "c".into(),
            status: "BROKEN".into(),
            problems: vec![],
            reason: None,
        },
    );
    let appended = tx.append_event(org, &event, None).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    assert_eq!(appended.deliveries, 1);

    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    let watcher = sea_orm::Database::connect(&app.db.url).await.unwrap();
    let attempt = db.begin().await.unwrap();
    attempt
        .execute_unprepared(&format!(
            "SELECT 1 FROM webhook_delivery WHERE endpoint_id = \
             (SELECT id FROM webhook_endpoint WHERE url = '{url}') FOR UPDATE"
        ))
        .await
        .unwrap();
    let del = "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { deletedEndpointId userErrors { code } } }";
    let deletion = app.gql(&admin, del, json!({"id": id}));
    let finishing = async {
        // Until the deletion waits on a lock (this proves the race was built).
        let mut waited = 0;
        loop {
            let row = watcher
                .query_one_raw(Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    "SELECT count(*) AS n FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                ))
                .await
                .unwrap()
                .unwrap();
            if row.try_get::<i64>("", "n").unwrap() > 0 {
                break;
            }
            waited += 1;
            assert!(waited < 500, "the deletion never waited for the delivery");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let clock = attempt
            .execute_unprepared(&format!(
                "UPDATE webhook_endpoint SET failing_since = now() WHERE url = '{url}'"
            ))
            .await;
        let committed = attempt.commit().await;
        (clock.map(|r| r.rows_affected()), committed)
    };
    let (deleted, (clock, committed)) = tokio::join!(deletion, finishing);
    assert_eq!(clock.unwrap(), 1, "the attempt updated its endpoint");
    committed.unwrap();
    assert_eq!(
        deleted["data"]["deleteWebhookEndpoint"]["deletedEndpointId"], id,
        "{deleted}"
    );
    let statuses: Vec<DeliveryStatus> = app
        .store
        .deliveries_for_event(org, appended.id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.status)
        .collect();
    assert_eq!(statuses, [DeliveryStatus::Cancelled]);
}
