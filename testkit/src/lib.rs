//! Test support shared by the workspace's crates, which share no test code
//! otherwise: the fuzz driver that the parser's and the config loader's
//! fuzz tests both run.
//!
//! `cargo fuzz` needs nightly; proptest, run at a high case count, fuzzes
//! on the stable toolchain. The run is bounded in time as well as in cases,
//! since a debug build's speed varies tenfold with the machine and its
//! load.

use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};

/// Runs `test` on fresh inputs from `strategy`, in batches with new seeds,
/// until `FUZZ_SECS` (default 10) have passed or `FUZZ_CASES` (default
/// 200 000) cases have run; gives how many ran. A failure panics with the
/// input proptest shrank it to.
pub fn fuzz<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> TestCaseResult) -> u32 {
    let budget = Duration::from_secs(env("FUZZ_SECS", 10));
    let max_cases = u32::try_from(env("FUZZ_CASES", 200_000)).unwrap_or(u32::MAX);
    let started = Instant::now();
    let mut cases = 0;
    while cases < max_cases && started.elapsed() < budget {
        let batch = 2000.min(max_cases - cases);
        let mut runner = TestRunner::new(Config {
            cases: batch,
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(failure) = runner.run(&strategy, &test) {
            panic!("{failure}");
        }
        cases += batch;
    }
    cases
}

/// The environment variable `name` as a number, else `default`.
fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}
