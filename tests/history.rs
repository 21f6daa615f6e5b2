//! The history store end to end: a capture replayed into the real daemon,
//! read back through `/api/history` and `export`, against what the test
//! computes from the capture itself; `kill -9` mid-ingest; a store on a
//! file-size limit; a file that is not SQLite; retention of backdated rows
//! written into the real SQLite file; `max_bytes` holding a store fed as
//! fast as it goes, its oldest chunks trimmed first; `export`'s progress
//! bar on a pty and not in a pipe; and the parameters' 400s.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::common::pty::run_on_terminal;
use crate::common::{Daemon, WAIT, binary, data, tool};

const CAPTURE: &str = "esplora-100hz-60s.log";
const STORED: &str = "esplora_history_values_total{outcome=\"stored\"}";
const COMMITS: &str = "esplora_history_writes_total{result=\"ok\"}";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// What a field's changes add up to.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Totals {
    min: i64,
    max: i64,
    sum: f64,
    last: i64,
    count: u64,
}

impl Totals {
    fn add(slot: &mut Option<Totals>, min: i64, max: i64, sum: f64, last: i64, count: u64) {
        let now = match *slot {
            None => Totals {
                min,
                max,
                sum,
                last,
                count,
            },
            Some(t) => Totals {
                min: t.min.min(min),
                max: t.max.max(max),
                sum: t.sum + sum,
                last,
                count: t.count + count,
            },
        };
        *slot = Some(now);
    }

    fn assert_matches(&self, expected: &Totals, what: &str) {
        let Totals {
            min,
            max,
            last,
            count,
            ..
        } = *expected;
        assert_eq!(
            (self.min, self.max, self.last, self.count),
            (min, max, last, count),
            "{what}"
        );
        let mean = self.sum / self.count as f64;
        let expected_mean = expected.sum / expected.count as f64;
        assert!(
            (mean - expected_mean).abs() < 1e-9 * expected_mean.abs().max(1.0),
            "{what}: mean {mean} != {expected_mean}"
        );
    }
}

/// Each field's changes in a capture of Esplora lines, as the diff keeps
/// them (deadband 0: every change, the first value included).
fn expected_from_capture(name: &str) -> BTreeMap<String, Totals> {
    let names = BTreeMap::from([
        ("s", "slider"),
        ("x", "accel_x"),
        ("y", "accel_y"),
        ("z", "accel_z"),
        ("j", "joystick_x"),
        ("k", "joystick_y"),
        ("l", "light"),
        ("m", "microphone"),
        ("t", "temperature"),
        ("u", "user"),
        ("b", "buttons"),
    ]);
    let text = std::fs::read_to_string(data(name)).unwrap();
    let mut previous: BTreeMap<&str, i64> = BTreeMap::new();
    let mut totals: BTreeMap<String, Option<Totals>> = BTreeMap::new();
    for line in text.lines() {
        for pair in line.split(',') {
            let (key, value) = pair.split_once(':').unwrap();
            if key == "n" {
                continue;
            }
            let value: i64 = value.parse().unwrap();
            if previous.insert(key, value) != Some(value) {
                let slot = totals.entry(names[key].to_owned()).or_default();
                Totals::add(slot, value, value, value as f64, value, 1);
            }
        }
    }
    totals.into_iter().map(|(k, v)| (k, v.unwrap())).collect()
}

/// Each field's totals over every bucket of a JSON answer.
fn totals_of_json(answer: &Value) -> BTreeMap<String, Totals> {
    let buckets = answer["t"].as_array().unwrap().len();
    let mut totals = BTreeMap::new();
    for (name, columns) in answer["fields"].as_object().unwrap() {
        let mut slot = None;
        for i in 0..buckets {
            let count = columns["count"][i].as_u64().unwrap();
            if count == 0 {
                assert!(columns["min"][i].is_null() && columns["last"][i].is_null());
                continue;
            }
            let int = |part: &str| {
                columns[part][i]
                    .as_i64()
                    .unwrap_or_else(|| panic!("{name}.{part} should stay an integer"))
            };
            let sum = columns["mean"][i].as_f64().unwrap() * count as f64;
            Totals::add(&mut slot, int("min"), int("max"), sum, int("last"), count);
        }
        if let Some(t) = slot {
            totals.insert(name.clone(), t);
        }
    }
    totals
}

