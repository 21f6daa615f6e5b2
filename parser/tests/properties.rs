//! Properties over arbitrary input: nothing a board sends makes the parser or
//! the framer panic, and what `format_line` and `format_values` write
//! `parse_line` reads back, integers as integers and decimals to the bit.

use std::collections::HashSet;

use esplora_parser::{LineFramer, MAX_LINE_LEN, Number, format_line, format_values, parse_line};
use proptest::prelude::*;

/// Any value the grammar carries: integers over the whole i64 range, and
/// finite decimals from the tiny to the huge.
fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::Int),
        any::<f64>()
            .prop_filter("finite", |value| value.is_finite())
            .prop_map(Number::Float),
        (-100_000i64..100_000, 0u32..4)
            .prop_map(|(value, scale)| { Number::Float(value as f64 / 10f64.powi(scale as i32)) }),
    ]
}

/// 1 to 10 labelled fields with distinct labels other than `n`, labels of
/// ASCII and two-byte UTF-8: at the longest they fit in a line with `n`
/// and `*HH`.
fn valid_fields() -> impl Strategy<Value = Vec<(String, Number)>> {
    let label = "[A-Za-z0-9_%µé°./-]{1,10}".prop_filter("`n` is not a reading", |key| key != "n");
    prop::collection::vec((label, number()), 1..=10).prop_map(|fields| {
        // Keeping the first of each label keeps at least one field.
        let mut seen = HashSet::new();
        fields
            .into_iter()
            .filter(|(label, _)| seen.insert(label.clone()))
            .collect()
    })
}

fn borrowed(fields: &[(String, Number)]) -> Vec<(&str, Number)> {
    fields
        .iter()
        .map(|(label, value)| (label.as_str(), *value))
        .collect()
}

/// Bytes weighted towards the grammar's own, so that it is exercised deep,
/// not only rejected at the first byte.
fn line_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"sxn0123456789:,-*.eE \t\rAaFf_".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..600)
}

/// A formatted line, labelled or bare, with one byte changed: mostly
/// rejected for one precise reason, sometimes still valid.
fn near_valid_line() -> impl Strategy<Value = Vec<u8>> {
    (
        valid_fields(),
        any::<bool>(),
        any::<Option<u16>>(),
        any::<bool>(),
        any::<prop::sample::Index>(),
        line_bytes(),
    )
        .prop_map(|(fields, bare, seq, checksum, at, noise)| {
            let mut line = if bare {
                let values: Vec<Number> = fields.iter().map(|(_, value)| *value).collect();
                format_values(&values, checksum)
            } else {
                format_line(&borrowed(&fields), seq, checksum)
            }
            .into_bytes();
            if let Some(&byte) = noise.first() {
                let at = at.index(line.len());
                line[at] = byte;
            }
            line
        })
}

