//! Why a line was rejected, and how to show the line in a log message.
//!
//! Rejected lines are counted by reason (a metric label) and logged at a
//! rate-limited level, so each variant carries what a log line needs to
//! locate the fault without echoing the whole line: byte offsets, lengths,
//! the declared and computed checksums. The raw line itself is shown through
//! [`excerpt`], which bounds its length and escapes whatever a terminal
//! should not receive.
//!
//! [`LineError`] owns its data (it has no lifetime) so that it can outlive
//! the buffer the line came from, for example when it is sent to a logging
//! task.

use crate::{MAX_KEY_LEN, MAX_LINE_LEN};

/// Why a line was rejected.
///
/// Offsets are in bytes from the start of the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line had no bytes, or only a `\r`.
    #[error("empty line")]
    Empty,

    /// The line was longer than [`MAX_LINE_LEN`], not counting its `\r\n`
    /// or `\n`. `len` is that length (saturated at `usize::MAX`).
    #[error("line of {len} bytes, longer than the {MAX_LINE_LEN} allowed")]
    TooLong { len: usize },

    /// The line held a byte that is not ASCII; `byte` is the first such byte.
    #[error("byte {byte:#04x} at offset {offset} is not ASCII")]
    NotAscii { offset: usize, byte: u8 },

    /// The line does not follow the grammar; `found` is the character at
    /// `offset`, or `None` at the end of the line.
    #[error("expected {expected} at offset {offset}, found {}", found_text(*.found))]
    Syntax {
        offset: usize,
        expected: &'static str,
        found: Option<char>,
    },

    /// A key was longer than [`MAX_KEY_LEN`].
    #[error("key of {len} bytes at offset {offset}, longer than the {MAX_KEY_LEN} allowed")]
    KeyTooLong { offset: usize, len: usize },

    /// A value did not fit in an `i64`; `len` is the length of its digits
    /// (with its sign).
    #[error("value of {len} bytes at offset {offset} does not fit in 64 bits")]
    OutOfRange { offset: usize, len: usize },

    /// The sequence number `n` was outside `0..=65535`.
    #[error("sequence number {value} at offset {offset} is outside 0..=65535")]
    BadSequence { offset: usize, value: i64 },

    /// A key appeared twice in the line (`n` included).
    #[error("duplicate key `{key}` at offset {offset}")]
    DuplicateKey { offset: usize, key: String },

    /// The `*HH` checksum did not match the XOR of the bytes before `*`.
    #[error("checksum mismatch: line declares {declared:02X}, content gives {computed:02X}")]
    BadChecksum { declared: u8, computed: u8 },

    /// The first, partial line after a (re)connect: the board was already
    /// mid-line, so the start of that line was never received.
    #[error("partial line after a (re)connect")]
    Partial,
}

impl LineError {
    /// A stable snake_case label for metrics: one per variant, never renamed.
    pub fn reason(&self) -> &'static str {
        match self {
            LineError::Empty => "empty",
            LineError::TooLong { .. } => "too_long",
            LineError::NotAscii { .. } => "not_ascii",
            LineError::Syntax { .. } => "syntax",
            LineError::KeyTooLong { .. } => "key_too_long",
            LineError::OutOfRange { .. } => "out_of_range",
            LineError::BadSequence { .. } => "bad_sequence",
            LineError::DuplicateKey { .. } => "duplicate_key",
            LineError::BadChecksum { .. } => "bad_checksum",
            LineError::Partial => "partial",
        }
    }
}

fn found_text(found: Option<char>) -> String {
    match found {
        Some(c) if c.is_ascii_graphic() => format!("`{c}`"),
        Some(c) => format!("{:#04x}", u32::from(c)),
        None => "the end of the line".to_owned(),
    }
}

/// How many characters of a line [`excerpt`] shows, not counting the `…`.
const EXCERPT_MAX_CHARS: usize = 40;

/// A short printable excerpt of a raw line for log messages.
///
/// Printable ASCII is kept; every other byte, and `\` itself (so that the
/// escapes stay unambiguous), is written `\xNN`. The result holds at most
/// 40 characters, an escape is never cut in two, and `…` ends it when the
/// line was longer.
pub fn excerpt(line: &[u8]) -> String {
    let mut out = String::with_capacity(EXCERPT_MAX_CHARS + '…'.len_utf8());
    for &byte in line {
        let width = if is_shown_as_is(byte) { 1 } else { 4 };
        if out.len() + width > EXCERPT_MAX_CHARS {
            out.push('…');
            return out;
        }
        if is_shown_as_is(byte) {
            out.push(char::from(byte));
        } else {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\x");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    out
}

fn is_shown_as_is(byte: u8) -> bool {
    (b' '..=b'~').contains(&byte) && byte != b'\\'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_own_label() {
        let all = [
            (LineError::Empty, "empty"),
            (LineError::TooLong { len: 513 }, "too_long"),
            (
                LineError::NotAscii {
                    offset: 3,
                    byte: 0xc3,
                },
                "not_ascii",
            ),
            (
                LineError::Syntax {
                    offset: 1,
                    expected: "`:`",
                    found: Some(' '),
                },
                "syntax",
            ),
            (LineError::KeyTooLong { offset: 0, len: 17 }, "key_too_long"),
            (LineError::OutOfRange { offset: 2, len: 23 }, "out_of_range"),
            (
                LineError::BadSequence {
                    offset: 4,
                    value: 65536,
                },
                "bad_sequence",
            ),
            (
                LineError::DuplicateKey {
                    offset: 4,
                    key: "s".to_owned(),
                },
                "duplicate_key",
            ),
            (
                LineError::BadChecksum {
                    declared: 0,
                    computed: 0x3c,
                },
                "bad_checksum",
            ),
            (LineError::Partial, "partial"),
        ];
        for (error, label) in &all {
            assert_eq!(error.reason(), *label, "{error:?}");
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn messages_carry_the_details() {
        let bad_sum = LineError::BadChecksum {
            declared: 0x00,
            computed: 0x3c,
        };
        assert_eq!(
            bad_sum.to_string(),
            "checksum mismatch: line declares 00, content gives 3C"
        );
        let syntax = LineError::Syntax {
            offset: 1,
            expected: "`:`",
            found: Some(' '),
        };
        assert_eq!(syntax.to_string(), "expected `:` at offset 1, found 0x20");
        let at_end = LineError::Syntax {
            offset: 2,
            expected: "an integer",
            found: None,
        };
        assert_eq!(
            at_end.to_string(),
            "expected an integer at offset 2, found the end of the line"
        );
    }

    #[test]
    fn excerpt_keeps_a_short_printable_line() {
        assert_eq!(excerpt(b"s:512,x:3"), "s:512,x:3");
        assert_eq!(excerpt(b""), "");
    }

    #[test]
    fn excerpt_escapes_control_non_ascii_and_backslash() {
        assert_eq!(
            excerpt(b"a\x00b\xc3\xa9\\\r"),
            "a\\x00b\\xc3\\xa9\\x5c\\x0d"
        );
    }

    #[test]
    fn excerpt_cuts_long_lines_with_an_ellipsis() {
        let long = [b'a'; 100];
        let shown = excerpt(&long);
        assert_eq!(shown, format!("{}…", "a".repeat(40)));
        let exact = [b'a'; 40];
        assert_eq!(excerpt(&exact), "a".repeat(40));
    }

    #[test]
    fn excerpt_never_cuts_an_escape() {
        let mut line = vec![b'a'; 38];
        line.push(0xff);
        assert_eq!(excerpt(&line), format!("{}…", "a".repeat(38)));
    }
}
