//! The event catalogue as an outside checker: every event a test reads from the log is
//! validated against its published JSON Schema by an independent validator (the `jsonschema`
//! crate), made strict here (no property the schema does not declare), so a field sent but
//! not described fails as surely as a field described but not sent.

use ponto_bridge::domain::catalogue;
use ponto_bridge::domain::event::{ConnectionData, ConnectionEvent, Event, EventType};
use ponto_bridge::domain::ids::OrganizationId;
use ponto_bridge::store::Store;
use ponto_bridge::store::events::StoredEvent;
use serde_json::Value;

/// `schema` with `additionalProperties: false` on every object that declares properties.
pub fn strict(mut schema: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                    map.insert("additionalProperties".into(), Value::Bool(false));
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut schema);
    schema
}

/// Whether `envelope` is a valid `event_type` event per `schema`, formats included.
pub fn validate(schema: &Value, envelope: &Value) -> Result<(), String> {
    let v = jsonschema::options()
        .should_validate_formats(true)
        .build(&strict(schema.clone()))
        .map_err(|e| format!("the schema does not compile: {e}"))?;
    let errors: Vec<String> = v.iter_errors(envelope).map(|e| e.to_string()).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{envelope}: {}", errors.join("; ")))
    }
}

/// Panics unless the stored event validates against its catalogue schema.
pub fn assert_valid(e: &StoredEvent) {
    let envelope: Value = serde_json::from_str(&e.payload).expect("a stored event is JSON");
    if let Err(why) = validate(&catalogue::schema(e.event_type), &envelope) {
        panic!(
            "{} does not match its catalogue schema: {why}",
            e.event_type.as_str()
        );
    }
}

/// The organization's events after `after`, each checked against the catalogue.
pub async fn checked_events(store: &Store, org: OrganizationId, after: i64) -> Vec<StoredEvent> {
    let events = store.events_after(org, after, 1000).await.unwrap();
    events.iter().for_each(assert_valid);
    events
}

/// A `connection.broken` event with this reason: the suite's stock event to deliver.
pub fn broken_connection(reason: &str) -> Event {
    Event::connection(
        ConnectionEvent::Broken,
        ConnectionData {
            connection_id: "c".into(),
            status: "BROKEN".into(),
            problems: vec![],
            reason: Some(reason.into()),
        },
    )
}

/// Every type of the catalogue, for coverage checks.
pub fn all_types() -> Vec<&'static str> {
    EventType::ALL.iter().map(|t| t.as_str()).collect()
}
