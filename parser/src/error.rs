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

use crate::{MAX_FIELDS, MAX_KEY_LEN, MAX_LINE_LEN, Number};

/// Why a line was rejected: one variant per rule of the grammar.
///
/// Offsets are in bytes from the start of the line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LineError {
    /// The line had no fields: no bytes, only a `\r`, or only separators.
    #[error("empty line")]
    Empty,

    /// The line was longer than [`MAX_LINE_LEN`], not counting its `\r\n`
    /// or `\n`. `len` is that length (saturated at `usize::MAX`).
    #[error("line of {len} bytes, longer than the {MAX_LINE_LEN} allowed")]
    TooLong { len: usize },

    /// The line is not UTF-8; `offset` is where the first bad sequence starts.
    #[error("the bytes at offset {offset} are not UTF-8")]
    NotUtf8 { offset: usize },

    /// The line does not follow the grammar (an empty label, a malformed
    /// checksum); `found` is the character at `offset`, or `None` at the
    /// end of the line.
    #[error("expected {expected} at offset {offset}, found {}", found_text(*.found))]
    Syntax {
        offset: usize,
        expected: &'static str,
        found: Option<char>,
    },

    /// A label was longer than [`MAX_KEY_LEN`] bytes.
    #[error("label of {len} bytes at offset {offset}, longer than the {MAX_KEY_LEN} allowed")]
    KeyTooLong { offset: usize, len: usize },

    /// A label held a control character.
    #[error("label at offset {offset} holds a control character")]
    BadLabel { offset: usize },

    /// A value is not a number of the grammar (`12.5.3`, `+5`, `0x10`, or
    /// the words of a debug print such as `Sensor ready`); `len` is the
    /// length of the value.
    #[error("value of {len} bytes at offset {offset} is not a number")]
    BadNumber { offset: usize, len: usize },

    /// An integer did not fit in an `i64`, or a decimal in a finite `f64`;
    /// `len` is the length of the value (with its sign).
    #[error("value of {len} bytes at offset {offset} is out of range")]
    OutOfRange { offset: usize, len: usize },

    /// A line mixed `label:number` fields with bare numbers.
    #[error("field at offset {offset} mixes bare and labelled fields in one line")]
    MixedFields { offset: usize },

    /// A line held more than [`MAX_FIELDS`] fields.
    #[error("field at offset {offset} is one more than the {MAX_FIELDS} allowed")]
    TooManyFields { offset: usize },

    /// The sequence number was not an integer in `0..=65535`.
    #[error("sequence number {value} at offset {offset} is outside 0..=65535")]
    BadSequence { offset: usize, value: Number },

    /// A label appeared twice in the line (the sequence key included).
    #[error("duplicate label `{key}` at offset {offset}")]
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
            LineError::NotUtf8 { .. } => "not_utf8",
            LineError::Syntax { .. } => "syntax",
            LineError::KeyTooLong { .. } => "key_too_long",
            LineError::BadLabel { .. } => "bad_label",
            LineError::BadNumber { .. } => "bad_number",
            LineError::OutOfRange { .. } => "out_of_range",
            LineError::MixedFields { .. } => "mixed_fields",
            LineError::TooManyFields { .. } => "too_many_fields_in_line",
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
            (LineError::NotUtf8 { offset: 3 }, "not_utf8"),
            (LineError::BadLabel { offset: 0 }, "bad_label"),
            (LineError::BadNumber { offset: 2, len: 6 }, "bad_number"),
            (LineError::MixedFields { offset: 4 }, "mixed_fields"),
            (
                LineError::TooManyFields { offset: 130 },
                "too_many_fields_in_line",
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
                    value: Number::Int(65536),
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
