//! The grammar of one line, and the [`Reading`] it gives.
//!
//! ```text
//! line     = body [ "*" hex hex ]        at most 512 bytes, ASCII
//! body     = field *( "," field )
//! field    = key ":" integer
//! key      = 1*16( ALPHA / DIGIT / "_" )
//! integer  = [ "-" ] 1*DIGIT             fits in an i64
//! ```
//!
//! A line may end with `\r` (not counted in the 512). `hex` is `0-9`,
//! `A-F` or `a-f`, and the two digits are the XOR of every byte of `body`,
//! as in NMEA. Beyond the grammar, a key appears at most once, and the key
//! `n` is the board's sequence number: it must be in `0..=65535` and is
//! returned apart from the readings. `n` may be anywhere in the line, and a
//! line may hold only `n`.
//!
//! Decisions the protocol leaves open: a `+` sign is rejected (the board
//! never sends one, so it is more likely noise); leading zeros are accepted
//! (`007` is 7); no whitespace is allowed anywhere.
//!
//! [`parse_line`] checks in order of cost and of certainty: length and ASCII
//! with byte scans, then the frame (`body` and the checksum), then the
//! checksum, then the fields. The checksum comes before the fields because
//! when it does not match, the line was damaged on the way, and "bad
//! checksum" says so better than whatever the damage looks like.
//!
//! The grammar is written with `nom` over bytes: the line is known to be
//! ASCII before it starts, so there is nothing to decode. Keys are borrowed
//! from the line without copying, integers are read in one pass over their
//! digits, and the one allocation per line is the `Vec` of fields.

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{take_while_m_n, take_while1},
    character::complete::{char, digit1},
    combinator::{cut, eof, opt, value},
    error::{ContextError, ErrorKind, ParseError, context},
    sequence::{preceded, separated_pair},
};

use crate::{LineError, MAX_KEY_LEN, MAX_LINE_LEN};

/// One accepted line. Borrows its keys from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading<'a> {
    /// The readings in line order, without `n`.
    pub fields: Vec<(&'a str, i64)>,
    /// The board's sequence number `n`, when the line carried one.
    pub seq: Option<u16>,
}

/// The key of the board's sequence number.
const SEQ_KEY: &str = "n";

/// Parses one line, without its `\n` (a trailing `\r` is allowed and ignored).
pub fn parse_line(line: &[u8]) -> Result<Reading<'_>, LineError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(LineError::Empty);
    }
    if line.len() > MAX_LINE_LEN {
        return Err(LineError::TooLong { len: line.len() });
    }
    // ASCII is UTF-8, so the line is a `str` whenever it is ASCII; making it
    // one here, once, lets every key be borrowed from it without a check.
    let text = match std::str::from_utf8(line) {
        Ok(text) if line.is_ascii() => text,
        _ => return Err(not_ascii(line)),
    };

    let (_, (body, declared)) = run(line, line, frame)?;
    if let Some(declared) = declared {
        let computed = checksum(body);
        if declared != computed {
            return Err(LineError::BadChecksum { declared, computed });
        }
    }
    fields(body, &text[..body.len()])
}

/// The NMEA checksum: the XOR of all the bytes.
pub(crate) fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |sum, byte| sum ^ byte)
}

/// Finds the first non-ASCII byte, only once a line is known to hold one:
/// `<[u8]>::is_ascii` is the faster scan for the lines that do not.
fn not_ascii(line: &[u8]) -> LineError {
    let (offset, byte) = line
        .iter()
        .enumerate()
        .find(|(_, byte)| !byte.is_ascii())
        .map_or((0, 0), |(offset, &byte)| (offset, byte));
    LineError::NotAscii { offset, byte }
}

