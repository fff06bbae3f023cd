//! Test time: every clock starts at now moved by `PB_TEST_CLOCK_OFFSET_DAYS`, and calendar days
//! are named relative to that start, so no test depends on today's date.

use chrono::{SubsecRound, Utc};

/// Pinned: runs the suite as if the wall clock were this many days ahead (CI reruns the
/// date-sensitive tests with 400), so no test depends on today's date.
pub const CLOCK_OFFSET_VAR: &str = "PB_TEST_CLOCK_OFFSET_DAYS";

fn clock_offset() -> chrono::Duration {
    let days = std::env::var(CLOCK_OFFSET_VAR)
        .ok()
        .map(|d| {
            d.parse::<i64>()
                .unwrap_or_else(|_| panic!("{CLOCK_OFFSET_VAR} is a number of days"))
        })
        .unwrap_or(0);
    chrono::Duration::days(days)
}

/// Where a test clock starts: now, moved by `PB_TEST_CLOCK_OFFSET_DAYS`.
pub fn clock_start() -> chrono::DateTime<Utc> {
    (Utc::now() + clock_offset()).trunc_subsecs(0)
}

/// The calendar day `offset` days from the test clocks' start (one anchor per test process).
pub fn day_date(offset: i64) -> chrono::NaiveDate {
    static ANCHOR: std::sync::OnceLock<chrono::NaiveDate> = std::sync::OnceLock::new();
    *ANCHOR.get_or_init(|| clock_start().date_naive()) + chrono::Duration::days(offset)
}

/// [`day_date`] as `YYYY-MM-DD`.
pub fn day(offset: i64) -> String {
    day_date(offset).to_string()
}
