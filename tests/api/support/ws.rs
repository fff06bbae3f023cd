//! A raw graphql-transport-ws client for `/graphql/ws`: it sends exactly what a test says
//! (malformed messages included) and reads what the server answers, close codes included.
//! Server pings are answered and skipped.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

/// What the server did next.
#[derive(Debug)]
pub enum Got {
    Json(Value),
    Closed(u16, String),
}

/// The WebSocket URL of a server at `base` (`http://…`).
pub fn ws_url(base: &str) -> String {
    format!("{}/graphql/ws", base.replacen("http", "ws", 1))
}

impl WsClient {
    /// Connects offering the graphql-transport-ws subprotocol.
    pub async fn connect(base: &str) -> Self {
        Self::connect_offering(base, Some("graphql-transport-ws")).await
    }

    pub async fn connect_offering(base: &str, protocol: Option<&str>) -> Self {
        let mut request = ws_url(base).into_client_request().unwrap();
        if let Some(p) = protocol {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
        }
        let (stream, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        Self { stream }
    }

    /// Connects with a receive buffer of `bytes` (a client that reads slowly, or not at all,
    /// fills it quickly).
    pub async fn connect_small(base: &str, bytes: u32) -> Self {
        let mut request = ws_url(base).into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let addr = request.uri().authority().unwrap().as_str().parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(bytes).unwrap();
        let tcp = socket.connect(addr).await.unwrap();
        let (stream, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp))
            .await
            .unwrap();
        Self { stream }
    }

    /// Sends `connection_init` with `token` and expects `connection_ack`.
    pub async fn init(&mut self, token: &str) {
        self.send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}))
            .await;
        let ack = self.json().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
    }

    /// Connects and initialises with `token`, expecting `connection_ack`.
    pub async fn ready(base: &str, token: &str) -> Self {
        let mut c = Self::connect(base).await;
        c.init(token).await;
        c
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::Text(text.into())).await.unwrap();
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.stream
            .send(Message::Binary(bytes.into()))
            .await
            .unwrap();
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({"type": "subscribe", "id": id, "payload": {"query": query, "variables": variables}}))
            .await;
    }

    /// The next message or close within `wait`, server pings answered and skipped; `None` when
    /// nothing came.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Got> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_raw_within(left).await? {
                Got::Json(v) if v["type"] == "ping" => {
                    self.send(json!({"type": "pong"})).await;
                }
                got => return Some(got),
            }
        }
    }

    /// The next message or close within `wait`, pings included.
    pub async fn next_raw_within(&mut self, wait: Duration) -> Option<Got> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()?;
            match next {
                Some(Ok(Message::Text(t))) => {
                    return Some(Got::Json(serde_json::from_str(t.as_str()).unwrap()));
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((u16::from(CloseCode::Status), String::new()));
                    return Some(Got::Closed(code, reason));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Some(Got::Closed(0, e.to_string())),
                None => return Some(Got::Closed(0, "stream ended".into())),
            }
        }
    }

    /// The next JSON message (10 s at most).
    pub async fn json(&mut self) -> Value {
        match self.next_within(Duration::from_secs(10)).await {
            Some(Got::Json(v)) => v,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The close code the server ends with (10 s at most), skipping other messages.
    pub async fn close_code(&mut self) -> (u16, String) {
        loop {
            match self.next_within(Duration::from_secs(10)).await {
                Some(Got::Closed(code, reason)) => return (code, reason),
                Some(Got::Json(_)) => continue,
                None => panic!("the server did not close within 10 s"),
            }
        }
    }

    /// The payload of the next `next` for `id` (10 s at most).
    pub async fn next_for(&mut self, id: &str) -> Value {
        let m = self.json().await;
        assert_eq!(m["type"], "next", "{m}");
        assert_eq!(m["id"], id, "{m}");
        m["payload"].clone()
    }

    /// Asserts nothing arrives within `wait`.
    pub async fn silent_for(&mut self, wait: Duration) {
        if let Some(got) = self.next_within(wait).await {
            panic!("expected nothing, got {got:?}");
        }
    }
}

/// The reference client (`tests/node/subscribe.mjs`: graphql-ws on ws) running one
/// subscription; each line it prints is one JSON value.
pub struct JsSubscriber {
    _child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl JsSubscriber {
    /// Starts it and waits for `connection_ack`; it exits after `count` results.
    pub async fn start(base: &str, token: &str, query: &str, vars: Value, count: usize) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new("node")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/node/subscribe.mjs"
            ))
            .args([
                &ws_url(base),
                token,
                query,
                &vars.to_string(),
                &count.to_string(),
            ])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().unwrap();
        let mut s = Self {
            _child: child,
            lines: tokio::io::BufReader::new(stdout).lines(),
        };
        let first = s.line().await;
        assert_eq!(first, json!({"connected": true}));
        s
    }

    /// The next line (30 s at most).
    pub async fn line(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .expect("the client printed within 30 s")
            .unwrap()
            .expect("the client printed before exiting");
        serde_json::from_str(&line).unwrap()
    }
}