/// Reads the body and its fields, checking the rules that span fields:
/// no duplicate key, and `n` in range.
fn fields<'a>(body: &'a [u8], text: &'a str) -> Result<Reading<'a>, LineError> {
    // One allocation per line, without counting: a field and its comma take
    // at least 4 bytes ("k:0,"), so this bounds the number of fields.
    let capacity = (body.len() + 1) / 4;
    let mut reading = Reading {
        fields: Vec::with_capacity(capacity),
        seq: None,
    };
    // The first bytes of the keys seen so far, one bit each (keys are
    // ASCII). Board keys seldom share a first byte, so this spares most
    // lines the quadratic comparison of keys.
    let mut first_bytes_seen = 0u128;
    let mut rest = body;
    loop {
        let offset = body.len() - rest.len();
        let (after_field, (key, value)) = run(body, rest, field)?;
        let key = &text[offset..offset + key.len()];

        let first_byte = key.bytes().next().map_or(0, |byte| 1u128 << (byte & 0x7f));
        let seen = first_bytes_seen & first_byte != 0
            && ((key == SEQ_KEY && reading.seq.is_some())
                || reading.fields.iter().any(|&(other, _)| other == key));
        first_bytes_seen |= first_byte;
        if seen {
            return Err(LineError::DuplicateKey {
                offset,
                key: key.to_owned(),
            });
        }
        if key == SEQ_KEY {
            let seq = u16::try_from(value).map_err(|_| LineError::BadSequence {
                offset: offset + key.len() + 1,
                value,
            })?;
            reading.seq = Some(seq);
        } else {
            reading.fields.push((key, value));
        }

        let (after_end, at_end) = run(body, after_field, field_end)?;
        if at_end {
            return Ok(reading);
        }
        rest = after_end;
    }
}

/// `line = body [ "*" hex hex ]`: splits off the checksum, if any.
fn frame(line: &[u8]) -> Parsed<'_, (&[u8], Option<u8>)> {
    // The body holds no `*`, so the first one ends it. `memchr` finds it
    // several times faster than nom's byte-at-a-time `take_till`.
    let body_len = memchr::memchr(b'*', line).unwrap_or(line.len());
    let (body, rest) = line.split_at(body_len);
    // Once a `*` is seen, the checksum must follow: `cut` stops `opt` from
    // taking a malformed one for "no checksum".
    let (rest, declared) = opt(preceded(
        char('*'),
        cut(context("two hex digits after `*`", hex_byte)),
    ))
    .parse(rest)?;
    let (rest, _) = context("the end of the line after the checksum", eof).parse(rest)?;
    Ok((rest, (body, declared)))
}

fn hex_byte(input: &[u8]) -> Parsed<'_, u8> {
    let (rest, digits) = take_while_m_n(2, 2, |byte: u8| byte.is_ascii_hexdigit()).parse(input)?;
    let byte = digits
        .iter()
        .fold(0, |byte, &digit| byte << 4 | hex_value(digit));
    Ok((rest, byte))
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        // Only hex digits get here: `hex_byte` has checked them.
        _ => 0,
    }
}

/// `field = key ":" integer`
fn field(input: &[u8]) -> Parsed<'_, (&[u8], i64)> {
    separated_pair(key, expecting("`:` after the key", char(':')), integer).parse(input)
}

fn key(input: &[u8]) -> Parsed<'_, &[u8]> {
    let is_key_byte = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_';
    let (rest, key) = expecting("a key", take_while1(is_key_byte)).parse(input)?;
    if key.len() > MAX_KEY_LEN {
        return Err(GrammarError::fail(
            input,
            Fault::KeyTooLong { len: key.len() },
        ));
    }
    Ok((rest, key))
}

fn integer(input: &[u8]) -> Parsed<'_, i64> {
    let (rest, (minus, digits)) = expecting("an integer", (opt(char('-')), digit1)).parse(input)?;
    // Accumulating towards the sign lets i64::MIN, one more in magnitude
    // than i64::MAX, through without a special case.
    let value = digits.iter().try_fold(0i64, |value, &digit| {
        let digit = i64::from(digit - b'0');
        let shifted = value.checked_mul(10)?;
        match minus {
            Some(_) => shifted.checked_sub(digit),
            None => shifted.checked_add(digit),
        }
    });
    match value {
        Some(value) => Ok((rest, value)),
        None => Err(GrammarError::fail(
            input,
            Fault::OutOfRange {
                len: input.len() - rest.len(),
            },
        )),
    }
}

/// What follows a field: `,` (false: another field comes) or the end (true).
fn field_end(input: &[u8]) -> Parsed<'_, bool> {
    expecting(
        "`,` or the end of the line",
        alt((value(false, char(',')), value(true, eof))),
    )
    .parse(input)
}

