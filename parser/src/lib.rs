//! The Esplora line protocol: from raw serial bytes to readings.
//!
//! The board sends one reading a line, such as
//! `s:512,x:3,y:-2,z:120,j:0,k:0,l:800,m:20,t:72,u:0,b:0,n:17*39`: `key:value`
//! pairs, the sequence number `n`, and a checksum (the grammar is in
//! [`line`](mod@line)). This crate turns bytes into [`Reading`]s and says why
//! a line was rejected, with pure functions and no I/O, so that the bridge
//! decides where the bytes come from and what to do with each outcome.
//!
//! Reading a byte stream takes two steps, framing then parsing:
//!
//! ```
//! use esplora_parser::{LineFramer, parse_line};
//!
//! let mut framer = LineFramer::new();
//! let mut outcomes = Vec::new();
//! // Serial reads end anywhere; the framer joins the pieces.
//! for chunk in [&b"s:512,x:3\r\ns:51"[..], b"3,x:4*00\n"] {
//!     framer.push(chunk, |line| {
//!         // The line is only lent for the call: keep what outlives it.
//!         let reading = line.and_then(parse_line);
//!         outcomes.push(reading.map(|r| r.fields.len()).map_err(|e| e.reason()));
//!     });
//! }
//! assert_eq!(outcomes, [Ok(2), Err("bad_checksum")]);
//! ```
//!
//! # Layout
//!
//! - [`framer`]: [`LineFramer`] cuts a byte stream, chunked in any way, into
//!   lines, with a bounded buffer whatever the board sends.
//! - [`line`](mod@line): the grammar of one line, written with `nom`:
//!   [`parse_line`] and the [`Reading`] it gives.
//! - [`format`](mod@format): [`format_line`], the inverse of `parse_line`,
//!   for tests, demos and board simulators.
//! - [`error`]: [`LineError`], why a line was rejected, with a stable label
//!   for metrics, and [`excerpt`] to show a raw line in a log message.

pub mod error;
pub mod format;
pub mod framer;
pub mod line;

pub use error::{LineError, excerpt};
pub use format::format_line;
pub use framer::LineFramer;
pub use line::{Reading, parse_line};

/// The longest accepted line in bytes, not counting its `\r\n` or `\n`.
pub const MAX_LINE_LEN: usize = 512;

/// The longest accepted key in bytes.
pub const MAX_KEY_LEN: usize = 16;