fn totals_of_csv(csv: &str) -> BTreeMap<String, Totals> {
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(head[0], "time");
    let mut totals: BTreeMap<String, Option<Totals>> = BTreeMap::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        assert!(cells[0].ends_with('Z') && cells[0].contains('T'), "{line}");
        for (i, name) in head[1..].chunks(5).enumerate() {
            let field = name[0].strip_suffix(".min").unwrap();
            let cell = |part: usize| cells[1 + i * 5 + part];
            let count: u64 = cell(4).parse().unwrap();
            if count == 0 {
                assert_eq!(cell(0), "", "{line}");
                continue;
            }
            let int = |part: usize| cell(part).parse::<i64>().unwrap();
            let sum = cell(2).parse::<f64>().unwrap() * count as f64;
            let slot = totals.entry(field.to_owned()).or_default();
            Totals::add(slot, int(0), int(1), sum, int(3), count);
        }
    }
    totals
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
}

fn totals_of_ndjson(ndjson: &str) -> BTreeMap<String, Totals> {
    let mut totals: BTreeMap<String, Option<Totals>> = BTreeMap::new();
    for line in ndjson.lines() {
        let bucket: Value = serde_json::from_str(line).unwrap();
        for (name, v) in bucket["values"].as_object().unwrap() {
            let count = v["count"].as_u64().unwrap();
            if count == 0 {
                continue;
            }
            let int = |part: &str| v[part].as_i64().unwrap();
            let sum = v["mean"].as_f64().unwrap() * count as f64;
            let slot = totals.entry(name.clone()).or_default();
            Totals::add(slot, int("min"), int("max"), sum, int("last"), count);
        }
    }
    totals
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
}

fn assert_all_match(
    found: &BTreeMap<String, Totals>,
    expected: &BTreeMap<String, Totals>,
    what: &str,
) {
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{what}: fields"
    );
    for (name, totals) in found {
        totals.assert_matches(&expected[name], &format!("{what}: {name}"));
    }
}

/// Waits until `metric` (a name with labels) reads at least `value`.
async fn wait_at_least(daemon: &Daemon, metric: &str, value: u64) {
    daemon
        .wait_for(&format!("{metric} >= {value}"), || async {
            (daemon.metric(metric).await >= value).then_some(())
        })
        .await;
}

/// Waits until `/api/latest` has moved ten events on: live data flows.
async fn wait_latest_moves(daemon: &Daemon) {
    let seq = daemon.get_json("/api/latest").await["seq"]
        .as_u64()
        .unwrap();
    daemon
        .wait_for("/api/latest to move on", || async {
            let now = daemon.get_json("/api/latest").await["seq"]
                .as_u64()
                .unwrap();
            (now > seq + 10).then_some(())
        })
        .await;
}

/// The changes counted in a JSON answer, every field's buckets together.
fn changes_in(answer: &Value) -> u64 {
    answer["fields"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|columns| columns["count"].as_array().unwrap())
        .map(|count| count.as_u64().unwrap())
        .sum()
}

/// A state directory holding a store that the daemon made (a demo change
/// stored, the daemon stopped), and a connection to that store.
async fn made_store() -> (tempfile::TempDir, rusqlite::Connection) {
    let state = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start_with(
        &["--input", "demo"],
        |command| {
            command.env("STATE_DIRECTORY", state.path());
        },
        None,
    );
    wait_at_least(&daemon, STORED, 1).await;
    daemon.stop(Signal::SIGTERM, WAIT);
    drop(daemon);
    let conn = rusqlite::Connection::open(state.path().join("history.sqlite")).unwrap();
    (state, conn)
}

