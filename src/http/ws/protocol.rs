//! Owns the graphql-transport-ws protocol rules that async-graphql's handler does not keep
//! (its closes are 1002/1011 where the protocol says 4400/4401/4403, a duplicate id silently
//! replaces a running subscription, a failed subscribe comes as `next` + `complete`): every
//! client message is judged here before it reaches async-graphql, and every server message
//! is seen on its way out. Pure state, no I/O.

use async_graphql::http::ClientMessage;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// The protocol's close codes (graphql-ws `CloseCode`).
pub mod close {
    pub const BAD_REQUEST: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const SUBPROTOCOL_NOT_ACCEPTABLE: u16 = 4406;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    pub const TOO_MANY_INITS: u16 = 4429;
    /// RFC 6455: a message over the size limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// RFC 6455 "try again later": the organization has its maximum of connections open.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// Subscribe refused because the connection has its maximum of subscriptions (pinned).
pub const SUBSCRIPTION_LIMIT: &str = "SUBSCRIPTION_LIMIT";

/// What to do with one client message.
pub enum Verdict {
    /// `connection_init`: authenticate this payload, then hand async-graphql the init.
    Init(Value),
    /// Pass on to async-graphql.
    Forward(Box<ClientMessage>),
    /// Answer `{"type":"pong"}`.
    Pong,
    /// Send this `error` message for a subscribe that is refused; the connection stays.
    Refuse(String),
    Ignore,
    Close(u16, String),
}

impl std::fmt::Debug for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Init(p) => write!(f, "Init({p})"),
            Verdict::Forward(_) => f.write_str("Forward(..)"),
            Verdict::Pong => f.write_str("Pong"),
            Verdict::Refuse(t) => write!(f, "Refuse({t})"),
            Verdict::Ignore => f.write_str("Ignore"),
            Verdict::Close(code, reason) => write!(f, "Close({code}, {reason})"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingInit,
    /// `connection_init` received, `connection_ack` not sent yet.
    Initialising,
    Acknowledged,
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct Guard {
    phase: Phase,
    /// Operations running, by id: whether a `next` was sent for it yet.
    active: HashMap<String, bool>,
    /// Ids the client completed: async-graphql's echo `complete` is dropped, and must not end
    /// a new operation that reuses the id.
    stopping: HashSet<String>,
    max_subscriptions: usize,
}

/// The head of a server message: enough to follow ids, the payload skipped.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: Kind,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    ConnectionAck,
    Next,
    Complete,
    #[serde(other)]
    Other,
}

fn bad(why: &str) -> Verdict {
    Verdict::Close(
        close::BAD_REQUEST,
        format!("Invalid message received: {why}"),
    )
}

fn id_of(m: &serde_json::Map<String, Value>) -> Option<&str> {
    m.get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
}

impl Guard {
    pub fn new(max_subscriptions: usize) -> Self {
        Self {
            phase: Phase::AwaitingInit,
            active: HashMap::new(),
            stopping: HashSet::new(),
            max_subscriptions,
        }
    }

    /// Whether `connection_init` arrived (the initialisation timeout no longer applies).
    pub fn initialising_or_done(&self) -> bool {
        self.phase != Phase::AwaitingInit
    }

    /// Judges one text message from the client.
    pub fn on_client(&mut self, text: &str) -> Verdict {
        let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) else {
            return bad("not a JSON object");
        };
        match m.get("type").and_then(Value::as_str) {
            Some("connection_init") => {
                let payload = m.get("payload").cloned().unwrap_or(Value::Null);
                if !(payload.is_object() || payload.is_null()) {
                    return bad("the connection_init payload is not an object");
                }
                if self.phase != Phase::AwaitingInit {
                    return Verdict::Close(
                        close::TOO_MANY_INITS,
                        "Too many initialisation requests".into(),
                    );
                }
                self.phase = Phase::Initialising;
                Verdict::Init(payload)
            }
            Some("ping") => Verdict::Pong,
            Some("pong") => Verdict::Ignore,
            Some("subscribe") => self.subscribe(&m),
            Some("complete") => match id_of(&m) {
                None => bad("complete without an id"),
                Some(id) => match self.active.remove(id) {
                    Some(_) => {
                        self.stopping.insert(id.to_owned());
                        Verdict::Forward(Box::new(ClientMessage::Stop { id: id.to_owned() }))
                    }
                    None => Verdict::Ignore,
                },
            },
            _ => bad("unknown message type"),
        }
    }

