//! The heavy, timing-sensitive tests, in a binary of their own and one at a time: a burst of
//! webhooks with every Ponto call delayed, and the real binary killed in the middle of one. The
//! rest of the suite's load cannot bend their timings, nor theirs the suite's.

mod db_outage;
mod db_outage_webhooks;
mod db_outage_workers;
mod inbound_burst;
mod inbound_crash;
mod outbound_crash;
mod outbound_instances;
// The api suite's harness; this binary uses part of it.
#[allow(dead_code, unused_imports)]
#[path = "../api/support/mod.rs"]
mod support;

/// Held for the whole of each test here: one heavy test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