/// `esplora-bridge export` over the store in `state`, its stdout.
fn export(state: &Path, args: &[&str]) -> String {
    let output = Command::new(binary())
        .env("STATE_DIRECTORY", state)
        .arg("export")
        .args(args)
        .output()
        .expect("export should run");
    assert!(
        output.status.success(),
        "export {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn a_replayed_capture_reads_back_exactly_through_the_api_and_export() {
    let expected = expected_from_capture(CAPTURE);
    let changes: u64 = expected.values().map(|t| t.count).sum();
    let from = now_ms() - 1_000;
    let source = format!("file:{}", data(CAPTURE).display());
    let daemon = Daemon::start(&["--input", &source, "--replay-rate", "max"]);
    daemon.wait_for_lines(6_000).await;
    daemon.wait_metric(STORED, changes).await;
    let to = now_ms() + 1_000;
    let state = daemon.store().parent().unwrap().to_owned();

    for (step, source) in [("250ms", "raw"), ("1s", "second"), ("1m", "minute")] {
        let query = format!("from={from}&to={to}&step={step}");
        let answer = daemon.get_json(&format!("/api/history?{query}")).await;
        assert_eq!(answer["source"], source, "step {step}");
        assert_all_match(
            &totals_of_json(&answer),
            &expected,
            &format!("json, step {step}"),
        );

        let csv = daemon
            .get_text(&format!("/api/history?{query}&format=csv"))
            .await;
        assert_all_match(
            &totals_of_csv(&csv),
            &expected,
            &format!("csv, step {step}"),
        );
        let ndjson = daemon
            .get_text(&format!("/api/history?{query}&format=ndjson"))
            .await;
        assert_all_match(
            &totals_of_ndjson(&ndjson),
            &expected,
            &format!("ndjson, step {step}"),
        );

        let (from, to) = (from.to_string(), to.to_string());
        let args = ["--from", &from, "--to", &to, "--step", step];
        let exported = export(&state, &[&args[..], &["--format", "csv"]].concat());
        assert_eq!(exported, csv, "export and the API write the same CSV");
        let exported = export(&state, &[&args[..], &["--format", "ndjson"]].concat());
        assert_eq!(exported, ndjson, "export and the API write the same NDJSON");
    }

    // Fields in the order asked, to a file.
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("light.csv");
    let (from, to) = (from.to_string(), to.to_string());
    let fields = ["--fields", "light,slider", "--from", &from, "--to", &to];
    let printed = export(&state, &fields);
    assert!(
        printed
            .starts_with("time,light.min,light.max,light.mean,light.last,light.count,slider.min")
    );
    let to_file = export(
        &state,
        &[&fields[..], &["--output", file.to_str().unwrap()]].concat(),
    );
    assert_eq!(to_file, "");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), printed);

    let response = daemon.get("/api/history?format=csv").await;
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let response = daemon.get("/api/history?format=ndjson").await;
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let marks = daemon.get_json("/api/history?from=-1m").await["marks"].clone();
    let kinds: Vec<&str> = marks
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.starts_with(&["daemon_start", "board_connected"]),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn kill_9_mid_ingest_loses_at_most_the_last_second() {
    let state = tempfile::tempdir().unwrap();
    let started = now_ms();
    let source = format!("file:{}", data(CAPTURE).display());
    let mut daemon = Daemon::start_with(
        &["--input", &source, "--replay-rate", "100"],
        |command| {
            command.env("STATE_DIRECTORY", state.path());
        },
        None,
    );
    // A few commits in, the capture still replaying (it lasts a minute).
    wait_at_least(&daemon, STORED, 2_000).await;
    let stored = daemon.metric(STORED).await;
    let killed = now_ms();
    daemon.stop(Signal::SIGKILL, WAIT);
    drop(daemon);

    let conn = rusqlite::Connection::open(state.path().join("history.sqlite")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);

    let daemon = Daemon::start_with(
        &["--input", "-"],
        |command| {
            command.env("STATE_DIRECTORY", state.path());
        },
        Some(Vec::new()),
    );
    let answer = daemon
        .get_json(&format!(
            "/api/history?from={started}&to={killed}&step=100ms"
        ))
        .await;
    let totals = totals_of_json(&answer);
    let kept: u64 = totals.values().map(|t| t.count).sum();
    assert!(
        kept >= stored,
        "{kept} changes kept, {stored} were committed before the kill"
    );
    let t = answer["t"].as_array().unwrap();
    let counts = answer["fields"]["slider"]["count"].as_array().unwrap();
    let last = (0..t.len())
        .rev()
        .find(|&i| counts[i].as_u64().unwrap() > 0)
        .unwrap();
    let last_kept = t[last].as_i64().unwrap();
    assert!(
        last_kept >= killed - 1_500,
        "the last change kept is {} ms before the kill",
        killed - last_kept
    );
    // The slider's changes kept are the capture's first ones, in order.
    let slider = &expected_from_capture(CAPTURE)["slider"];
    assert!(totals["slider"].count <= slider.count);
    let kinds = daemon
        .wait_for("the second run's start mark", || async {
            let answer = daemon
                .get_json(&format!("/api/history?from={started}&to=now"))
                .await;
            let kinds: Vec<String> = answer["marks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|mark| mark["kind"].as_str().unwrap().to_owned())
                .collect();
            (kinds.len() >= 3).then_some(kinds)
        })
        .await;
    assert_eq!(
        kinds[..3],
        ["daemon_start", "board_connected", "daemon_start"],
        "no stop mark for the killed run"
    );
}

#[tokio::test]
async fn a_store_past_its_file_size_limit_keeps_live_data_flowing_and_counts_failures() {
    let prlimit = tool("prlimit", "apt-get install util-linux");
    let daemon = Daemon::start(&["--input", "demo"]);
    wait_at_least(&daemon, STORED, 1).await;
    let status = Command::new(prlimit)
        .args(["--pid", &daemon.pid().to_string(), "--fsize=4096:4096"])
        .status()
        .unwrap();
    assert!(status.success(), "prlimit failed");
    daemon
        .wait_for("failed history writes", || async {
            let failed = daemon
                .metric("esplora_history_values_total{outcome=\"write_failed\"}")
                .await;
            (failed > 0).then_some(())
        })
        .await;
    assert!(
        daemon
            .metric("esplora_history_writes_total{result=\"failed\"}")
            .await
            > 0
    );
    wait_latest_moves(&daemon).await;
    assert!(
        daemon
            .log()
            .iter()
            .any(|line| line.contains("cannot write history")),
        "the failure is logged"
    );
}

#[test]
fn a_file_that_is_not_sqlite_stops_start_up_with_its_path() {
    let state = tempfile::tempdir().unwrap();
    let store = state.path().join("history.sqlite");
    std::fs::write(&store, "these are my notes, not a database\n".repeat(100)).unwrap();
    let output = Command::new(binary())
        .env("STATE_DIRECTORY", state.path())
        .args(["--input", "demo", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&store.display().to_string()) && stderr.contains("not a database"),
        "{stderr}"
    );
}

#[tokio::test]
async fn retention_trims_backdated_rows_of_a_real_store() {
    let (state, conn) = made_store().await;
    let with_state = |command: &mut Command| {
        command.env("STATE_DIRECTORY", state.path());
    };
    let day = 86_400_000i64;
    let now = now_ms();
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..3_000i64 {
        let t = now - 10 * day + i;
        if i < 100 {
            tx.execute(
                "INSERT INTO raw_chunk (t_first_ms, t_last_ms, lines, data) VALUES (?1, ?1, 1, x'00')",
                [t],
            )
            .unwrap();
        }
        tx.execute(
            "INSERT INTO rollup_minute (field, t_s, min, max, sum, last, count) VALUES (1, ?1, 1, 1, 1, 1, 1)",
            [(now - 500 * day) / 1000 + i * 60],
        )
        .unwrap();
    }
    for i in 0..5_000i64 {
        tx.execute(
            "INSERT INTO rollup_second (t_s, field, min, max, sum, last, count) VALUES (?1, 1, 1, 1, 1, 1, 1)",
            [(now - 10 * day) / 1000 + i],
        )
        .unwrap();
    }
    for i in 0..10i64 {
        tx.execute(
            "INSERT INTO rollup_minute (field, t_s, min, max, sum, last, count) VALUES (1, ?1, 1, 1, 1, 1, 1)",
            [(now - 10 * day) / 1000 + i * 60],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO rollup_second (t_s, field, min, max, sum, last, count) VALUES (?1, 1, 1, 1, 1, 1, 1)",
            [(now - 2 * day) / 1000 + i],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO mark (t_ms, kind) VALUES (?1, 'daemon_start')",
            [now - 500 * day + i],
        )
        .unwrap();
    }
    tx.commit().unwrap();

    let daemon = Daemon::start_with(&["--input", "-"], with_state, Some(Vec::new()));
    daemon
        .wait_metric(
            "esplora_history_trimmed_rows_total{reason=\"retention\"}",
            100 + 3_000 + 5_000 + 10 + 10,
        )
        .await;
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |row| row.get(0)).unwrap() };
    let old = (now - 7 * day) / 1000;
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM raw_chunk WHERE t_last_ms < {}",
            old * 1000
        )),
        0
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM rollup_second WHERE t_s < {}",
            (now - day) / 1000
        )),
        0,
        "per-second rollups are kept a day"
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM rollup_minute WHERE t_s < {}",
            (now - 400 * day) / 1000
        )),
        0
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM rollup_minute WHERE t_s < {old}"
        )),
        10,
        "rollups outlive raw data"
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM mark WHERE t_ms < {}",
            now - 400 * day
        )),
        0
    );
    assert!(
        daemon.metric("esplora_history_bytes").await > 0,
        "the store's size is reported"
    );
}