    fn subscribe(&mut self, m: &serde_json::Map<String, Value>) -> Verdict {
        let Some(id) = id_of(m) else {
            return bad("subscribe without an id");
        };
        let Some(payload) = m.get("payload").filter(|p| p["query"].is_string()) else {
            return bad("subscribe without a query");
        };
        // Checked before the phase: the message is malformed whatever the phase.
        let Ok(request) = serde_json::from_value::<async_graphql::Request>(payload.clone()) else {
            return bad("the subscribe payload is not a GraphQL request");
        };
        if self.phase != Phase::Acknowledged {
            return Verdict::Close(close::UNAUTHORIZED, "Unauthorized".into());
        }
        if self.active.contains_key(id) {
            return Verdict::Close(
                close::SUBSCRIBER_EXISTS,
                format!("Subscriber for {id} already exists"),
            );
        }
        if self.active.len() >= self.max_subscriptions {
            let error = json!({
                "type": "error",
                "id": id,
                "payload": [{
                    "message": format!(
                        "This connection already has {} operations running; complete one first.",
                        self.max_subscriptions
                    ),
                    "extensions": {"code": SUBSCRIPTION_LIMIT},
                }],
            });
            return Verdict::Refuse(error.to_string());
        }
        self.active.insert(id.to_owned(), false);
        Verdict::Forward(Box::new(ClientMessage::Start {
            id: id.to_owned(),
            payload: request,
        }))
    }

