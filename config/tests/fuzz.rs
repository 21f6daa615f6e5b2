//! Fuzzing the config loader on the stable toolchain: proptest feeds
//! `Config::from_toml` mutated versions of a full config and arbitrary
//! text. Whatever it gets, it must not panic, and a refusal must be one
//! line naming the file and a position inside the text. Bounded in time
//! (`FUZZ_SECS`, default 10) and cases (`FUZZ_CASES`, default 200 000), as
//! the parser's fuzz test is.

use std::path::Path;

use esplora_config::{Config, ConfigError};
use esplora_testkit::fuzz;
use proptest::prelude::*;

/// Every key of the schema: the config `from_toml.rs` checks key by key.
const FULL: &str = include_str!("full.toml");

/// The full config with a few byte ranges replaced by TOML-ish text.
fn mutated() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(String::new()),
        "[ -~]{0,12}",
        prop::sample::select(vec![
            "\"",
            "'",
            "[",
            "]",
            "=",
            "\n",
            "0",
            "-1",
            "1e400",
            "nan",
            "\"max\"",
            "[[x]]",
            "{",
            "}",
            "\u{e9}",
            "\r",
            "#",
            "true",
            "18446744073709551616",
            ".",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec((any::<prop::sample::Index>(), 0usize..8, piece), 1..4).prop_map(
        |edits| {
            let mut text = FULL.to_owned();
            for (at, len, piece) in edits {
                let mut start = at.index(text.len() + 1);
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                let mut end = (start + len).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(start..end, &piece);
            }
            text
        },
    )
}

fn check(text: &str) -> Result<(), TestCaseError> {
    let origin = Path::new("/etc/esplora-bridge/config.toml");
    if let Err(error) = Config::from_toml(text, origin) {
        let shown = error.to_string();
        let ConfigError::Invalid { line, column, .. } = error;
        prop_assert!(
            shown.starts_with("/etc/esplora-bridge/config.toml:"),
            "{}",
            shown
        );
        prop_assert!(!shown.contains('\n'), "one line: {}", shown);
        prop_assert!(
            line >= 1 && line <= text.lines().count().max(1) + 1,
            "{}",
            shown
        );
        prop_assert!(column >= 1, "{}", shown);
    }
    Ok(())
}

#[test]
fn a_mutated_config_is_loaded_or_refused_with_a_position() {
    let cases = fuzz(mutated(), |text| check(&text));
    println!("mutated configs: {cases} cases");
    assert!(cases >= 2000, "only {cases} cases ran");
}

#[test]
fn any_text_is_loaded_or_refused_with_a_position() {
    let cases = fuzz("\\PC{0,200}", |text| check(&text));
    println!("arbitrary texts: {cases} cases");
    assert!(cases >= 2000, "only {cases} cases ran");
}
