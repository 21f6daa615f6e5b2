//! The grammar of one line, and the [`Reading`] it gives.
//!
//! It is the grammar of the Arduino IDE's Serial Plotter, so that any sketch
//! written for that plotter works unchanged, with the Esplora's sequence
//! number and checksum as optional parts:
//!
//! ```text
//! line      = [ seps ] [ field *( seps field ) [ seps ] ] [ "*" hex hex ]
//! seps      = 1*( "," / SP / HTAB )
//! field     = label ":" number / number     all labelled or all bare
//! label     = 1*32 bytes of UTF-8 but seps, ":", "*" and controls
//! number    = integer / decimal / nan
//! integer   = [ "-" ] 1*DIGIT                              fits in an i64
//! decimal   = [ "-" ] ( 1*DIGIT [ "." *DIGIT ] / "." 1*DIGIT )
//!             [ ( "e" / "E" ) [ "+" / "-" ] 1*DIGIT ]      finite as an f64
//! nan       = "nan" / "inf" / "-inf" / "ovf"
//! ```
//!
//! - A line is at most 512 bytes of UTF-8 and ends with `\n`; a `\r`
//!   before it is allowed and not counted.
//! - `hex` is `0-9`, `A-F` or `a-f`, and the two digits are the XOR of
//!   every byte before the `*`, as in NMEA.
//! - A line is either all `label:number` or all bare numbers; a bare number
//!   is named `value N`, N its 1-based position among the line's fields (as
//!   the Arduino IDE names them).
//! - A label appears at most once; a line holds at most 64 fields.
//! - An integer stays an integer ([`Number::Int`]); anything with a `.` or
//!   an exponent is a decimal ([`Number::Float`]). A `+` sign is rejected.
//! - `nan`, `inf`, `-inf` and `ovf` are what Arduino's `Serial.print(float)`
//!   prints for values it cannot show: such a field is reported in
//!   [`Reading::skipped`] (its previous value stands) and the rest of the
//!   line is accepted.
//! - The sequence key (`n` unless the [`Grammar`] says otherwise, or none)
//!   labels the board's line counter: an integer in `0..=65535`, returned
//!   apart from the readings.
//!
//! Any other line is rejected whole, with one [`LineError`] variant per
//! rule.
//!
//! [`Grammar::parse`] checks the length and UTF-8 with byte scans, then
//! tries the hand-written scanner (the private module `scan`), which reads a
//! well-formed line in one pass; any line the scanner is not sure of goes
//! to the grammar below, which has the last word and names the fault.
//!
//! The grammar checks in order of cost and of certainty: the frame (the
//! body and the checksum), then the checksum, then the fields. The checksum
//! comes before the fields because when it does not match, the line was
//! damaged on the way, and "bad checksum" says so better than whatever the
//! damage looks like.
//!
//! The fields are read with `nom` over bytes: separators and `:` are ASCII,
//! so every cut falls on a character boundary of the UTF-8 text and labels
//! are borrowed from the line without copying. Integers are read in one pass
//! over their digits; a decimal is checked against the grammar with `nom`
//! and converted by `fast-float2` (the Eisel-Lemire algorithm that the
//! standard library also uses, reading bytes without a `str` conversion).
//! The one allocation per line is the `Vec` of fields.

use std::borrow::Cow;
use std::sync::LazyLock;

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{take_till, take_while, take_while_m_n},
    character::complete::{char, digit0, digit1, one_of},
    combinator::{cut, eof, opt, recognize},
    error::{ContextError, ErrorKind, ParseError, context},
    sequence::preceded,
};

use crate::{LineError, MAX_FIELDS, MAX_KEY_LEN, MAX_LINE_LEN, NotANumber, Number, scan};

