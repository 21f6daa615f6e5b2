//! The sample captures in `tests/data/` at the root of the workspace, read
//! as the bridge reads a replay file: through the framer, then the parser.

use std::collections::BTreeMap;
use std::path::PathBuf;

use esplora_parser::{LineError, LineFramer, Number, parse_line};

/// What a capture gives: the count of lines accepted and rejected, and the
/// last value of each key (later readings overwrite earlier ones).
#[derive(Debug, Default)]
struct Replay {
    accepted: usize,
    rejected: BTreeMap<&'static str, usize>,
    state: BTreeMap<String, Number>,
}

impl Replay {
    fn rejected(&self) -> usize {
        self.rejected.values().sum()
    }
}

fn replay(name: &str) -> Replay {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));

    let mut replay = Replay::default();
    let mut on_line = |line: Result<&[u8], LineError>| match line.and_then(parse_line) {
        Ok(reading) => {
            replay.accepted += 1;
            for (key, value) in reading.fields {
                replay.state.insert(key.to_owned(), value);
            }
        }
        Err(error) => *replay.rejected.entry(error.reason()).or_default() += 1,
    };
    let mut framer = LineFramer::new();
    // Odd-sized chunks, as serial reads come, so that lines straddle pushes.
    for chunk in bytes.chunks(61) {
        framer.push(chunk, &mut on_line);
    }
    framer.finish(&mut on_line);
    replay
}

#[test]
fn the_messy_sample_gives_2000_readings_and_33_rejects() {
    let replay = replay("esplora-messy-sample.log");
    assert_eq!(replay.accepted, 2000);
    assert_eq!(replay.rejected(), 33, "{:?}", replay.rejected);
    let expected: BTreeMap<String, Number> = [
        ("s", 624),
        ("x", 2),
        ("y", 2),
        ("z", 125),
        ("j", 0),
        ("k", 0),
        ("l", 674),
        ("m", 11),
        ("t", 73),
        ("u", 3),
        ("b", 0),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), Number::Int(value)))
    .collect();
    assert_eq!(replay.state, expected);
}

#[test]
fn the_messy_sample_rejects_each_fault_for_its_reason() {
    let replay = replay("esplora-messy-sample.log");
    let expected = BTreeMap::from([
        ("bad_checksum", 2),
        ("bad_number", 17),
        ("key_too_long", 3),
        ("mixed_fields", 2),
        ("out_of_range", 3),
        ("syntax", 4),
        ("too_long", 2),
    ]);
    assert_eq!(replay.rejected, expected);
}

#[test]
fn the_100hz_capture_is_all_good() {
    let replay = replay("esplora-100hz-60s.log");
    assert_eq!(replay.accepted, 6000);
    assert_eq!(replay.rejected(), 0, "{:?}", replay.rejected);
}