proptest! {
    #[test]
    fn parse_line_never_panics(line in prop_oneof![line_bytes(), near_valid_line()]) {
        let _ = parse_line(&line);
    }

    #[test]
    fn parse_line_never_panics_on_any_bytes(line in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_line(&line);
    }

    #[test]
    fn an_accepted_line_reads_the_same_once_formatted(
        line in prop_oneof![line_bytes(), near_valid_line()],
    ) {
        // An accepted line may differ from what `format_line` writes (leading
        // zeros, `-0`, other separators, `n` not last, lower-case hex, a
        // `\r`), but never in what it means. A skipped field has no
        // canonical form, so those lines are left out.
        if let Ok(reading) = parse_line(&line) {
            if reading.skipped.is_empty() {
                let had_checksum = line.contains(&b'*');
                let bare = reading.fields.first().is_some_and(|(name, _)| name.starts_with("value "));
                let canonical = if bare {
                    let values: Vec<Number> = reading.fields.iter().map(|(_, value)| *value).collect();
                    format_values(&values, had_checksum)
                } else {
                    format_line(&reading.fields, reading.seq, had_checksum)
                };
                prop_assert_eq!(parse_line(canonical.as_bytes()), Ok(reading));
            }
        }
    }

    #[test]
    fn the_framer_never_panics_and_keeps_lines_short(
        bytes in prop::collection::vec(any::<u8>(), 0..4000),
        chunk in 1usize..700,
        resync_at in prop::option::of(0usize..4000),
    ) {
        let mut framer = LineFramer::new();
        let mut on_line = |line: Result<&[u8], _>| {
            if let Ok(line) = line {
                assert!(!line.contains(&b'\n'));
                assert!(line.len() <= MAX_LINE_LEN + 1);
            }
        };
        for (index, piece) in bytes.chunks(chunk).enumerate() {
            if resync_at == Some(index) {
                framer.resync();
            }
            framer.push(piece, &mut on_line);
        }
        framer.finish(&mut on_line);
    }

    #[test]
    fn the_framer_gives_the_same_lines_in_any_chunking(
        bytes in prop::collection::vec(
            prop_oneof![3 => Just(b'a'), 1 => Just(b'\n'), 1 => Just(b'\r'), 1 => any::<u8>()],
            0..3000,
        ),
        chunk in 1usize..700,
    ) {
        let framed = |chunks: &mut dyn Iterator<Item = &[u8]>| {
            let mut framer = LineFramer::new();
            let mut lines = Vec::new();
            for piece in chunks {
                framer.push(piece, |line| lines.push(line.map(<[u8]>::to_vec)));
            }
            framer.finish(|line| lines.push(line.map(<[u8]>::to_vec)));
            lines
        };
        let whole = framed(&mut std::iter::once(&bytes[..]));
        prop_assert_eq!(framed(&mut bytes.chunks(chunk)), whole);
    }

    #[test]
    fn format_line_then_parse_gives_back_the_values_and_seq(
        fields in valid_fields(),
        seq in any::<Option<u16>>(),
        checksum in any::<bool>(),
    ) {
        let fields = borrowed(&fields);
        let line = format_line(&fields, seq, checksum);
        prop_assert!(line.len() <= MAX_LINE_LEN);
        let reading = parse_line(line.as_bytes());
        prop_assert_eq!(reading.map(|r| (r.fields, r.seq)), Ok((fields.clone(), seq)));
        // To the bit: `PartialEq` would take 0.0 for -0.0.
        let reading = parse_line(line.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for ((_, read), (_, written)) in reading.fields.iter().zip(&fields) {
            prop_assert!(same_bits(*read, *written), "{read:?} != {written:?}");
        }
    }

    #[test]
    fn format_values_then_parse_gives_back_the_values(
        values in prop::collection::vec(number(), 1..=20),
        checksum in any::<bool>(),
    ) {
        let line = format_values(&values, checksum);
        prop_assert!(line.len() <= MAX_LINE_LEN);
        let reading = parse_line(line.as_bytes()).map_err(|e| TestCaseError::fail(format!("{line}: {e}")))?;
        prop_assert_eq!(reading.fields.len(), values.len());
        for (position, ((name, read), written)) in reading.fields.iter().zip(&values).enumerate() {
            prop_assert_eq!(name.to_string(), format!("value {}", position + 1));
            prop_assert!(same_bits(*read, *written), "{read:?} != {written:?}");
        }
    }

    #[test]
    fn a_lower_case_checksum_and_a_cr_change_nothing(
        fields in valid_fields(),
        seq in any::<Option<u16>>(),
    ) {
        let fields = borrowed(&fields);
        let line = format_line(&fields, seq, true);
        let (body, hex) = line.split_at(line.len() - 2);
        let variant = format!("{body}{}\r", hex.to_ascii_lowercase());
        let reading = parse_line(variant.as_bytes());
        prop_assert_eq!(reading.map(|r| (r.fields, r.seq)), Ok((fields, seq)));
    }
}

/// The same kind and the same value, bit for bit.
fn same_bits(a: Number, b: Number) -> bool {
    match (a, b) {
        (Number::Int(a), Number::Int(b)) => a == b,
        (Number::Float(a), Number::Float(b)) => a.to_bits() == b.to_bits(),
        _ => false,
    }
}