/// One accepted line. Borrows its labels from the line.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading<'a> {
    /// The readings in line order, without the sequence number and without
    /// the fields in `skipped`.
    pub fields: Vec<(&'a str, Number)>,
    /// Fields whose value was `nan`, `inf`, `-inf` or `ovf`: they keep their
    /// previous value. Empty (and unallocated) on nearly every line.
    pub skipped: Vec<(&'a str, NotANumber)>,
    /// The board's sequence number, when the line carried one.
    pub seq: Option<u16>,
}

/// The grammar's one setting: which label, if any, is the sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grammar {
    seq_key: Option<Cow<'static, str>>,
}

impl Grammar {
    /// The Esplora's protocol: the sequence number is labelled `n`.
    pub const ESPLORA: Grammar = Grammar {
        seq_key: Some(Cow::Borrowed("n")),
    };

    /// A grammar whose sequence number is labelled `key`, or that has none
    /// (every label is then a reading, `n` included).
    pub fn with_sequence_key(key: Option<&str>) -> Grammar {
        Grammar {
            seq_key: key.map(|key| Cow::Owned(key.to_owned())),
        }
    }

    /// The label of the sequence number, if any.
    pub fn sequence_key(&self) -> Option<&str> {
        self.seq_key.as_deref()
    }

    /// Parses one line, without its `\n` (a trailing `\r` is allowed and
    /// ignored).
    pub fn parse<'a>(&self, line: &'a [u8]) -> Result<Reading<'a>, LineError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Err(LineError::Empty);
        }
        if line.len() > MAX_LINE_LEN {
            return Err(LineError::TooLong { len: line.len() });
        }
        let text = std::str::from_utf8(line).map_err(|error| LineError::NotUtf8 {
            offset: error.valid_up_to(),
        })?;
        match scan::parse(text, self.sequence_key()) {
            Some(reading) => Ok(reading),
            None => self.parse_by_rules(text),
        }
    }

    /// The grammar itself, in `nom`, on a line already checked for length
    /// and UTF-8: the reading, or exactly why the line is rejected.
    pub(crate) fn parse_by_rules<'a>(&self, text: &'a str) -> Result<Reading<'a>, LineError> {
        let line = text.as_bytes();
        let (_, (body, declared)) = run(text, line, frame)?;
        if let Some(declared) = declared {
            let computed = checksum(body);
            if declared != computed {
                return Err(LineError::BadChecksum { declared, computed });
            }
        }
        self.fields(&text[..body.len()])
    }

    /// Reads the fields of the body, checking the rules that span fields:
    /// one kind of field, no duplicate label, at most 64 fields, the
    /// sequence number in range.
    fn fields<'a>(&self, text: &'a str) -> Result<Reading<'a>, LineError> {
        let body = text.as_bytes();
        // One allocation per line, without counting: a field and its
        // separator take at least 2 bytes ("1,").
        let capacity = body.len().div_ceil(2).min(MAX_FIELDS);
        let mut reading = Reading {
            fields: Vec::with_capacity(capacity),
            skipped: Vec::new(),
            seq: None,
        };
        let seq_key = self.seq_key.as_deref().map(str::as_bytes);
        let is_seq_key = |label: &str| seq_key == Some(label.as_bytes());
        let mut labelled = None;
        let mut count = 0;
        let mut seen = SeenLabels::default();
        let mut rest = separators(body);
        while !rest.is_empty() {
            let offset = body.len() - rest.len();
            let (at_value, label) = run(text, rest, label)?;
            count += 1;
            if count > MAX_FIELDS {
                return Err(LineError::TooManyFields { offset });
            }
            if *labelled.get_or_insert(label.is_some()) != label.is_some() {
                return Err(LineError::MixedFields { offset });
            }
            let value_offset = body.len() - at_value.len();
            let (after, number) = value(at_value);
            let number = number.map_err(|fault| fault.at(value_offset))?;
            let name = match label {
                None => value_name(count),
                Some(label) => {
                    let label = &text[offset..offset + label.len()];
                    check_label(label, offset)?;
                    if seen.insert(label, &reading, is_seq_key(label)) {
                        return Err(LineError::DuplicateKey {
                            offset,
                            key: label.to_owned(),
                        });
                    }
                    label
                }
            };
            match number {
                Value::Number(value) if label.is_some() && is_seq_key(name) => {
                    reading.seq = Some(sequence(value, value_offset)?);
                }
                Value::Number(value) => reading.fields.push((name, value)),
                Value::NotANumber(word) => reading.skipped.push((name, word)),
            }
            rest = separators(after);
        }
        if count == 0 {
            return Err(LineError::Empty);
        }
        Ok(reading)
    }
}

