//! A TCP proxy on loopback between the service and its database, for fault tests: it forwards,
//! cuts (every connection reset, new ones reset on arrival), or swallows (a black hole:
//! connections stay open and nothing moves, as on a dead network path, until it forwards again).

use super::app::AppBuilder;
use super::{TestApp, TestDb, init_tracing, pg_admin_url};
use ponto_bridge::secret::Secret;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Forward,
    /// Connections reset (RST), new ones reset as they arrive.
    Cut,
    /// Connections accepted and kept, nothing forwarded either way: the kernel still
    /// acknowledges what arrives, so neither side's TCP notices. What was held flows once the
    /// proxy forwards again.
    BlackHole,
}

pub struct Proxy {
    pub addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Makes the socket's close a reset rather than a FIN, as a dead network path or a killed
/// server looks. A zero linger does not block: the kernel drops the connection with RST.
fn reset_on_close(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
}

/// Copies one direction until end of stream or a cut. In a black hole what was read is held,
/// not written, until the proxy forwards again.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    let cut = loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(n) => n,
                Err(_) => break true,
            },
            _ = mode.wait_for(|m| *m == Mode::Cut) => break true,
        };
        match mode.wait_for(|m| *m != Mode::BlackHole).await.map(|m| *m) {
            Ok(Mode::Forward) => {}
            _ => break true,
        }
        if n == 0 {
            let _ = to.shutdown().await;
            break false;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break true;
        }
    };
    if cut {
        reset_on_close(from.as_ref());
        reset_on_close(to.as_ref());
        // No FIN first: the socket closes with the reset once both halves are gone.
        to.forget();
    }
}

async fn serve(inbound: TcpStream, target: SocketAddr, mut mode: watch::Receiver<Mode>) {
    // A connection arriving in a black hole is accepted and waits; the database sees it only
    // when the path comes back.
    if !matches!(
        mode.wait_for(|m| *m != Mode::BlackHole).await.map(|m| *m),
        Ok(Mode::Forward)
    ) {
        reset_on_close(&inbound);
        return;
    }
    let Ok(outbound) = TcpStream::connect(target).await else {
        reset_on_close(&inbound);
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (ar, aw) = inbound.into_split();
    let (br, bw) = outbound.into_split();
    tokio::join!(pump(ar, bw, mode.clone()), pump(br, aw, mode));
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, _) = watch::channel(Mode::Forward);
        let mode = Arc::new(tx);
        let modes = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let watch = modes.subscribe();
                if *watch.borrow() == Mode::Cut {
                    reset_on_close(&inbound);
                    continue;
                }
                tokio::spawn(serve(inbound, target, watch));
            }
        });
        Self { addr, mode, task }
    }

    /// A proxy in front of `db`'s server, and `db`'s URL through it.
    pub async fn in_front_of(db: &TestDb) -> (Self, String) {
        let url = url::Url::parse(&db.url).unwrap();
        let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
        let addr = tokio::net::lookup_host(&target)
            .await
            .unwrap()
            .next()
            .unwrap();
        let proxy = Self::start(addr).await;
        let mut via = url.clone();
        via.set_host(Some("127.0.0.1")).unwrap();
        via.set_port(Some(proxy.addr.port())).unwrap();
        (proxy, via.to_string())
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// The set-up of a database fault test: a fresh database behind a proxy, and a builder for a
/// server that reaches it through the proxy (flags may be added). `None` on SQLite, which
/// cannot be cut.
pub async fn behind_proxy() -> Option<(Proxy, Arc<TestDb>, AppBuilder)> {
    pg_admin_url()?;
    init_tracing();
    let db = Arc::new(TestDb::fresh().await);
    let (proxy, via) = Proxy::in_front_of(&db).await;
    let builder = TestApp::builder()
        .db(db.clone())
        .adjust(move |s| s.settings.database_url = Some(Secret::new(via)));
    Some((proxy, db, builder))
}
