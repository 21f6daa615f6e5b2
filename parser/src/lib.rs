//! The line protocol: from raw serial bytes to readings.
//!
//! The grammar is the Arduino IDE's Serial Plotter's, so that any sketch
//! written for that plotter works unchanged: fields separated by runs of
//! `,`, space or tab, each `label:number` or a bare number (named
//! `value N`), integers kept apart from decimals, and `nan`, `inf`, `-inf`,
//! `ovf` standing for a value the sketch could not print. The Esplora's
//! protocol is one case of it, with a sequence number and a checksum:
//! `s:512,x:3,y:-2,z:120,j:0,k:0,l:800,m:20,t:72,u:0,b:0,n:17*39`. The exact
//! rules are in [`line`](mod@line).
//!
//! ```
//! use esplora_parser::{NotANumber, Number, parse_line};
//!
//! let reading = parse_line(b"temp_C:23.50 hum_%:nan light:512\r").unwrap();
//! assert_eq!(
//!     reading.fields,
//!     [("temp_C", Number::Float(23.5)), ("light", Number::Int(512))]
//! );
//! assert_eq!(reading.skipped, [("hum_%", NotANumber::Nan)]);
//! ```
//!
//! This crate turns bytes into [`Reading`]s and says why a line was
//! rejected, with pure functions and no I/O, so that the bridge decides
//! where the bytes come from and what to do with each outcome.
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
//!   [`Grammar`] (which label is the sequence number), [`parse_line`] for
//!   the Esplora's, and the [`Reading`] they give.
//! - `scan` (private): the grammar's happy path by hand, tried first; any
//!   line it is not sure of goes to the `nom` grammar, which has the last
//!   word and gives the exact error.
//! - [`number`](mod@number): [`Number`], an integer or a decimal, kept
//!   apart all the way to JSON, and [`NotANumber`].
//! - [`format`](mod@format): [`format_line`] and [`format_values`], the
//!   inverse of `parse_line`, for tests, demos and board simulators.
//! - [`error`]: [`LineError`], why a line was rejected, with a stable label
//!   for metrics, and [`excerpt`] to show a raw line in a log message.

pub mod error;
pub mod format;
pub mod framer;
pub mod line;
pub mod number;
mod scan;

pub use error::{LineError, excerpt};
pub use format::{format_line, format_values};
pub use framer::LineFramer;
pub use line::{Grammar, Reading, is_label, parse_line};
pub use number::{NotANumber, Number};

/// The longest accepted line in bytes, not counting its `\r\n` or `\n`.
pub const MAX_LINE_LEN: usize = 512;

/// The longest accepted label in bytes.
pub const MAX_KEY_LEN: usize = 32;

/// The most fields a line may hold.
pub const MAX_FIELDS: usize = 64;