/// Parses one line of the Esplora's protocol: [`Grammar::ESPLORA`], whose
/// sequence number is labelled `n`.
pub fn parse_line(line: &[u8]) -> Result<Reading<'_>, LineError> {
    Grammar::ESPLORA.parse(line)
}

/// Whether `label` is one the grammar accepts: 1 to [`MAX_KEY_LEN`] bytes,
/// with no separator (`,`, space, tab), `:`, `*` or control character.
pub fn is_label(label: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&label.len())
        && !label
            .chars()
            .any(|c| matches!(c, ',' | ' ' | '\t' | ':' | '*') || c.is_control())
}

/// The NMEA checksum: the XOR of all the bytes.
pub(crate) fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |sum, byte| sum ^ byte)
}

/// The labels of a line read so far, for the rule that a label appears at
/// most once.
///
/// It keeps the first bytes of the labels, one bit each (folded to 6 bits,
/// so that the shifts stay in one register). Labels seldom share a first
/// byte, so this spares most lines the quadratic comparison of labels.
#[derive(Default)]
pub(crate) struct SeenLabels {
    first_bytes: u64,
}

impl SeenLabels {
    /// Notes `label` (not empty), a field of `reading` to be, and says
    /// whether the reading already has it; `is_seq` says whether it is the
    /// sequence key, which is kept apart from the fields.
    #[inline]
    pub(crate) fn insert(&mut self, label: &str, reading: &Reading<'_>, is_seq: bool) -> bool {
        let first_byte = 1u64 << (label.as_bytes()[0] & 0x3f);
        let seen = self.first_bytes & first_byte != 0
            && (reading.fields.iter().any(|&(other, _)| other == label)
                || reading.skipped.iter().any(|&(other, _)| other == label)
                || (is_seq && reading.seq.is_some()));
        self.first_bytes |= first_byte;
        seen
    }
}

/// The names of bare numbers, `value 1` to `value 64`, made once.
static VALUE_NAMES: LazyLock<[String; MAX_FIELDS]> =
    LazyLock::new(|| std::array::from_fn(|index| format!("value {}", index + 1)));

/// The name of the `position`th (1-based) bare number of a line.
pub(crate) fn value_name(position: usize) -> &'static str {
    VALUE_NAMES[position - 1].as_str()
}

/// A label's own rules, past the separators and `:` that end it.
fn check_label(label: &str, offset: usize) -> Result<(), LineError> {
    if label.len() > MAX_KEY_LEN {
        return Err(LineError::KeyTooLong {
            offset,
            len: label.len(),
        });
    }
    // Printable ASCII is the common case; only other labels are decoded.
    let printable = label.bytes().all(|byte| (b'!'..=b'~').contains(&byte));
    if !printable && label.chars().any(char::is_control) {
        return Err(LineError::BadLabel { offset });
    }
    Ok(())
}

fn sequence(value: Number, offset: usize) -> Result<u16, LineError> {
    match value {
        Number::Int(seq) => u16::try_from(seq).ok(),
        Number::Float(_) => None,
    }
    .ok_or(LineError::BadSequence { offset, value })
}

pub(crate) fn is_separator(byte: u8) -> bool {
    matches!(byte, b',' | b' ' | b'\t')
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

pub(crate) fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        // Only hex digits get here: the callers have checked them.
        _ => 0,
    }
}

/// Skips a run of separators, possibly empty.
fn separators(input: &[u8]) -> &[u8] {
    take_while::<_, _, GrammarError<'_>>(is_separator)
        .parse(input)
        .map_or(input, |(rest, _)| rest)
}

