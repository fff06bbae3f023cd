//! Owns hearing other instances' events on PostgreSQL: one connection, named
//! `ponto-bridge-listener`, LISTENs on the event channel and turns each notification (ids only)
//! into a bus signal. Whenever it may have missed some — the connection was lost and made
//! again — every reader is told to read the log again (ARCHITECTURE.md, trap 7). SQLite is one process:
//! the bus alone carries its signals.

use super::Store;
use crate::bus::PG_EVENT_CHANNEL;
use crate::domain::ids::OrganizationId;
use sea_orm::DbBackend;
use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};
use std::future::Future;
use std::time::Duration;

/// The `application_name` of the listener's connection (how an operator finds it).
pub const LISTENER_APPLICATION_NAME: &str = "ponto-bridge-listener";

const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// `<organization uuid>:<seq>`, as `append_event` notifies.
fn parse(payload: &str) -> Option<(OrganizationId, i64)> {
    let (org, seq) = payload.split_once(':')?;
    Some((uuid::Uuid::parse_str(org).ok()?.into(), seq.parse().ok()?))
}

impl Store {
    /// Follows every instance's committed events until `stop` resolves.
    pub async fn listen(&self, stop: impl Future<Output = ()>) {
        if self.backend() != DbBackend::Postgres {
            return;
        }
        let options = self
            .conn()
            .get_postgres_connection_pool()
            .connect_options()
            .as_ref()
            .clone()
            .application_name(LISTENER_APPLICATION_NAME);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(LAST_RETRY)
            .connect_lazy_with(options);
        tokio::pin!(stop);
        let mut retry = FIRST_RETRY;
        loop {
            let connected = tokio::select! {
                _ = &mut stop => break,
                l = async {
                    let mut l = PgListener::connect_with(&pool).await?;
                    l.listen(PG_EVENT_CHANNEL).await?;
                    Ok::<_, sea_orm::sqlx::Error>(l)
                } => l,
            };
            let mut listener = match connected {
                Ok(l) => l,
                Err(e) => {
                    if retry == FIRST_RETRY {
                        tracing::warn!(error = %e, "event listener cannot connect; retrying");
                    }
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::time::sleep(retry) => {}
                    }
                    retry = (retry * 2).min(LAST_RETRY);
                    continue;
                }
            };
            if retry != FIRST_RETRY {
                tracing::info!("event listener connected again");
            }
            retry = FIRST_RETRY;
            // Anything committed while nobody listened is read from the log.
            self.bus().resync();
            loop {
                let next = tokio::select! {
                    // The listener holds the pool's one connection: closing waits for it.
                    _ = &mut stop => { drop(listener); pool.close().await; return; }
                    n = listener.try_recv() => n,
                };
                match next {
                    Ok(Some(n)) => match parse(n.payload()) {
                        Some((org, seq)) => self.bus().advanced(org, seq),
                        None => {
                            tracing::warn!(payload = n.payload(), "unreadable event notification")
                        }
                    },
                    // Lost and made again already (eager reconnect): read what was missed.
                    Ok(None) => {
                        tracing::info!("event listener reconnected");
                        self.bus().resync();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event listener lost its connection");
                        break;
                    }
                }
            }
        }
        pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_payloads() {
        let org = uuid::Uuid::now_v7();
        assert_eq!(parse(&format!("{org}:42")), Some((org.into(), 42)));
        assert_eq!(parse("nope:1"), None);
        assert_eq!(parse(&format!("{org}:x")), None);
    }
}
