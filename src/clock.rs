//! Owns the service's view of time: the shared `pb-clock` crate (one clock for the service and
//! the sandbox). SQL never calls `now()`; times are bound parameters taken from here.

pub use pb_clock::{Clock, ManualClock, SharedClock, SystemClock};
