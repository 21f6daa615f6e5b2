//! The two error types: [`ConfigError`] for a config file, [`ValueError`] for
//! one value.
//!
//! They are split because they have different readers. A `ConfigError` is
//! shown to someone who must open a file and fix it, so it carries the file,
//! line, column and key. A `ValueError` comes from the `FromStr` impls that the
//! command line and the environment share with the file; clap and the file
//! parser each add their own "where", so it carries only the "what".

use std::fmt;
use std::path::PathBuf;

/// A config file that cannot be used, with the place to fix it.
///
/// Its `Display` is one line, `FILE:LINE:COLUMN: KEY: MESSAGE`, the shape
/// editors and terminals turn into a link to the spot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Names the file, the line (1-based), the column (1-based, in
    /// characters) and the dotted key (e.g. `http.listen`,
    /// `fields.accel_x.deadband`, or the unknown key), with a human message.
    #[error("{}:{line}:{column}: {}{message}", file.display(), KeyPrefix(key))]
    Invalid {
        /// The config file, as the caller named it.
        file: PathBuf,
        /// 1-based line of the offending key or value.
        line: usize,
        /// 1-based column, counted in characters.
        column: usize,
        /// The dotted key; `None` for a TOML syntax error outside any key.
        key: Option<String>,
        /// What is wrong, and what would be accepted.
        message: String,
    },
}

/// Writes `key: ` when there is a key, so that a syntax error reads
/// `FILE:LINE:COLUMN: MESSAGE` without an empty key field.
struct KeyPrefix<'a>(&'a Option<String>);

impl fmt::Display for KeyPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(key) => write!(f, "{key}: "),
            None => Ok(()),
        }
    }
}

/// A single value (an input spec, a replay rate, a log format) that does not
/// parse. The message says what was given and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(String);

impl ValueError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ValueError(message.into())
    }
}
