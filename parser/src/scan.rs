//! The grammar's happy path, written by hand: one pass over the bytes of a
//! well-formed line gives the same [`Reading`] as the `nom` grammar of
//! [`line`](mod@crate::line), in two thirds of the instructions on the
//! Esplora's lines (the UTF-8 check and the allocation included).
//!
//! Why it exists: the bridge parses every line a board sends, and nearly
//! every line is well formed. nom spends most of a line's cost on its
//! per-field combinators (`IResult`s moved through each one, `take_while`
//! loops and calls that are not inlined); this scanner looks at each byte
//! once, in a loop the compiler keeps in registers. BENCHMARKS.md has the
//! figures.
//!
//! What it does not do is say what is wrong. It returns `None` on any line
//! it does not accept with certainty: every line that breaks a rule, and a
//! few valid ones it leaves to the grammar (a label that is not printable
//! ASCII, an integer of more than 18 digits). [`Grammar::parse`] then runs
//! the nom grammar, which accepts or rejects the line with its exact
//! [`LineError`](crate::LineError). So the grammar stays the one definition
//! of what is accepted and why not; this is a shortcut to the same answer,
//! checked against it by a property test on arbitrary input (below).
//!
//! [`Grammar::parse`]: crate::Grammar::parse

use crate::line::{Reading, SeenLabels, Value, checksum, hex_value, is_separator, value_name};
use crate::{MAX_FIELDS, MAX_KEY_LEN, NotANumber, Number};

/// Integers of up to this many digits fit in an i64 (10^18 < 2^63), so
/// they are accumulated without overflow checks; longer ones go to the
/// grammar, which checks the range.
const MAX_UNCHECKED_DIGITS: usize = 18;

/// The line's reading, if `text` (a whole line, without `\r`) follows every
/// rule in the common way; `None` otherwise, for the grammar to decide.
pub(crate) fn parse<'a>(text: &'a str, seq_key: Option<&str>) -> Option<Reading<'a>> {
    let line = text.as_bytes();
    let body_len = memchr::memchr(b'*', line).unwrap_or(line.len());
    let body = text.get(..body_len)?;
    match line[body_len..] {
        [] => {}
        [b'*', high, low] if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
            if hex_value(high) << 4 | hex_value(low) != checksum(body.as_bytes()) {
                return None;
            }
        }
        _ => return None,
    }
    let bytes = body.as_bytes();
    let at = skip(bytes, 0, is_separator);
    if at == bytes.len() {
        return None;
    }
    let mut reading = Reading {
        fields: Vec::with_capacity(body_len.div_ceil(2).min(MAX_FIELDS)),
        skipped: Vec::new(),
        seq: None,
    };
    if label(body, at).is_some() {
        labelled(body, at, seq_key.map(str::as_bytes), &mut reading)?;
    } else {
        bare(bytes, at, &mut reading)?;
    }
    Some(reading)
}

/// `label ":" value` fields from `at` to the end of the body.
///
/// The scanning functions take the body and a position and return the
/// position after what they read, so that the position stays in a register
/// through the loop.
fn labelled<'a>(
    body: &'a str,
    mut at: usize,
    seq_key: Option<&[u8]>,
    reading: &mut Reading<'a>,
) -> Option<()> {
    let bytes = body.as_bytes();
    let mut seen = SeenLabels::default();
    let mut count = 0;
    while at < bytes.len() {
        count += 1;
        if count > MAX_FIELDS {
            return None;
        }
        let (label, value_at) = label(body, at)?;
        // The first bytes first: a call to `memcmp` for every label the
        // length of the key would cost more than the rest of the field.
        let is_seq = seq_key
            .is_some_and(|key| key.first() == label.as_bytes().first() && key == label.as_bytes());
        if seen.insert(label, reading, is_seq) {
            return None;
        }
        let (value, end) = value(bytes, value_at)?;
        match value {
            Value::Number(Number::Int(seq)) if is_seq => {
                reading.seq = Some(u16::try_from(seq).ok()?);
            }
            Value::Number(_) if is_seq => return None,
            Value::Number(number) => reading.fields.push((label, number)),
            Value::NotANumber(word) => reading.skipped.push((label, word)),
        }
        at = skip(bytes, end, is_separator);
    }
    Some(())
}