/// `label ":"`, if the field has one: the label, and the input at the
/// value. A bare number is left for [`value`] to read.
fn label(input: &[u8]) -> Parsed<'_, Option<&[u8]>> {
    let (rest, token) = take_till(|byte| is_separator(byte) || byte == b':').parse(input)?;
    match opt(char(':')).parse(rest)? {
        (_, None) => Ok((input, None)),
        (_, Some(_)) if token.is_empty() => Err(nom::Err::Failure(GrammarError {
            at: input,
            expected: "a label before `:`",
        })),
        (rest, Some(_)) => Ok((rest, Some(token))),
    }
}

/// A field's value: a number, or one of the words that stand for none.
pub(crate) enum Value {
    Number(Number),
    NotANumber(NotANumber),
}

/// What is wrong with a value, and its length; its place is added by
/// [`NumberFault::at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberFault {
    NotANumber { len: usize },
    OutOfRange { len: usize },
}

impl NumberFault {
    fn at(self, offset: usize) -> LineError {
        match self {
            NumberFault::NotANumber { len } => LineError::BadNumber { offset, len },
            NumberFault::OutOfRange { len } => LineError::OutOfRange { offset, len },
        }
    }
}

/// Reads a value up to the next separator or the end: the input after it,
/// and what it is.
///
/// An integer is read in one pass over its digits (the Esplora's every
/// field); anything else is cut out first, then judged whole by [`number`].
fn value(input: &[u8]) -> (&[u8], Result<Value, NumberFault>) {
    let integer = (opt(char::<_, GrammarError<'_>>('-')), digit1).parse(input);
    if let Ok((rest, (minus, digits))) = integer {
        if rest.first().is_none_or(|&byte| is_separator(byte)) {
            let len = input.len() - rest.len();
            let integer =
                accumulate(minus.is_some(), digits).ok_or(NumberFault::OutOfRange { len });
            return (
                rest,
                integer.map(|integer| Value::Number(Number::Int(integer))),
            );
        }
    }
    let (rest, token) = take_till::<_, _, GrammarError<'_>>(is_separator)
        .parse(input)
        .unwrap_or((&[], input));
    (rest, number(token))
}

/// Reads a whole value that is not a plain integer: a decimal, or `nan`,
/// `inf`, `-inf`, `ovf`.
fn number(value: &[u8]) -> Result<Value, NumberFault> {
    let len = value.len();
    if let Some(word) = NotANumber::from_bytes(value) {
        return Ok(Value::NotANumber(word));
    }
    match decimal(value) {
        Ok((&[], text)) => {
            // `decimal` has checked the text against the grammar, which
            // fast-float2 accepts too; `ok()` guards what cannot happen.
            let float = fast_float2::parse::<f64, _>(text)
                .ok()
                .ok_or(NumberFault::NotANumber { len })?;
            if float.is_finite() {
                Ok(Value::Number(Number::Float(float)))
            } else {
                Err(NumberFault::OutOfRange { len })
            }
        }
        _ => Err(NumberFault::NotANumber { len }),
    }
}

/// The value of `[-]digits`, if it fits in an i64.
fn accumulate(negative: bool, digits: &[u8]) -> Option<i64> {
    // Accumulating towards the sign lets i64::MIN, one more in magnitude
    // than i64::MAX, through without a special case.
    digits.iter().try_fold(0i64, |value, &digit| {
        let digit = i64::from(digit - b'0');
        let shifted = value.checked_mul(10)?;
        if negative {
            shifted.checked_sub(digit)
        } else {
            shifted.checked_add(digit)
        }
    })
}

/// `decimal`, recognized: the text it spans.
fn decimal(input: &[u8]) -> Parsed<'_, &[u8]> {
    recognize((
        opt(char('-')),
        alt((
            recognize((digit1, opt((char('.'), digit0)))),
            recognize((char('.'), digit1)),
        )),
        opt((one_of("eE"), opt(one_of("+-")), digit1)),
    ))
    .parse(input)
}

type Parsed<'a, T> = IResult<&'a [u8], T, GrammarError<'a>>;

/// Runs `parser` on `rest`, a suffix of the line `whole`, and turns a
/// failure into a [`LineError`] with its offset in `whole`.
fn run<'a, T>(
    whole: &str,
    rest: &'a [u8],
    parser: impl FnOnce(&'a [u8]) -> Parsed<'a, T>,
) -> Result<(&'a [u8], T), LineError> {
    parser(rest).map_err(|error| match error {
        nom::Err::Error(error) | nom::Err::Failure(error) => error.into_line_error(whole),
        // The parsers are all `complete`: they never ask for more input. Were
        // one to, the line ended too early.
        nom::Err::Incomplete(_) => GrammarError {
            at: &[],
            expected: "more input",
        }
        .into_line_error(whole),
    })
}

/// nom's error type for this grammar: where it failed and why.
///
/// nom's own error type only gives an `ErrorKind` such as `Char` or `Digit`;
/// this one keeps what was expected (from `context`), so that the
/// [`LineError`] can say it. Faults of a value are not nom errors: a value
/// is cut out first and judged whole by [`number`].
#[derive(Debug)]
struct GrammarError<'a> {
    /// The input left where the fault is; its offset is found from its length.
    at: &'a [u8],
    expected: &'static str,
}