#[tokio::test]
async fn export_shows_its_progress_on_a_terminal_and_not_in_a_pipe() {
    let expected = expected_from_capture(CAPTURE);
    let changes: u64 = expected.values().map(|t| t.count).sum();
    let state = tempfile::tempdir().unwrap();
    let started = now_ms();
    let source = format!("file:{}", data(CAPTURE).display());
    let mut daemon = Daemon::start_with(
        &["--input", &source, "--replay-rate", "max"],
        |command| {
            command.env("STATE_DIRECTORY", state.path());
        },
        None,
    );
    daemon.wait_metric(STORED, changes).await;
    daemon.stop(Signal::SIGTERM, WAIT);
    drop(daemon);

    // 1 ms buckets from 20 s before the replay: more than SLICE (10,000),
    // the replay's changes among them.
    let (from, to) = (started - 20_000, now_ms());
    let buckets = usize::try_from(to - from).unwrap();
    let out = tempfile::tempdir().unwrap();
    let export = |stdout: &Path| {
        let mut command = Command::new(binary());
        command
            .env("STATE_DIRECTORY", state.path())
            .args(["export", "--step", "1ms", "--from"])
            .arg(from.to_string())
            .arg("--to")
            .arg(to.to_string())
            .stdout(File::create(stdout).unwrap());
        command
    };

    let on_terminal = out.path().join("terminal.csv");
    let (status, shown) = run_on_terminal(export(&on_terminal));
    let shown = String::from_utf8_lossy(&shown);
    assert!(status.success(), "export failed: {shown}");
    assert!(
        shown.contains(&format!("/{buckets} buckets, ")) && shown.contains(" left"),
        "no progress bar on the terminal: {shown:?}"
    );
    let csv = std::fs::read_to_string(&on_terminal).unwrap();
    assert!(csv.starts_with("time,"), "{}", &csv[..csv.len().min(200)]);
    assert_eq!(
        csv.lines().count(),
        1 + buckets,
        "a header and every bucket"
    );
    assert_all_match(&totals_of_csv(&csv), &expected, "export on a terminal");

    let piped = out.path().join("piped.csv");
    let output = export(&piped).stderr(Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "export failed: {stderr}");
    assert!(
        !stderr.contains("buckets"),
        "progress written to a pipe: {stderr:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&piped).unwrap(),
        csv,
        "the same export either way"
    );
}