/// nom's `context`, inlined. nom's own is a call that moves the whole
/// result through a non-inlined function; on the path every field takes,
/// that was a fifth of the parse (22% of its instructions, by callgrind).
#[inline(always)]
fn expecting<'a, O>(
    expected: &'static str,
    mut parser: impl Parser<&'a [u8], Output = O, Error = GrammarError<'a>>,
) -> impl FnMut(&'a [u8]) -> Parsed<'a, O> {
    move |input| {
        parser
            .parse(input)
            .map_err(|error| error.map(|error| GrammarError::add_context(input, expected, error)))
    }
}

type Parsed<'a, T> = IResult<&'a [u8], T, GrammarError<'a>>;

/// Runs `parser` on `rest`, a suffix of `whole`, and turns a failure into a
/// [`LineError`] with its offset in `whole`.
fn run<'a, T>(
    whole: &'a [u8],
    rest: &'a [u8],
    parser: impl FnOnce(&'a [u8]) -> Parsed<'a, T>,
) -> Result<(&'a [u8], T), LineError> {
    parser(rest).map_err(|error| match error {
        nom::Err::Error(error) | nom::Err::Failure(error) => error.into_line_error(whole),
        // The parsers are all `complete`: they never ask for more input. Were
        // one to, the line ended too early.
        nom::Err::Incomplete(_) => GrammarError {
            at: &[],
            fault: Fault::Expected("more input"),
        }
        .into_line_error(whole),
    })
}

/// nom's error type for this grammar: where it failed and why.
///
/// nom's own error type only gives an `ErrorKind` such as `Char` or `Digit`;
/// this one keeps what was expected (from `context`) and the faults that are
/// not syntax, so each becomes its own [`LineError`] variant.
#[derive(Debug)]
struct GrammarError<'a> {
    /// The input left where the fault is; its offset is found from its length.
    at: &'a [u8],
    fault: Fault,
}

#[derive(Debug)]
enum Fault {
    Expected(&'static str),
    KeyTooLong { len: usize },
    OutOfRange { len: usize },
}

impl<'a> GrammarError<'a> {
    /// A fault that no other branch of the grammar could recover from.
    fn fail(at: &'a [u8], fault: Fault) -> nom::Err<Self> {
        nom::Err::Failure(Self { at, fault })
    }

    fn into_line_error(self, whole: &[u8]) -> LineError {
        let offset = whole.len() - self.at.len();
        match self.fault {
            Fault::Expected(expected) => LineError::Syntax {
                offset,
                expected,
                found: self.at.first().map(|&byte| char::from(byte)),
            },
            Fault::KeyTooLong { len } => LineError::KeyTooLong { offset, len },
            Fault::OutOfRange { len } => LineError::OutOfRange { offset, len },
        }
    }
}

impl<'a> ParseError<&'a [u8]> for GrammarError<'a> {
    fn from_error_kind(at: &'a [u8], _: ErrorKind) -> Self {
        // Every parser that can fail on syntax sits inside a `context`, which
        // replaces this placeholder with what was expected.
        Self {
            at,
            fault: Fault::Expected("a valid line"),
        }
    }

