//! The transforms between a source's lines and the hub, each a plain state
//! machine with no I/O and no clock of its own (time is passed in), so each
//! is tested on its own:
//!
//! - [`parse`]: bytes to a reading, counting what is rejected and what the
//!   board's sequence number says was lost;
//! - [`diff`]: a reading to the fields that moved by more than their
//!   deadband, named for JSON;
//! - [`throttle`]: changes to deltas at most `max_rate_hz` a second, merged
//!   so that the latest value wins and the last one is never dropped.

pub mod diff;
pub mod parse;
pub mod throttle;
mod values;

pub use values::{Name, Values};
