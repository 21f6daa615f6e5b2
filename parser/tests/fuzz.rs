//! Fuzzing on the stable toolchain: the line framer and the parser driven
//! together, as the daemon drives them, by proptest at a high case count,
//! and a corpus of interesting inputs replayed on every run.
//!
//! `cargo fuzz` needs nightly; proptest's generators, weighted towards the
//! protocol's own bytes, reach as deep into the grammar. The run is bounded
//! in time, not in cases, since a debug build's speed varies tenfold with
//! the machine and its load: see [`fuzz`]. A failure is shrunk to a
//! minimal input by proptest: add it to `tests/corpus/` (`ok-*` files are
//! accepted line by line, `bad-REASON-*` files rejected for that reason).

use std::path::Path;

use esplora_parser::{LineFramer, MAX_LINE_LEN, parse_line};
use esplora_testkit::fuzz;
use proptest::prelude::*;

/// Each framed line's outcome: the parsed reading as text, or the reason.
fn frame_and_parse(chunks: &mut dyn Iterator<Item = &[u8]>) -> Vec<Result<String, &'static str>> {
    let mut framer = LineFramer::new();
    let mut outcomes = Vec::new();
    let mut on_line = |line: Result<&[u8], esplora_parser::LineError>| {
        outcomes.push(match line {
            Ok(line) => {
                assert!(line.len() <= MAX_LINE_LEN + 1, "a framed line is short");
                parse_line(line)
                    .map(|reading| {
                        format!(
                            "{:?} {:?} {:?}",
                            reading.fields, reading.skipped, reading.seq
                        )
                    })
                    .map_err(|error| error.reason())
            }
            Err(error) => Err(error.reason()),
        });
    };
    for chunk in chunks {
        framer.push(chunk, &mut on_line);
    }
    framer.finish(&mut on_line);
    outcomes
}

/// A stream of bytes shaped like a board's: mostly the grammar's own bytes
/// (labels, digits, the point and exponent of decimals, every separator,
/// the letters of `nan`, `inf` and `ovf`, the start of a two-byte UTF-8
/// character) and newlines, some anything.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        8 => prop::sample::select(b"sxyzn0123456789:,-*. \teEinafov\xc3\xa9".to_vec()),
        2 => Just(b'\n'),
        1 => Just(b'\r'),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..200)
}

#[test]
fn framing_and_parsing_never_panic_and_ignore_chunking() {
    let cases = fuzz((stream(), 1usize..64), |(bytes, chunk)| {
        let whole = frame_and_parse(&mut std::iter::once(&bytes[..]));
        prop_assert_eq!(frame_and_parse(&mut bytes.chunks(chunk)), whole);
        Ok(())
    });
    println!("framer and parser: {cases} cases");
    assert!(cases >= 2000, "only {cases} cases ran");
}

#[test]
fn the_corpus_gives_its_expected_outcomes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus is there") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let outcomes = frame_and_parse(&mut bytes.chunks(7));
        assert!(!outcomes.is_empty(), "{name} has no lines");
        if name.starts_with("ok-") {
            for outcome in &outcomes {
                assert!(outcome.is_ok(), "{name}: {outcome:?}");
            }
        } else {
            let reason = name
                .strip_prefix("bad-")
                .and_then(|rest| rest.rsplit_once('-'))
                .map(|(reason, _)| reason)
                .unwrap_or_else(|| panic!("{name}: corpus files are ok-* or bad-REASON-*"));
            for outcome in &outcomes {
                assert_eq!(outcome, &Err(reason), "{name}");
            }
        }
        replayed += 1;
    }
    assert!(replayed >= 10, "only {replayed} corpus files");
}
