//! What every integration test stands on: a database per test, the server started by one
//! builder, the sandbox beside it on one clock, a scripted browser, child processes that cannot
//! hang, test time, and the one polling loop.

pub mod app;
pub mod browser;
pub mod catalogue;
pub mod child;
pub mod db;
pub mod linked;
pub mod pki;
#[allow(dead_code)] // The serial binary's database cut.
pub mod proxy;
pub mod receiver;
pub mod sandbox;
pub mod served;
pub mod time;
pub mod wait;
pub mod ws;

pub use app::{TEST_SECRET, TOKEN_TTL_SECS, TestApp, error_code, get_text, gql_at, init_tracing};
pub use browser::Browser;
pub use db::{TestDb, pg_admin_url};
pub use linked::{Linked, RETURN, TEST_KEYS};
pub use receiver::{Received, Receiver};
pub use sandbox::{REDIRECT, Sandbox, finished_sync};
pub use time::{clock_start, day, day_date};
pub use wait::wait_until;
