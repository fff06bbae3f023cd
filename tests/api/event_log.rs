//! The event log through GraphQL (`events`, scope `admin`): sequence order, pages joined by
//! cursors with nothing skipped or repeated, a type filter, refusals of bad arguments, and
//! `CURSOR_EXPIRED` once the events after a cursor are no longer kept.

use crate::support::{TestApp, error_code};
use ponto_bridge::domain::event::{ConnectionData, ConnectionEvent, Event};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

const PAGE: &str =
    "query($a: String, $t: [String!], $n: Int) { events(after: $a, types: $t, first: $n) {
    edges { cursor node { id seq cursor type timestamp data } } pageInfo { hasNextPage } } }";

fn nodes(d: &Value) -> Vec<Value> {
    d["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn events_read_in_sequence_page_by_page_and_expire_with_the_log() {
    let app = TestApp::start().await;
    let org = app.store.ensure_organization("acme").await.unwrap();
    let other = app.store.ensure_organization("other").await.unwrap();
    for i in 0..7 {
        let kind = if i % 3 == 2 {
            ConnectionEvent::Restored
        } else {
            ConnectionEvent::Broken
        };
        let e = Event::connection(
            kind,
            ConnectionData {
                connection_id: "c".into(),
                status: "BROKEN".into(),
                problems: vec![],
                reason: Some(format!("r{i}")),
            },
        );
        let mut tx = app.store.begin_write().await.unwrap();
        tx.append_event(org, &e, None).await.unwrap().unwrap();
        // Another organization's log interleaves; it never shows here.
        tx.append_event(other, &e, None).await.unwrap().unwrap();
        tx.commit().await.unwrap();
    }
    let admin = app.full_token("acme");

    // Pages of three, joined by the last cursor: 1..7 once each, in order.
    let (mut seen, mut after) = (Vec::new(), Value::Null);
    loop {
        let d = app
            .gql_data(&admin, PAGE, json!({"a": after, "n": 3}))
            .await;
        let page = nodes(&d);
        for n in &page {
            assert_eq!(n["data"]["reason"], format!("r{}", seen.len()), "{n}");
            assert_eq!(n["seq"], seen.len() as i64 + 1);
            seen.push(n["id"].clone());
        }
        let more = d["events"]["pageInfo"]["hasNextPage"].as_bool().unwrap();
        assert_eq!(more, seen.len() < 7, "{d}");
        if !more {
            break;
        }
        after = page.last().unwrap()["cursor"].clone();
    }
    assert_eq!(seen.len(), 7);

    // Only the types asked for.
    let d = app
        .gql_data(&admin, PAGE, json!({"t": ["connection.restored"]}))
        .await;
    let reasons: Vec<Value> = nodes(&d)
        .iter()
        .map(|n| n["data"]["reason"].clone())
        .collect();
    assert_eq!(reasons, [json!("r2"), json!("r5")]);
    assert_eq!(nodes(&d)[0]["type"], "connection.restored");

    for (vars, code) in [
        (json!({"t": ["invoice.payd"]}), "BAD_USER_INPUT"),
        (json!({"n": 101}), "BAD_USER_INPUT"),
        (json!({"a": "not-a-cursor"}), "BAD_USER_INPUT"),
    ] {
        let body = app.gql(&admin, PAGE, vars.clone()).await;
        assert_eq!(error_code(&body), Some(code), "{vars}: {body}");
    }

    // The oldest four are no longer kept (as retention will do): a cursor before them has lost
    // events and says so; one at their edge, or none, reads on from the oldest kept.
    let cursors: Vec<Value> = nodes(&app.gql_data(&admin, PAGE, json!({})).await)
        .iter()
        .map(|n| n["cursor"].clone())
        .collect();
    let db = Database::connect(&app.db.url).await.unwrap();
    let b = db.get_database_backend();
    let sql = match b {
        sea_orm::DbBackend::Postgres => "DELETE FROM event WHERE organization_id = $1 AND seq <= 4",
        _ => "DELETE FROM event WHERE organization_id = ?1 AND seq <= 4",
    };
    let gone = db
        .execute_raw(Statement::from_sql_and_values(b, sql, [org.0.into()]))
        .await
        .unwrap();
    assert_eq!(gone.rows_affected(), 4);
    let body = app.gql(&admin, PAGE, json!({"a": cursors[1]})).await;
    assert_eq!(error_code(&body), Some("CURSOR_EXPIRED"), "{body}");
    let d = app.gql_data(&admin, PAGE, json!({"a": cursors[3]})).await;
    assert_eq!(nodes(&d)[0]["seq"], 5);
    let d = app.gql_data(&admin, PAGE, json!({})).await;
    assert_eq!(nodes(&d)[0]["seq"], 5);
}