#[tokio::test]
async fn max_bytes_keeps_a_fast_fed_store_under_its_cap_oldest_out_first() {
    const MAX_BYTES: u64 = 1 << 20;
    const OLD_CHUNKS: i64 = 15;
    let (state, conn) = made_store().await;
    // An hour-old past of 15/16 of the cap, so that the feed crosses it
    // within its first commits.
    let hour_ago = now_ms() - 3_600_000;
    for i in 0..OLD_CHUNKS {
        conn.execute(
            "INSERT INTO raw_chunk (t_first_ms, t_last_ms, lines, data)
             VALUES (?1, ?1, 1, zeroblob(65536))",
            [hour_ago + i],
        )
        .unwrap();
    }
    let config = state.path().join("bridge.toml");
    // The smallest cap the config takes.
    std::fs::write(&config, "[history]\nmax_bytes = \"1MiB\"\n").unwrap();
    let config = config.to_str().unwrap();
    let args = [
        "--config",
        config,
        "--input",
        "demo",
        "--replay-rate",
        "max",
    ];
    let daemon = Daemon::start_with(
        &args,
        |command| {
            command.env("STATE_DIRECTORY", state.path());
        },
        None,
    );

    let trimmed = "esplora_history_trimmed_rows_total{reason=\"max_bytes\"}";
    wait_at_least(&daemon, trimmed, 1).await;
    // Each commit is followed by a trim step, which reports the size it
    // left: from the next commit on, the size is at most a trimmed one.
    let commits = daemon.metric(COMMITS).await;
    wait_at_least(&daemon, COMMITS, commits + 1).await;
    let bytes = daemon.metric("esplora_history_bytes").await;
    assert!(
        bytes <= MAX_BYTES + MAX_BYTES / 16,
        "{bytes} bytes stored, max_bytes is {MAX_BYTES}"
    );
    let old: Vec<i64> = conn
        .prepare("SELECT t_last_ms FROM raw_chunk WHERE t_last_ms < ?1 ORDER BY t_last_ms")
        .unwrap()
        .query_map([hour_ago + OLD_CHUNKS], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let kept = old.len() as i64;
    assert!(kept < OLD_CHUNKS, "no old chunk trimmed");
    assert_eq!(
        old,
        (hour_ago + OLD_CHUNKS - kept..hour_ago + OLD_CHUNKS).collect::<Vec<_>>(),
        "the oldest chunks go first"
    );
    let newest = daemon.get_json("/api/history?from=-10s").await;
    assert!(changes_in(&newest) > 0, "the newest changes are kept");
    wait_latest_moves(&daemon).await;
    assert_eq!(
        daemon
            .metric("esplora_history_values_total{outcome=\"write_failed\"}")
            .await,
        0
    );
}

#[tokio::test]
async fn bad_parameters_get_a_400_naming_them_and_history_off_a_404() {
    let daemon = Daemon::start(&["--input", "demo"]);
    wait_at_least(&daemon, STORED, 1).await;
    for (query, param) in [
        ("fields=slider,nope", "fields"),
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("from=-1h&to=-2h", "from"),
        ("step=0", "step"),
        ("from=-7d&step=1s", "step"),
        ("format=xml", "format"),
    ] {
        let url = daemon.url(&format!("/api/history?{query}"));
        let response = daemon.http.get(url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let body = response.text().await.unwrap();
        assert!(
            body.starts_with(&format!("bad query: {param}: ")),
            "{query}: {body}"
        );
        assert_eq!(body.lines().count(), 1, "{body}");
    }

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(&config, "[history]\nenabled = false\n").unwrap();
    let off = Daemon::start(&["--config", config.to_str().unwrap(), "--input", "demo"]);
    let response = off.http.get(off.url("/api/history")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.text().await.unwrap(),
        "history is off ([history] enabled = false)\n"
    );
    assert!(!off.store().exists(), "no store is created");
}

#[tokio::test]
async fn a_second_daemon_on_the_same_store_stops_naming_it_and_the_first_goes_on() {
    let state = tempfile::tempdir().unwrap();
    let with_state = |command: &mut Command| {
        command.env("STATE_DIRECTORY", state.path());
    };
    let first = Daemon::start_with(&["--input", "demo"], with_state, None);
    wait_at_least(&first, STORED, 1).await;

    let output = Command::new(binary())
        .env("STATE_DIRECTORY", state.path())
        .args(["--input", "demo", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success(), "the second daemon started");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let store = state.path().join("history.sqlite");
    assert!(
        stderr.contains(&store.display().to_string()) && stderr.contains("in use"),
        "{stderr}"
    );
    let stored = first.metric(STORED).await;
    wait_at_least(&first, STORED, stored + 1).await;
    assert_eq!(first.get_text("/healthz").await, "ok\n");

    // Once the first is gone, however it went, the store is free.
    drop(first);
    let second = Daemon::start_with(&["--input", "demo"], with_state, None);
    wait_at_least(&second, STORED, 1).await;
}