/// Bare values from `at` to the end of the body, named `value N`.
fn bare(bytes: &[u8], mut at: usize, reading: &mut Reading<'_>) -> Option<()> {
    let mut count = 0;
    while at < bytes.len() {
        count += 1;
        if count > MAX_FIELDS {
            return None;
        }
        let name = value_name(count);
        let (value, end) = value(bytes, at)?;
        match value {
            Value::Number(number) => reading.fields.push((name, number)),
            Value::NotANumber(word) => reading.skipped.push((name, word)),
        }
        at = skip(bytes, end, is_separator);
    }
    Some(())
}

/// A label of 1 to 32 printable ASCII bytes at `at`, and the position
/// after its `:`.
fn label(body: &str, at: usize) -> Option<(&str, usize)> {
    let end = skip(body.as_bytes(), at, is_label_byte);
    let label = body.get(at..end)?;
    let fits = (1..=MAX_KEY_LEN).contains(&label.len());
    (fits && body.as_bytes().get(end) == Some(&b':')).then_some((label, end + 1))
}

/// The value at `at` and the position after it, where a separator or the
/// end of the body must follow.
///
/// Inlined into both loops: called, it costs a third of a field.
#[inline(always)]
fn value(bytes: &[u8], at: usize) -> Option<(Value, usize)> {
    let negative = bytes.get(at) == Some(&b'-');
    let digits_at = at + usize::from(negative);
    let (magnitude, end) = digits(bytes, digits_at);
    let digits = end - digits_at;
    match bytes.get(end) {
        None | Some(b',' | b' ' | b'\t') if (1..=MAX_UNCHECKED_DIGITS).contains(&digits) => {
            // At most 18 digits: the magnitude fits, and so does its negation.
            let magnitude = i64::try_from(magnitude).ok()?;
            let value = if negative { -magnitude } else { magnitude };
            Some((Value::Number(Number::Int(value)), end))
        }
        Some(b'.' | b'e' | b'E') => {
            let end = decimal_end(bytes, end, digits)?;
            Some((Value::Number(decimal(&bytes[at..end])?), end))
        }
        _ if digits == 0 => {
            let end = skip(bytes, at, |byte| !is_separator(byte));
            let word = NotANumber::from_bytes(&bytes[at..end])?;
            Some((Value::NotANumber(word), end))
        }
        _ => None,
    }
}

/// Past the integer part of a decimal (`int_digits` digits, ending at
/// `at`), the end of the rest: `[ "." *DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ]
/// 1*DIGIT ]`, with at least one digit before or after the point, followed
/// by a separator or the end.
fn decimal_end(bytes: &[u8], mut at: usize, int_digits: usize) -> Option<usize> {
    if bytes.get(at) == Some(&b'.') {
        let (_, end) = digits(bytes, at + 1);
        if int_digits == 0 && end == at + 1 {
            return None;
        }
        at = end;
    } else if int_digits == 0 {
        return None;
    }
    if let Some(b'e' | b'E') = bytes.get(at) {
        at += 1;
        if let Some(b'+' | b'-') = bytes.get(at) {
            at += 1;
        }
        let (_, end) = digits(bytes, at);
        if end == at {
            return None;
        }
        at = end;
    }
    bytes
        .get(at)
        .is_none_or(|&byte| is_separator(byte))
        .then_some(at)
}

/// A decimal checked against the grammar, converted: apart, so that the
/// converter's code and stack stay out of the loop over the fields.
#[inline(never)]
fn decimal(text: &[u8]) -> Option<Number> {
    let float = fast_float2::parse::<f64, _>(text).ok()?;
    float.is_finite().then_some(Number::Float(float))
}

/// The digits from `at`: their value (wrapped past 19 digits: the caller
/// checks the count) and the position after them.
fn digits(bytes: &[u8], mut at: usize) -> (u64, usize) {
    let mut magnitude = 0u64;
    while let Some(digit) = bytes.get(at).and_then(|byte| byte.checked_sub(b'0')) {
        if digit > 9 {
            break;
        }
        magnitude = magnitude.wrapping_mul(10).wrapping_add(u64::from(digit));
        at += 1;
    }
    (magnitude, at)
}