impl GrammarError<'_> {
    fn into_line_error(self, whole: &str) -> LineError {
        let offset = whole.len() - self.at.len();
        LineError::Syntax {
            offset,
            expected: self.expected,
            found: whole.get(offset..).and_then(|rest| rest.chars().next()),
        }
    }
}

impl<'a> ParseError<&'a [u8]> for GrammarError<'a> {
    fn from_error_kind(at: &'a [u8], _: ErrorKind) -> Self {
        // Every parser whose failure is reported sits inside a `context`,
        // which replaces this placeholder with what was expected.
        Self {
            at,
            expected: "a valid line",
        }
    }

    fn append(_: &'a [u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

impl<'a> ContextError<&'a [u8]> for GrammarError<'a> {
    fn add_context(_: &'a [u8], expected: &'static str, other: Self) -> Self {
        // Keep the innermost position: it points at the offending byte.
        Self {
            at: other.at,
            expected,
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

    fn reason(line: &str) -> &'static str {
        err(line.as_bytes()).reason()
    }

    fn syntax(offset: usize, expected: &'static str, found: Option<char>) -> LineError {
        LineError::Syntax {
            offset,
            expected,
            found,
        }
    }

    fn int(value: i64) -> Number {
        Number::Int(value)
    }

    fn float(value: f64) -> Number {
        Number::Float(value)
    }

    /// `line` followed by its correct `*HH`.
    fn with_checksum(line: &str) -> String {
        format!("{line}*{:02X}", checksum(line.as_bytes()))
    }

    #[test]
    fn reads_an_esplora_line_in_order() {
        let reading = ok("s:512,x:3,y:-2,z:120,j:0,k:0,l:800,m:20,t:72,u:0,b:0,n:17*39");
        let expected: Vec<(&str, Number)> = [
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
            ("b", 0),
        ]
        .map(|(label, value)| (label, int(value)))
        .to_vec();
        assert_eq!(reading.fields, expected);
        assert_eq!(reading.seq, Some(17));
        assert!(reading.skipped.is_empty());
    }

    #[test]
    fn rule_a_line_is_at_most_512_bytes() {
        let line_of = |len: usize| format!("a:{}", "0".repeat(len - 2));
        assert_eq!(ok(&line_of(512)).fields, [("a", int(0))]);
        assert_eq!(ok(&format!("{}\r", line_of(512))).fields, [("a", int(0))]);
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
    fn rule_one_cr_before_the_newline_is_ignored() {
        assert_eq!(ok("a:1 b:2\r"), ok("a:1 b:2"));
        assert_eq!(ok(&format!("{}\r", with_checksum("s:1,n:4"))).seq, Some(4));
        assert_eq!(reason("s:1\r\r"), "bad_number");
        assert_eq!(reason("s:1\rx:2"), "bad_number");
    }

    #[test]
    fn rule_a_line_is_utf8() {
        assert_eq!(
            ok("température:21.5 µT:3").fields,
            [("température", float(21.5)), ("µT", int(3))]
        );
        assert_eq!(err(b"s:1,x:\xff"), LineError::NotUtf8 { offset: 6 });
        // A character cut in two.
        assert_eq!(err(b"t\xc3:1"), LineError::NotUtf8 { offset: 1 });
    }

    #[test]
    fn rule_an_optional_checksum_ends_the_line() {
        let line = "s:511,x:1,y:1,z:126,j:0,k:0,l:597,m:5,t:72,u:0,b:0,n:0*12";
        assert_eq!(ok(line).seq, Some(0));
        let body = "temp_C:23.5 light:512";
        let lower = format!("{body}*{:02x}", checksum(body.as_bytes()));
        assert_eq!(ok(&lower), ok(&with_checksum(body)));
        assert_eq!(ok(&with_checksum("1 2 3 ")).fields.len(), 3);
        assert_eq!(
            err(b"s:12,x:3*00"),
            LineError::BadChecksum {
                declared: 0x00,
                computed: checksum(b"s:12,x:3")
            }
        );
        // The checksum is checked before the fields: damage is named as such.
        assert_eq!(reason("s:1,,x*01"), "bad_checksum");
        let hex = "two hex digits after `*`";
        let end = "the end of the line after the checksum";
        assert_eq!(err(b"s:1*"), syntax(4, hex, None));
        assert_eq!(err(b"s:1*3G"), syntax(4, hex, Some('3')));
        let good = with_checksum("s:1");
        assert_eq!(
            err(format!("{good}0").as_bytes()),
            syntax(6, end, Some('0'))
        );
        assert_eq!(
            err(format!("{good} ").as_bytes()),
            syntax(6, end, Some(' '))
        );
        // A `*` is never part of a label.
        assert_eq!(reason("a*b:1"), "syntax");
    }

    #[test]
    fn rule_separators_are_runs_of_comma_space_and_tab() {
        let expected = [("a", int(1)), ("b", int(2)), ("c", int(3))];
        for line in [
            "a:1,b:2,c:3",
            "a:1 b:2 c:3",
            "a:1\tb:2\tc:3",
            "a:1, b:2 ,\t c:3",
            ",,a:1  b:2,,c:3, ",
            " \ta:1,b:2,c:3\t",
        ] {
            assert_eq!(ok(line).fields, expected, "{line:?}");
        }
        // Other characters are not separators.
        assert_eq!(reason("a:1;b:2"), "bad_number");
        assert_eq!(reason("a=1"), "bad_number");
    }

    #[test]
    fn rule_bare_numbers_are_named_value_n() {
        let reading = ok("23.5 41.2 512");
        assert_eq!(
            reading.fields,
            [
                ("value 1", float(23.5)),
                ("value 2", float(41.2)),
                ("value 3", int(512))
            ]
        );
        assert_eq!(ok("7").fields, [("value 1", int(7))]);
        // `n` means nothing in a bare line.
        assert_eq!(ok("5,6").seq, None);
    }

    #[test]
    fn rule_a_line_is_all_labelled_or_all_bare() {
        assert_eq!(err(b"a:1 2"), LineError::MixedFields { offset: 4 });
        assert_eq!(err(b"1 a:2"), LineError::MixedFields { offset: 2 });
    }

    #[test]
    fn rule_a_label_is_1_to_32_bytes_without_controls() {
        let label_32 = "é".repeat(16);
        assert_eq!(ok(&format!("{label_32}:1")).fields, [(&*label_32, int(1))]);
        assert_eq!(ok("hum_%:1,a-b.c/d:2,[x]:3").fields.len(), 3);
        assert_eq!(
            err(format!("a:1,{}:1", "x".repeat(33)).as_bytes()),
            LineError::KeyTooLong { offset: 4, len: 33 }
        );
        assert_eq!(err(b"a\x01b:1"), LineError::BadLabel { offset: 0 });
        assert_eq!(err(b"x:1 a\x7f:1"), LineError::BadLabel { offset: 4 });
        assert_eq!(
            err("a\u{85}:1".as_bytes()),
            LineError::BadLabel { offset: 0 }
        );
        assert_eq!(err(b":5"), syntax(0, "a label before `:`", Some(':')));
        assert_eq!(err(b"a:1 :5"), syntax(4, "a label before `:`", Some(':')));
        assert!(is_label("température") && is_label("hum_%") && is_label(&label_32));
        assert!(!is_label("") && !is_label("a b") && !is_label("a:b") && !is_label("a*"));
        assert!(!is_label(&"x".repeat(33)) && !is_label("a\u{1}"));
    }

    #[test]
    fn rule_a_label_appears_at_most_once() {
        assert_eq!(
            err(b"s:1,x:2,s:3"),
            LineError::DuplicateKey {
                offset: 8,
                key: "s".to_owned()
            }
        );
        assert_eq!(reason("n:1,s:2,n:3"), "duplicate_key");
        assert_eq!(reason("t:nan t:1"), "duplicate_key");
        assert_eq!(reason("µT:1 µT:2"), "duplicate_key");
        // Case matters; labels sharing a first byte are different labels.
        assert_eq!(ok("s:1,S:2,sa:3").fields.len(), 3);
    }

    #[test]
    fn rule_at_most_64_fields() {
        let bare_64 = vec!["1"; 64].join(" ");
        assert_eq!(ok(&bare_64).fields.len(), 64);
        assert_eq!(ok(&bare_64).fields[63].0, "value 64");
        let bare_65 = vec!["1"; 65].join(" ");
        assert_eq!(
            err(bare_65.as_bytes()),
            LineError::TooManyFields { offset: 128 }
        );
        let labelled_65: Vec<String> = (0..65).map(|i| format!("k{i}:1")).collect();
        assert_eq!(reason(&labelled_65.join(",")), "too_many_fields_in_line");
    }

    #[test]
    fn rule_integers_fit_in_an_i64_and_stay_integers() {
        assert_eq!(
            ok("a:-5,b:0,c:-0,d:007").fields,
            [("a", int(-5)), ("b", int(0)), ("c", int(0)), ("d", int(7))]
        );
        let line = format!("a:{},b:{}", i64::MAX, i64::MIN);
        assert_eq!(
            ok(&line).fields,
            [("a", int(i64::MAX)), ("b", int(i64::MIN))]
        );
        assert_eq!(
            err(b"a:9223372036854775808"),
            LineError::OutOfRange { offset: 2, len: 19 }
        );
        assert_eq!(
            err(b"1 -9223372036854775809"),
            LineError::OutOfRange { offset: 2, len: 20 }
        );
    }

    #[test]
    fn rule_decimals_are_finite_f64s() {
        assert_eq!(
            ok("a:23.5 b:5. c:.5 d:-.5 e:1e3 f:1E-3 g:2.5e+2 h:-0.0 i:007.50").fields,
            [
                ("a", float(23.5)),
                ("b", float(5.0)),
                ("c", float(0.5)),
                ("d", float(-0.5)),
                ("e", float(1000.0)),
                ("f", float(0.001)),
                ("g", float(250.0)),
                ("h", float(-0.0)),
                ("i", float(7.5)),
            ]
        );
        // Correctly rounded, and tiny values underflow to zero.
        assert_eq!(ok("0.1").fields[0].1, float(0.1));
        assert_eq!(ok("1e-400").fields[0].1, float(0.0));
        assert_eq!(err(b"a:1e400"), LineError::OutOfRange { offset: 2, len: 5 });
        assert_eq!(reason("-1.8e308"), "out_of_range");
        assert_eq!(err(b"a:12.5.3"), LineError::BadNumber { offset: 2, len: 6 });
        for bad in [
            "a:.", "a:-", "a:e5", "a:1e", "a:1e+", "a:0x10", "a:1.5f", "a:--1", "a:", "a:1:2",
            "a::1", "a:NaN", "a:Inf",
        ] {
            assert_eq!(reason(bad), "bad_number", "{bad:?}");
        }
    }

    #[test]
    fn rule_a_plus_sign_is_rejected() {
        assert_eq!(err(b"s:+5"), LineError::BadNumber { offset: 2, len: 2 });
        assert_eq!(reason("+1.5"), "bad_number");
        assert_eq!(reason("a:+inf"), "bad_number");
    }

    #[test]
    fn rule_nan_inf_and_ovf_keep_the_previous_value() {
        let reading = ok("t:nan,h:41.2,p:inf,q:-inf,r:ovf");
        assert_eq!(reading.fields, [("h", float(41.2))]);
        assert_eq!(
            reading.skipped,
            [
                ("t", NotANumber::Nan),
                ("p", NotANumber::Inf),
                ("q", NotANumber::NegInf),
                ("r", NotANumber::Ovf)
            ]
        );
        // Bare: the position still counts.
        let bare = ok("1.5 nan 3");
        assert_eq!(bare.fields, [("value 1", float(1.5)), ("value 3", int(3))]);
        assert_eq!(bare.skipped, [("value 2", NotANumber::Nan)]);
        // A line of nothing else is still a line.
        assert_eq!(ok("nan").fields, []);
    }

    #[test]
    fn rule_the_sequence_number_is_0_to_65535_and_kept_apart() {
        let reading = ok("n:3,s:1");
        assert_eq!(
            (reading.fields, reading.seq),
            (vec![("s", int(1))], Some(3))
        );
        assert_eq!(ok("n:0").seq, Some(0));
        assert_eq!(ok("s:1,n:65535").seq, Some(65535));
        assert_eq!(
            err(b"s:1,n:65536"),
            LineError::BadSequence {
                offset: 6,
                value: int(65536)
            }
        );
        assert_eq!(reason("n:-1"), "bad_sequence");
        assert_eq!(reason("n:1.5"), "bad_sequence");
        // `N` is a reading like any other.
        assert_eq!(ok("N:70000").seq, None);
    }

    #[test]
    fn rule_the_sequence_key_is_configurable_or_none() {
        let seq = Grammar::with_sequence_key(Some("seq"));
        let reading = seq.parse(b"n:1.5,seq:9").unwrap();
        assert_eq!(
            (reading.fields, reading.seq),
            (vec![("n", float(1.5))], Some(9))
        );
        assert_eq!(seq.sequence_key(), Some("seq"));
        let none = Grammar::with_sequence_key(None);
        let reading = none.parse(b"n:70000").unwrap();
        assert_eq!(
            (reading.fields, reading.seq),
            (vec![("n", int(70000))], None)
        );
        assert_eq!(Grammar::ESPLORA.sequence_key(), Some("n"));
    }

    #[test]
    fn rule_any_other_line_is_rejected_whole() {
        assert_eq!(
            err(b"Sensor ready"),
            LineError::BadNumber { offset: 0, len: 6 }
        );
        assert_eq!(reason("12.5.3"), "bad_number");
        assert_eq!(reason("garbage \x00\x01\x02 line"), "bad_number");
        assert_eq!(err(b""), LineError::Empty);
        assert_eq!(err(b"\r"), LineError::Empty);
        assert_eq!(err(b" ,\t, "), LineError::Empty);
        assert_eq!(err(b"*00"), LineError::Empty);
    }

    #[test]
    fn the_checksum_is_the_xor_of_the_bytes() {
        assert_eq!(checksum(b""), 0);
        assert_eq!(checksum(b"A"), b'A');
        assert_eq!(checksum(b"AA"), 0);
        assert_eq!(checksum(b"s:1"), b's' ^ b':' ^ b'1');
    }
}
