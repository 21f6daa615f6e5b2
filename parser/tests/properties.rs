//! Properties over arbitrary input: nothing a board sends makes the parser or
//! the framer panic, and what `format_line` writes `parse_line` reads back.

use std::collections::HashSet;

use esplora_parser::{LineFramer, MAX_LINE_LEN, format_line, parse_line};
use proptest::prelude::*;

/// 1 to 12 fields with distinct keys other than `n`: even at the longest
/// (16-byte keys, 20-byte values) they fit in a line with `n` and `*HH`.
fn valid_fields() -> impl Strategy<Value = Vec<(String, i64)>> {
    let key = "[A-Za-z0-9_]{1,16}".prop_filter("`n` is not a reading", |key| key != "n");
    prop::collection::vec((key, any::<i64>()), 1..=12).prop_map(|fields| {
        // Keeping the first of each key keeps at least one field.
        let mut seen = HashSet::new();
        fields
            .into_iter()
            .filter(|(key, _)| seen.insert(key.clone()))
            .collect()
    })
}

/// Bytes weighted towards the protocol's own, so that the grammar is
/// exercised deep, not only rejected at the first byte.
fn line_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"sxn0123456789:,-*\rAaFf_".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..600)
}

/// A formatted line with one byte changed: mostly rejected for one precise
/// reason, sometimes still valid (a digit for a digit).
fn near_valid_line() -> impl Strategy<Value = Vec<u8>> {
    (
        valid_fields(),
        any::<Option<u16>>(),
        any::<bool>(),
        any::<prop::sample::Index>(),
        line_bytes(),
    )
        .prop_map(|(fields, seq, checksum, at, noise)| {
            let borrowed: Vec<(&str, i64)> = fields
                .iter()
                .map(|(key, value)| (key.as_str(), *value))
                .collect();
            let mut line = format_line(&borrowed, seq, checksum).into_bytes();
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
        // zeros, `-0`, `n` not last, lower-case hex, a `\r`), but never in
        // what it means.
        if let Ok(reading) = parse_line(&line) {
            let had_checksum = line.contains(&b'*');
            let canonical = format_line(&reading.fields, reading.seq, had_checksum);
            prop_assert_eq!(parse_line(canonical.as_bytes()), Ok(reading));
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
    fn format_then_parse_gives_back_the_fields_and_seq(
        fields in valid_fields(),
        seq in any::<Option<u16>>(),
        checksum in any::<bool>(),
    ) {
        let borrowed: Vec<(&str, i64)> =
            fields.iter().map(|(key, value)| (key.as_str(), *value)).collect();
        let line = format_line(&borrowed, seq, checksum);
        prop_assert!(line.len() <= MAX_LINE_LEN);
        let reading = parse_line(line.as_bytes());
        prop_assert_eq!(reading.map(|r| (r.fields, r.seq)), Ok((borrowed, seq)));
    }

    #[test]
    fn a_lower_case_checksum_and_a_cr_change_nothing(
        fields in valid_fields(),
        seq in any::<Option<u16>>(),
    ) {
        let borrowed: Vec<(&str, i64)> =
            fields.iter().map(|(key, value)| (key.as_str(), *value)).collect();
        let line = format_line(&borrowed, seq, true);
        let (body, hex) = line.split_at(line.len() - 2);
        let variant = format!("{body}{}\r", hex.to_ascii_lowercase());
        let reading = parse_line(variant.as_bytes());
        prop_assert_eq!(reading.map(|r| (r.fields, r.seq)), Ok((borrowed, seq)));
    }
}