    fn append(_: &'a [u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

impl<'a> ContextError<&'a [u8]> for GrammarError<'a> {
    fn add_context(_: &'a [u8], expected: &'static str, other: Self) -> Self {
        match other.fault {
            // Keep the innermost position: it points at the offending byte.
            Fault::Expected(_) => Self {
                at: other.at,
                fault: Fault::Expected(expected),
            },
            Fault::KeyTooLong { .. } | Fault::OutOfRange { .. } => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Reading<'_> {
        match parse_line(line.as_bytes()) {
            Ok(reading) => reading,
            Err(error) => panic!("{line:?} rejected: {error}"),
        }
    }

    fn err(line: &[u8]) -> LineError {
        match parse_line(line) {
            Ok(reading) => panic!("{} accepted: {reading:?}", crate::excerpt(line)),
            Err(error) => error,
        }
    }

    fn syntax(offset: usize, expected: &'static str, found: Option<char>) -> LineError {
        LineError::Syntax {
            offset,
            expected,
            found,
        }
    }

    /// `line` followed by its correct `*HH`.
    fn with_checksum(line: &str) -> String {
        format!("{line}*{:02X}", checksum(line.as_bytes()))
    }

    #[test]
    fn reads_a_board_line_in_order() {
        let reading = ok("s:512,x:3,y:-2,z:120,j:0,k:0,l:800,m:20,t:72,u:0,b:0");
        assert_eq!(
            reading.fields,
            [
                ("s", 512),
                ("x", 3),
                ("y", -2),
                ("z", 120),
                ("j", 0),
                ("k", 0),
                ("l", 800),
                ("m", 20),
                ("t", 72),
                ("u", 0),
                ("b", 0)
            ]
        );
        assert_eq!(reading.seq, None);
    }

    #[test]
    fn reads_the_example_of_the_crate_doc() {
        let reading = ok("s:512,x:3,y:-2,z:120,j:0,k:0,l:800,m:20,t:72,u:0,b:0,n:17*39");
        assert_eq!(reading.fields.len(), 11);
        assert_eq!(reading.seq, Some(17));
    }

    #[test]
    fn a_single_field_is_a_line() {
        assert_eq!(ok("s:1").fields, [("s", 1)]);
    }

    #[test]
    fn keys_are_letters_digits_and_underscores_of_any_case() {
        let reading = ok("Ab_9:1,_:2,0:3,ABCDEFGHIJKLMNOP:4");
        let keys: Vec<&str> = reading.fields.iter().map(|&(key, _)| key).collect();
        assert_eq!(keys, ["Ab_9", "_", "0", "ABCDEFGHIJKLMNOP"]);
    }

    #[test]
    fn keys_are_case_sensitive() {
        assert_eq!(ok("s:1,S:2").fields, [("s", 1), ("S", 2)]);
        // `N` is a reading like any other, not the sequence number.
        assert_eq!(ok("N:70000").seq, None);
    }

    #[test]
    fn a_key_of_17_bytes_is_too_long() {
        assert_eq!(
            err(b"s:1,abcdefghijklmnopq:1"),
            LineError::KeyTooLong { offset: 4, len: 17 }
        );
        assert_eq!(
            err(b"thisisaverylongkeyname_xx:1"),
            LineError::KeyTooLong { offset: 0, len: 25 }
        );
    }

    #[test]
    fn other_characters_in_a_key_are_syntax_errors() {
        assert_eq!(err(b"a-b:1"), syntax(1, "`:` after the key", Some('-')));
        assert_eq!(err(b"s.x:1"), syntax(1, "`:` after the key", Some('.')));
    }

    #[test]
    fn values_are_signed_and_may_have_leading_zeros() {
        assert_eq!(
            ok("a:-5,b:0,c:-0,d:007,e:-007").fields,
            [("a", -5), ("b", 0), ("c", 0), ("d", 7), ("e", -7)]
        );
    }

    #[test]
    fn values_span_the_whole_i64_range() {
        let line = format!("a:{},b:{}", i64::MAX, i64::MIN);
        assert_eq!(ok(&line).fields, [("a", i64::MAX), ("b", i64::MIN)]);
    }

    #[test]
    fn values_beyond_i64_are_out_of_range() {
        assert_eq!(
            err(b"a:9223372036854775808"),
            LineError::OutOfRange { offset: 2, len: 19 }
        );
        assert_eq!(
            err(b"a:1,b:-9223372036854775809"),
            LineError::OutOfRange { offset: 6, len: 20 }
        );
        assert_eq!(
            err(b"s:99999999999999999999999,x:1"),
            LineError::OutOfRange { offset: 2, len: 23 }
        );
    }

    #[test]
    fn a_plus_sign_is_rejected() {
        assert_eq!(err(b"s:+5"), syntax(2, "an integer", Some('+')));
    }

    #[test]
    fn a_value_needs_digits() {
        assert_eq!(err(b"s:-"), syntax(3, "an integer", None));
        assert_eq!(err(b"s:-,x:1"), syntax(3, "an integer", Some(',')));
        assert_eq!(
            err(b"s:1x"),
            syntax(3, "`,` or the end of the line", Some('x'))
        );
        assert_eq!(
            err(b"s:0x10"),
            syntax(3, "`,` or the end of the line", Some('x'))
        );
        assert_eq!(
            err(b"s:1.5"),
            syntax(3, "`,` or the end of the line", Some('.'))
        );
    }

    #[test]
    fn empty_keys_and_values_are_rejected() {
        assert_eq!(err(b":5,x:4"), syntax(0, "a key", Some(':')));
        assert_eq!(err(b"s:,x:4"), syntax(2, "an integer", Some(',')));
        assert_eq!(err(b"s:"), syntax(2, "an integer", None));
        assert_eq!(err(b"s"), syntax(1, "`:` after the key", None));
    }

    #[test]
    fn wrong_separators_are_rejected() {
        assert_eq!(
            err(b"s 512, x 3"),
            syntax(1, "`:` after the key", Some(' '))
        );
        assert_eq!(err(b"s=512"), syntax(1, "`:` after the key", Some('=')));
        assert_eq!(
            err(b"s:1;x:2"),
            syntax(3, "`,` or the end of the line", Some(';'))
        );
        assert_eq!(err(b"s:1, x:2"), syntax(4, "a key", Some(' ')));
        assert_eq!(err(b"s::1"), syntax(2, "an integer", Some(':')));
        assert_eq!(err(b"s:512,x:3,y"), syntax(11, "`:` after the key", None));
    }

    #[test]
    fn stray_commas_are_rejected() {
        assert_eq!(err(b"s:1,"), syntax(4, "a key", None));
        assert_eq!(err(b",s:1"), syntax(0, "a key", Some(',')));
        assert_eq!(err(b"s:1,,x:2"), syntax(4, "a key", Some(',')));
    }

    #[test]
    fn whitespace_is_rejected_anywhere() {
        assert_eq!(err(b" s:1"), syntax(0, "a key", Some(' ')));
        assert_eq!(
            err(b"s:1 "),
            syntax(3, "`,` or the end of the line", Some(' '))
        );
        assert_eq!(
            err(b"s:1\t"),
            syntax(3, "`,` or the end of the line", Some('\t'))
        );
    }

    #[test]
    fn a_duplicate_key_is_rejected() {
        assert_eq!(
            err(b"s:1,x:2,s:3"),
            LineError::DuplicateKey {
                offset: 8,
                key: "s".to_owned()
            }
        );
        assert_eq!(
            err(b"s:1,n:2,n:3"),
            LineError::DuplicateKey {
                offset: 8,
                key: "n".to_owned()
            }
        );
    }

    #[test]
    fn the_sequence_number_is_kept_apart() {
        let reading = ok("s:1,x:2,n:17");
        assert_eq!(reading.fields, [("s", 1), ("x", 2)]);
        assert_eq!(reading.seq, Some(17));
    }

    #[test]
    fn the_sequence_number_may_be_anywhere_or_alone() {
        let reading = ok("n:3,s:1");
        assert_eq!((reading.fields, reading.seq), (vec![("s", 1)], Some(3)));
        let alone = ok("n:0");
        assert_eq!((alone.fields, alone.seq), (vec![], Some(0)));
    }

    #[test]
    fn the_sequence_number_is_0_to_65535() {
        assert_eq!(ok("s:1,n:65535").seq, Some(65535));
        assert_eq!(
            err(b"s:1,n:65536"),
            LineError::BadSequence {
                offset: 6,
                value: 65536
            }
        );
        assert_eq!(
            err(b"n:-1"),
            LineError::BadSequence {
                offset: 2,
                value: -1
            }
        );
    }

    #[test]
    fn a_checksum_is_checked_in_either_case() {
        // The first line of the messy sample capture.
        let line = "s:511,x:1,y:1,z:126,j:0,k:0,l:597,m:5,t:72,u:0,b:0,n:0*12";
        assert_eq!(ok(line).seq, Some(0));
        let upper = ok("s:519,x:2,y:1,z:125,j:0,k:43,l:609,m:4,t:72,u:0,b:0,n:12*1B");
        let lower = ok("s:519,x:2,y:1,z:125,j:0,k:43,l:609,m:4,t:72,u:0,b:0,n:12*1b");
        assert_eq!(upper, lower);
        assert_eq!(upper.fields.len(), 11);
    }

    #[test]
    fn a_wrong_checksum_is_rejected() {
        assert_eq!(
            err(b"s:12,x:3*00"),
            LineError::BadChecksum {
                declared: 0x00,
                computed: checksum(b"s:12,x:3")
            }
        );
    }

    #[test]
    fn a_wrong_checksum_wins_over_what_the_damage_looks_like() {
        assert_eq!(err(b"s:1,,*00").reason(), "bad_checksum");
    }

    #[test]
    fn a_malformed_checksum_is_a_syntax_error() {
        let hex = "two hex digits after `*`";
        let end = "the end of the line after the checksum";
        assert_eq!(err(b"s:1*"), syntax(4, hex, None));
        assert_eq!(err(b"s:1*3"), syntax(4, hex, Some('3')));
        assert_eq!(err(b"s:1*3G"), syntax(4, hex, Some('3')));
        assert_eq!(err(b"s:1*+1"), syntax(4, hex, Some('+')));
        let good = with_checksum("s:1");
        assert_eq!(
            err(format!("{good}0").as_bytes()),
            syntax(6, end, Some('0'))
        );
        assert_eq!(
            err(format!("{good}*").as_bytes()),
            syntax(6, end, Some('*'))
        );
        assert_eq!(
            err(format!("{good}\r\r").as_bytes()),
            syntax(6, end, Some('\r'))
        );
    }

    #[test]
    fn a_checksum_with_nothing_before_it_is_an_empty_body() {
        assert_eq!(err(b"*00"), syntax(0, "a key", None));
    }

    #[test]
    fn a_trailing_cr_is_ignored() {
        assert_eq!(ok("s:1,x:2\r"), ok("s:1,x:2"));
        let line = format!("{}\r", with_checksum("s:1,n:4"));
        assert_eq!(ok(&line).seq, Some(4));
    }

    #[test]
    fn only_one_trailing_cr_is_ignored() {
        assert_eq!(
            err(b"s:1\r\r"),
            syntax(3, "`,` or the end of the line", Some('\r'))
        );
    }

    #[test]
    fn an_empty_line_is_rejected() {
        assert_eq!(err(b""), LineError::Empty);
        assert_eq!(err(b"\r"), LineError::Empty);
    }

    /// A valid line of exactly `len` bytes: leading zeros keep its one long
    /// value in range.
    fn line_of(len: usize) -> String {
        format!("a:{}", "0".repeat(len - 2))
    }

    #[test]
    fn a_line_of_512_bytes_is_accepted() {
        assert_eq!(ok(&line_of(512)).fields, [("a", 0)]);
        assert_eq!(ok(&format!("{}\r", line_of(512))).fields, [("a", 0)]);
    }

    #[test]
    fn a_line_of_513_bytes_is_too_long() {
        assert_eq!(
            err(line_of(513).as_bytes()),
            LineError::TooLong { len: 513 }
        );
        assert_eq!(
            err(format!("{}\r", line_of(513)).as_bytes()),
            LineError::TooLong { len: 513 }
        );
    }

    #[test]
    fn a_non_ascii_byte_is_rejected_with_its_offset() {
        assert_eq!(
            err("s:5é,x:1".as_bytes()),
            LineError::NotAscii {
                offset: 3,
                byte: 0xc3
            }
        );
        // Not valid UTF-8 either.
        assert_eq!(
            err(b"s:1,x:\xff"),
            LineError::NotAscii {
                offset: 6,
                byte: 0xff
            }
        );
    }

    #[test]
    fn control_bytes_are_syntax_errors() {
        assert_eq!(err(b"garbage \x00\x01\x02 line").reason(), "syntax");
        assert_eq!(
            err(b"s:1\x00"),
            syntax(3, "`,` or the end of the line", Some('\0'))
        );
    }

    #[test]
    fn the_checksum_is_the_xor_of_the_bytes() {
        assert_eq!(checksum(b""), 0);
        assert_eq!(checksum(b"A"), b'A');
        assert_eq!(checksum(b"AA"), 0);
        assert_eq!(checksum(b"s:1"), b's' ^ b':' ^ b'1');
    }
}