/// The position of the first byte from `at` that is not in `class`, or
/// the end.
fn skip(bytes: &[u8], mut at: usize, class: impl Fn(u8) -> bool) -> usize {
    while bytes.get(at).is_some_and(|&byte| class(byte)) {
        at += 1;
    }
    at
}

/// Printable ASCII but the separators, `:` and `*`.
fn is_label_byte(byte: u8) -> bool {
    matches!(byte, b'!'..=b'~') && !matches!(byte, b',' | b':' | b'*')
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::Grammar;

    /// Both paths on one line: the scanner's answer, if any, and the
    /// grammar's, for the Esplora's sequence key, another and none.
    fn agree(line: &[u8]) -> Result<(), TestCaseError> {
        let Ok(text) = std::str::from_utf8(line) else {
            return Ok(());
        };
        let text = text.strip_suffix('\r').unwrap_or(text);
        for grammar in [
            Grammar::ESPLORA,
            Grammar::with_sequence_key(Some("seq")),
            Grammar::with_sequence_key(None),
        ] {
            let fast = parse(text, grammar.sequence_key());
            let by_rules = grammar.parse_by_rules(text);
            match (&fast, &by_rules) {
                (Some(fast), Ok(by_rules)) => {
                    prop_assert_eq!(fast, by_rules);
                    for ((_, a), (_, b)) in fast.fields.iter().zip(&by_rules.fields) {
                        prop_assert!(same_bits(*a, *b), "{a:?} != {b:?}");
                    }
                }
                (Some(fast), Err(error)) => {
                    prop_assert!(false, "{text:?}: scanned as {fast:?}, rejected: {error}");
                }
                // Only lines outside the scanner's reach may be left to the
                // grammar when it accepts them.
                (None, Ok(reading)) => prop_assert!(
                    !within_reach(text),
                    "{text:?}: accepted as {reading:?} but not scanned"
                ),
                (None, Err(_)) => {}
            }
        }
        Ok(())
    }

    /// What the scanner takes on: printable ASCII (and the separators), and
    /// no run of more than 18 digits.
    fn within_reach(text: &str) -> bool {
        let ascii = text.bytes().all(|byte| matches!(byte, b' '..=b'~' | b'\t'));
        let longest_digits = text
            .as_bytes()
            .split(|byte| !byte.is_ascii_digit())
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0);
        ascii && longest_digits <= MAX_UNCHECKED_DIGITS
    }

    fn same_bits(a: Number, b: Number) -> bool {
        match (a, b) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Float(a), Number::Float(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }

    fn number() -> impl Strategy<Value = Number> {
        prop_oneof![
            any::<i64>().prop_map(Number::Int),
            (-1000i64..1000).prop_map(Number::Int),
            any::<f64>()
                .prop_filter("finite", |value| value.is_finite())
                .prop_map(Number::Float),
            (-100_000i64..100_000, 0i32..4)
                .prop_map(|(value, scale)| Number::Float(value as f64 / 10f64.powi(scale))),
        ]
    }

    /// Lines as `format_line` and `format_values` write them, and as
    /// sketches print them (a `nan`, other separators), with up to two
    /// bytes replaced by the grammar's own or by any byte: valid and nearly
    /// valid lines.
    fn line() -> impl Strategy<Value = Vec<u8>> {
        let label = prop_oneof![
            4 => "[a-zA-Z_%.-][a-zA-Z0-9_%./-]{0,6}",
            1 => Just("n".to_owned()),
            1 => Just("seq".to_owned()),
            1 => "[é!-~]{1,34}",
        ];
        let value = prop_oneof![
            8 => number().prop_map(|value| value.to_string()),
            1 => prop::sample::select(vec!["nan", "inf", "-inf", "ovf"]).prop_map(str::to_owned),
        ];
        let separator = prop::sample::select(vec![",", " ", "\t", ", ", ",,", " \t"]);
        let noise = prop_oneof![
            4 => prop::sample::select(b"sxn0123456789:,-*.eE+ \t\rAaFfinvo".to_vec()),
            1 => any::<u8>(),
        ];
        (
            prop::collection::vec((label, value), 1..14),
            any::<bool>(),
            any::<bool>(),
            separator,
            prop::collection::vec((any::<prop::sample::Index>(), noise), 0..3),
        )
            .prop_map(|(fields, bare, with_checksum, separator, noise)| {
                let fields: Vec<String> = fields
                    .into_iter()
                    .map(|(label, value)| {
                        if bare {
                            value
                        } else {
                            format!("{label}:{value}")
                        }
                    })
                    .collect();
                let mut line = fields.join(separator);
                if with_checksum {
                    line = format!("{line}*{:02X}", checksum(line.as_bytes()));
                }
                let mut line = line.into_bytes();
                for (at, byte) in noise {
                    if !line.is_empty() {
                        let at = at.index(line.len());
                        line[at] = byte;
                    }
                }
                line
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn the_scanner_agrees_with_the_grammar(line in line()) {
            agree(&line)?;
        }

        #[test]
        fn the_scanner_agrees_with_the_grammar_on_any_bytes(
            line in prop::collection::vec(
                prop_oneof![
                    3 => prop::sample::select(b"sn0123456789:,-.eE \t*nainfov".to_vec()),
                    1 => any::<u8>(),
                ],
                0..80,
            ),
        ) {
            agree(&line)?;
        }
    }

    /// The limits of each rule, on both sides, where a generator seldom goes.
    #[test]
    fn the_scanner_agrees_with_the_grammar_at_the_limits() {
        let fields = |count: usize, labelled: bool| {
            let fields: Vec<String> = (0..count)
                .map(|i| {
                    if labelled {
                        format!("k{i}:{i}")
                    } else {
                        i.to_string()
                    }
                })
                .collect();
            fields.join(",")
        };
        let mut lines = vec![
            fields(64, true),
            fields(65, true),
            fields(64, false),
            fields(65, false),
            format!("{}:1", "x".repeat(32)),
            format!("{}:1", "x".repeat(33)),
            format!("a:{} b:{}", i64::MAX, i64::MIN),
            "a:999999999999999999 b:-999999999999999999".to_owned(),
            "a:1000000000000000000".to_owned(),
            "s:1,n:65535".to_owned(),
            "s:1,n:65536".to_owned(),
            "n:-1".to_owned(),
            "n:1,s:1,n:2".to_owned(),
            "n:nan n:1".to_owned(),
            "a:1e308 b:1e309 c:-.5e-3 d:5.".to_owned(),
            "a:1.5*".to_owned(),
            "a:1.5*0".to_owned(),
            "a:1.5*3G".to_owned(),
            "a:1.5*000".to_owned(),
        ];
        lines.extend(
            ["a:1", "1 2", " ,\t"].map(|body| format!("{body}*{:02x}", checksum(body.as_bytes()))),
        );
        for line in &lines {
            agree(line.as_bytes()).unwrap_or_else(|error| panic!("{error}"));
        }
    }

    #[test]
    fn the_scanner_takes_the_common_lines() {
        for line in [
            "s:512,x:3,y:-2,z:120,j:0,k:0,l:800,m:20,t:72,u:0,b:0,n:17*39",
            "s:511,x:-3,y:0,z:125,j:0,k:0,l:596,m:3,t:72,u:0,b:0",
            "temp_C:22.00,hum_%:45.02,light:503",
            "temp_C:nan,hum_%:45.02,light:503",
            "23.5 41.2 512",
            "1.5e3\t-.5 , 7.",
        ] {
            assert!(parse(line, Some("n")).is_some(), "{line:?}");
        }
        for line in [
            "Sensor ready",
            "s:1,s:2",
            "n:70000",
            "a:1 2",
            "a:99999999999999999999",
            "température:21.5",
            "s:1*00",
        ] {
            assert!(parse(line, Some("n")).is_none(), "{line:?}");
        }
    }
}
