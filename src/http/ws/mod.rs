//! Owns `/graphql/ws`: GraphQL over WebSocket (graphql-transport-ws, the protocol of the
//! `graphql-ws` library). The JWT comes in `connection_init` (`{"Authorization": "Bearer …"}`,
//! key case-insensitive, or `{"token": "…"}`); [`protocol::Guard`] keeps the protocol's rules
//! and close codes in front of async-graphql's handler, which runs the operations. This loop
//! adds what neither does: the initialisation timeout, keep-alive pings, closing when the
//! token expires, a bound on connections per organization, and dropping a client that does not
//! read what it is sent instead of letting it hold anything else up.

pub mod protocol;

use super::AppState;
use super::graphql::principal_from_token;
use crate::domain::ids::OrganizationId;
use crate::graphql::{Loaders, Principal};
use async_graphql::http::{
    ClientMessage, WebSocket as GqlSocket, WebSocketProtocols as Protocols, WsMessage,
};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::{SinkExt, Stream, StreamExt};
use protocol::{Guard, Verdict, close};
use serde_json::Value;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SUBPROTOCOL: &str = "graphql-transport-ws";
const BUFFER_BYTES: usize = 4096;

/// Limits and timings of WebSocket connections.
#[derive(Debug, Clone)]
pub struct WsOptions {
    pub max_connections_per_organization: usize,
    pub max_subscriptions_per_connection: usize,
    pub max_message_bytes: usize,
    /// How long a client has to send `connection_init`.
    pub init_timeout: Duration,
    /// How often the server pings.
    pub keepalive: Duration,
    /// How long one message may take to leave before the client counts as not reading.
    pub send_timeout: Duration,
}

/// Open connections per organization, in this instance.
#[derive(Default)]
pub struct Connections(Mutex<HashMap<OrganizationId, usize>>);

/// One counted connection; uncounted when dropped.
pub struct Slot {
    connections: Arc<Connections>,
    org: OrganizationId,
    gauge: prometheus_client::metrics::gauge::Gauge,
}

impl Connections {
    fn take(
        self: &Arc<Self>,
        org: OrganizationId,
        max: usize,
        gauge: &prometheus_client::metrics::gauge::Gauge,
    ) -> Option<Slot> {
        let mut open = self.0.lock().expect("connections");
        let n = open.entry(org).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        gauge.inc();
        Some(Slot {
            connections: self.clone(),
            org,
            gauge: gauge.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gauge.dec();
        let mut open = self.connections.0.lock().expect("connections");
        if let Some(n) = open.get_mut(&self.org) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.org);
            }
        }
    }
}

pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let max = state.opts.ws.max_message_bytes;
    // Messages are small: buffers of a few KiB (they grow for a larger one) instead of the
    // default 128 KiB each way keep an idle connection cheap.
    ws.protocols([SUBPROTOCOL])
        .read_buffer_size(BUFFER_BYTES)
        .write_buffer_size(BUFFER_BYTES)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(socket, state))
}

/// The bearer token of a `connection_init` payload.
fn token_of(payload: &Value) -> Option<&str> {
    let fields = payload.as_object()?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    };
    let token = match field("authorization") {
        Some(value) => {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)?
        }
        None => field("token")?,
    };
    Some(token.trim()).filter(|t| !t.is_empty())
}

type Outgoing = Pin<Box<dyn Stream<Item = WsMessage> + Send>>;

/// An authenticated connection's half that async-graphql runs.
struct Session {
    to_gql: futures::channel::mpsc::UnboundedSender<ClientMessage>,
    from_gql: Outgoing,
    /// When the token stops being accepted.
    expires: Pin<Box<tokio::time::Sleep>>,
    slot: Slot,
}

/// Why the loop ended, when it should tell the client.
struct Closing(u16, String);

/// What one turn of the loop produced.
enum Step {
    Nothing,
    Send(Message),
    Close(Closing),
    /// The client left (or its socket failed): nothing to say.
    End,
}

fn close_with(code: u16, reason: impl Into<String>) -> Step {
    Step::Close(Closing(code, reason.into()))
}

