//! PostgreSQL over TCP at full speed: every connection to the database has `TCP_NODELAY` (no
//! ~40 ms delayed-ACK wait per multi-segment statement) and `SO_KEEPALIVE` (a vanished database is
//! noticed), set by the vendored sqlx-core (vendor/README.md). Engine-specific: on the SQLite pass
//! there is no database socket to check.

use crate::support::{TestApp, pg_admin_url};
use serde_json::json;
use std::os::fd::{BorrowedFd, RawFd};

/// (TCP_NODELAY, SO_KEEPALIVE, keepalive idle time) of every socket of this process connected to
/// `port`.
fn sockets_to(port: u16) -> Vec<(bool, bool, Option<std::time::Duration>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        if !is_socket {
            continue;
        }
        // Only read: a descriptor closed meanwhile by another test answers an error, skipped.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let peer = socket.peer_addr().ok().and_then(|a| a.as_socket());
        if peer.is_some_and(|a| a.port() == port)
            && let (Ok(nodelay), Ok(keepalive)) = (socket.tcp_nodelay(), socket.keepalive())
        {
            out.push((nodelay, keepalive, socket.tcp_keepalive_time().ok()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_database_connection_has_nodelay_and_keepalive() {
    let Some(admin) = pg_admin_url() else {
        // The SQLite pass: no TCP connection to a database exists.
        return;
    };
    let port = url::Url::parse(&admin).unwrap().port().unwrap_or(5432);
    let app = TestApp::start().await;
    let token = app.full_token("acme");
    // Several requests at once, so the pool opens more than one connection.
    let calls = (0..8).map(|_| {
        app.gql_data(
            &token,
            "{ viewer { organization { externalId } } }",
            json!({}),
        )
    });
    for data in futures::future::join_all(calls).await {
        assert_eq!(data["viewer"]["organization"]["externalId"], "acme");
    }
    let sockets = sockets_to(port);
    assert!(
        !sockets.is_empty(),
        "at least one connection to PostgreSQL over TCP"
    );
    for (nodelay, keepalive, idle) in &sockets {
        assert!(nodelay, "TCP_NODELAY on every database socket: {sockets:?}");
        assert!(
            keepalive,
            "SO_KEEPALIVE on every database socket: {sockets:?}"
        );
        assert_eq!(
            *idle,
            Some(std::time::Duration::from_secs(30)),
            "{sockets:?}"
        );
    }
}