    /// Sees one text message on its way to the client; `None` drops it. A subscribe refused
    /// before its first result (validation, authorization, an unknown id) goes out as the
    /// protocol's `error`, not `next` + `complete`; a `complete` for an operation the client
    /// completed itself is dropped.
    pub fn on_server(&mut self, text: String) -> Option<String> {
        let Ok(head) = serde_json::from_str::<Head>(&text) else {
            return Some(text);
        };
        match (head.kind, head.id) {
            (Kind::ConnectionAck, _) => {
                self.phase = Phase::Acknowledged;
                Some(text)
            }
            (Kind::Next, Some(id)) if self.stopping.contains(&id) => None,
            (Kind::Next, Some(id)) => match self.active.get_mut(&id) {
                Some(seen) if *seen => Some(text),
                Some(seen) => {
                    *seen = true;
                    let v: Value = serde_json::from_str(&text).ok()?;
                    let failed = v["payload"]["data"].is_null()
                        && v["payload"]["errors"]
                            .as_array()
                            .is_some_and(|e| !e.is_empty());
                    if !failed {
                        return Some(text);
                    }
                    self.active.remove(&id);
                    Some(
                        json!({"type": "error", "id": id, "payload": v["payload"]["errors"]})
                            .to_string(),
                    )
                }
                None => None,
            },
            (Kind::Complete, Some(id)) if self.stopping.remove(&id) => None,
            (Kind::Complete, Some(id)) => self.active.remove(&id).map(|_| text),
            _ => Some(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str =
        r#"{"type":"subscribe","id":"1","payload":{"query":"subscription { events { seq } }"}}"#;

    fn closed(v: Verdict) -> u16 {
        match v {
            Verdict::Close(code, _) => code,
            other => panic!("expected a close, got {other:?}"),
        }
    }

    fn acknowledged(max: usize) -> Guard {
        let mut g = Guard::new(max);
        assert!(matches!(
            g.on_client(r#"{"type":"connection_init","payload":{"token":"t"}}"#),
            Verdict::Init(_)
        ));
        assert!(g.on_server(r#"{"type":"connection_ack"}"#.into()).is_some());
        g
    }

    #[test]
    fn malformed_messages_close_with_4400() {
        for text in [
            "not json",
            "[]",
            r#"{"no":"type"}"#,
            r#"{"type":"connection_terminate"}"#,
            r#"{"type":"subscribe","payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"variables":{}}}"#,
            r#"{"type":"connection_init","payload":"a string"}"#,
            r#"{"type":"complete"}"#,
        ] {
            assert_eq!(
                closed(Guard::new(5).on_client(text)),
                close::BAD_REQUEST,
                "{text}"
            );
        }
    }

    #[test]
    fn subscribe_before_acknowledgement_is_4401() {
        let mut g = Guard::new(5);
        assert_eq!(closed(g.on_client(SUB)), close::UNAUTHORIZED);
        let mut g = Guard::new(5);
        g.on_client(r#"{"type":"connection_init"}"#);
        assert_eq!(
            closed(g.on_client(SUB)),
            close::UNAUTHORIZED,
            "not acknowledged yet"
        );
    }

    #[test]
    fn a_second_init_is_4429_and_a_running_id_4409() {
        let mut g = acknowledged(5);
        assert_eq!(
            closed(g.on_client(r#"{"type":"connection_init"}"#)),
            close::TOO_MANY_INITS
        );
        let mut g = acknowledged(5);
        assert!(matches!(g.on_client(SUB), Verdict::Forward(_)));
        assert_eq!(closed(g.on_client(SUB)), close::SUBSCRIBER_EXISTS);
        // Completed (by either side), the id may be used again.
        let mut g = acknowledged(5);
        g.on_client(SUB);
        assert!(matches!(
            g.on_client(r#"{"type":"complete","id":"1"}"#),
            Verdict::Forward(m) if matches!(*m, ClientMessage::Stop { .. })
        ));
        assert!(
            g.on_server(r#"{"type":"complete","id":"1"}"#.into())
                .is_none()
        );
        assert!(matches!(g.on_client(SUB), Verdict::Forward(_)));
        assert!(
            g.on_server(r#"{"type":"complete","id":"1"}"#.into())
                .is_some()
        );
        assert!(matches!(g.on_client(SUB), Verdict::Forward(_)));
    }

    #[test]
    fn the_subscription_limit_refuses_without_closing() {
        let mut g = acknowledged(1);
        assert!(matches!(g.on_client(SUB), Verdict::Forward(_)));
        let second = SUB.replace("\"1\"", "\"2\"");
        match g.on_client(&second) {
            Verdict::Refuse(text) => {
                let v: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v["type"], "error");
                assert_eq!(v["id"], "2");
                assert_eq!(v["payload"][0]["extensions"]["code"], SUBSCRIPTION_LIMIT);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failed_subscribe_goes_out_as_error_without_complete() {
        let mut g = acknowledged(5);
        g.on_client(SUB);
        let failed = r#"{"type":"next","id":"1","payload":{"data":null,"errors":[{"message":"no","extensions":{"code":"NOT_FOUND"}}]}}"#;
        let out: Value = serde_json::from_str(&g.on_server(failed.into()).unwrap()).unwrap();
        assert_eq!(out["type"], "error");
        assert_eq!(out["payload"][0]["extensions"]["code"], "NOT_FOUND");
        assert!(
            g.on_server(r#"{"type":"complete","id":"1"}"#.into())
                .is_none()
        );
        // A later result with errors is a result like any other.
        let mut g = acknowledged(5);
        g.on_client(SUB);
        let ok = r#"{"type":"next","id":"1","payload":{"data":{"events":{"seq":1}}}}"#;
        assert_eq!(g.on_server(ok.into()).as_deref(), Some(ok));
        assert_eq!(g.on_server(failed.into()).as_deref(), Some(failed));
    }
}
