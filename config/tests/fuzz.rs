//! Fuzzing the config loader on the stable toolchain: proptest feeds
//! `Config::from_toml` mutated versions of a full config and arbitrary
//! text. Whatever it gets, it must not panic, and a refusal must be one
//! line naming the file and a position inside the text. Bounded in time
//! (`FUZZ_SECS`, default 10) and cases (`FUZZ_CASES`, default 200 000), as
//! the parser's fuzz test is.

use std::path::Path;
use std::time::{Duration, Instant};

use esplora_config::{Config, ConfigError};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseResult, TestRunner};

/// Every key of the schema: the config `from_toml.rs` checks key by key.
const FULL: &str = include_str!("full.toml");

/// Runs `test` on fresh inputs from `strategy`, in batches with new seeds,
/// until the time or case budget is spent; gives how many ran.
fn fuzz<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> TestCaseResult) -> u32 {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let budget = Duration::from_secs(env("FUZZ_SECS", 10));
    let max_cases = u32::try_from(env("FUZZ_CASES", 200_000)).unwrap_or(u32::MAX);
    let started = Instant::now();
    let mut cases = 0;
    while cases < max_cases && started.elapsed() < budget {
        let batch = 2000.min(max_cases - cases);
        let mut runner = TestRunner::new(RunnerConfig {
            cases: batch,
            failure_persistence: None,
            ..RunnerConfig::default()
        });
        if let Err(failure) = runner.run(&strategy, &test) {
            panic!("{failure}");
        }
        cases += batch;
    }
    cases
}

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