async fn serve(mut socket: WebSocket, state: AppState) {
    if socket.protocol().is_none() {
        let frame = close_frame(
            close::SUBPROTOCOL_NOT_ACCEPTABLE,
            "Subprotocol not acceptable",
        );
        let _ = socket.send(frame).await;
        return;
    }
    let opts = state.opts.ws.clone();
    let (mut sink, mut source) = socket.split();
    let mut guard = Guard::new(opts.max_subscriptions_per_connection);
    // Set once `connection_init` is accepted; split so each select! branch borrows one.
    let mut to_gql = None;
    let mut from_gql: Option<Outgoing> = None;
    let mut expires: Option<Pin<Box<tokio::time::Sleep>>> = None;
    let mut _slot: Option<Slot> = None;
    let init_deadline = tokio::time::sleep(opts.init_timeout);
    tokio::pin!(init_deadline);
    let mut pings =
        tokio::time::interval_at(tokio::time::Instant::now() + opts.keepalive, opts.keepalive);
    loop {
        let step = tokio::select! {
            _ = &mut init_deadline, if !guard.initialising_or_done() => {
                close_with(close::INIT_TIMEOUT, "Connection initialisation timeout")
            }
            _ = async { expires.as_mut().expect("guarded").await }, if expires.is_some() => {
                close_with(close::FORBIDDEN, "Forbidden: the token expired")
            }
            _ = pings.tick(), if from_gql.is_some() => Step::Send(Message::Text(r#"{"type":"ping"}"#.into())),
            incoming = source.next() => match incoming {
                None | Some(Ok(Message::Close(_))) => Step::End,
                Some(Err(e)) if is_capacity(&e) => close_with(close::MESSAGE_TOO_BIG, "Message too big"),
                Some(Err(_)) => Step::End,
                Some(Ok(Message::Binary(_))) => close_with(close::BAD_REQUEST, "Invalid message received: binary"),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Step::Nothing,
                Some(Ok(Message::Text(text))) => match guard.on_client(text.as_str()) {
                    Verdict::Init(payload) => match start_session(&state, &payload, &opts).await {
                        Ok(s) => {
                            let _ = s.to_gql.unbounded_send(ClientMessage::ConnectionInit { payload: None });
                            to_gql = Some(s.to_gql);
                            from_gql = Some(s.from_gql);
                            expires = Some(s.expires);
                            _slot = Some(s.slot);
                            Step::Nothing
                        }
                        Err(c) => Step::Close(c),
                    },
                    Verdict::Forward(m) => {
                        if let Some(to) = &to_gql {
                            let _ = to.unbounded_send(*m);
                        }
                        Step::Nothing
                    }
                    Verdict::Pong => Step::Send(Message::Text(r#"{"type":"pong"}"#.into())),
                    Verdict::Refuse(text) => Step::Send(Message::Text(text.into())),
                    Verdict::Ignore => Step::Nothing,
                    Verdict::Close(code, reason) => close_with(code, reason),
                },
            },
            out = async { from_gql.as_mut().expect("guarded").next().await }, if from_gql.is_some() => match out {
                Some(WsMessage::Text(text)) => match guard.on_server(text) {
                    Some(t) => Step::Send(Message::Text(t.into())),
                    None => Step::Nothing,
                },
                Some(WsMessage::Close(code, reason)) => close_with(code, reason),
                None => Step::End,
            },
        };
        let (message, last) = match step {
            Step::Nothing => continue,
            Step::End => return,
            Step::Send(m) => (m, false),
            Step::Close(Closing(code, reason)) => (close_frame(code, &reason), true),
        };
        match tokio::time::timeout(opts.send_timeout, sink.send(message)).await {
            Ok(Ok(())) if !last => {}
            Ok(_) => return,
            Err(_) => {
                // Its socket buffers are full: whatever it subscribed to waits for no one.
                tracing::info!("dropping a WebSocket connection whose client does not read");
                state.metrics.ws.slow_clients.inc();
                return;
            }
        }
    }
}

fn close_frame(code: u16, reason: &str) -> Message {
    // A close reason is at most 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }))
}

fn is_capacity(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("Space limit exceeded")
        || text.contains("too long")
        || text.contains("Message too big")
}

/// Authenticates `connection_init` and starts async-graphql's handler for the caller.
async fn start_session(
    state: &AppState,
    payload: &Value,
    opts: &WsOptions,
) -> Result<Session, Closing> {
    let forbidden = || Closing(close::FORBIDDEN, "Forbidden".into());
    let token = token_of(payload).ok_or_else(forbidden)?;
    let (principal, valid_until) =
        principal_from_token(state, token)
            .await
            .map_err(|e| match e {
                // Not the token's fault: the client may try again shortly.
                crate::error::AppError::DatabaseUnavailable => Closing(
                    close::TRY_AGAIN_LATER,
                    "UPSTREAM_UNAVAILABLE: the database cannot be reached; retry shortly".into(),
                ),
                _ => forbidden(),
            })?;
    let slot = state
        .ws_connections
        .take(
            principal.organization_id,
            opts.max_connections_per_organization,
            &state.metrics.ws.connections,
        )
        .ok_or_else(|| {
            Closing(
                close::TRY_AGAIN_LATER,
                "CONNECTION_LIMIT: this organization has its maximum of connections open".into(),
            )
        })?;
    let left = valid_until - state.store.clock().now().timestamp();
    let expires = Box::pin(tokio::time::sleep(Duration::from_secs(
        u64::try_from(left.max(0)).unwrap_or(0) + 1,
    )));
    let (to_gql, from_guard) = futures::channel::mpsc::unbounded();
    let mut data = async_graphql::Data::default();
    data.insert(Loaders::uncached(&state.store, principal.organization_id));
    data.insert::<Principal>(principal);
    let stream = from_guard.map(Ok);
    let from_gql =
        GqlSocket::from_message_stream(state.schema.clone(), stream, Protocols::GraphQLWS)
            .connection_data(data);
    Ok(Session {
        to_gql,
        from_gql: Box::pin(from_gql),
        expires,
        slot,
    })
}

#[cfg(test)]
mod tests {
    use super::token_of;
    use serde_json::json;

    #[test]
    fn tokens_in_connection_init() {
        assert_eq!(
            token_of(&json!({"Authorization": "Bearer abc"})),
            Some("abc")
        );
        assert_eq!(
            token_of(&json!({"authorization": "bearer abc"})),
            Some("abc")
        );
        assert_eq!(
            token_of(&json!({"AUTHORIZATION": "Bearer  abc "})),
            Some("abc")
        );
        assert_eq!(token_of(&json!({"token": "abc"})), Some("abc"));
        assert_eq!(token_of(&json!({"Authorization": "Basic abc"})), None);
        assert_eq!(token_of(&json!({"Authorization": "Bearer "})), None);
        assert_eq!(token_of(&json!({"token": 5})), None);
        assert_eq!(token_of(&json!(null)), None);
    }
}
