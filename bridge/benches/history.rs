//! The history store: what ingest costs the writer thread and the
//! pipeline, how much a week at 100 Hz x 12 fields takes on disk, and how
//! long `/api/history`'s queries take with that week in the store.
//!
//! `cargo bench -p esplora-bridge --bench history` fills a store with a
//! synthetic week first (a few minutes; kept in `CARGO_TARGET_TMPDIR` and
//! reused while its size is the same), and prints its size and bytes per
//! stored change. CI runs it in criterion's test mode, with an hour instead
//! of a week.
//!
//! The week is the demo board (`--input demo`: the slider sweeping, the
//! accelerometer jittering, the odd tilt, joystick push and button press;
//! 11 integer fields) through the real parser and diff, plus a 12th field a
//! Serial Plotter sketch would print, `temp_C` with two decimals and noise.
//! Arrival times are 10 ms apart with 0-2 ms of jitter.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use esplora_bridge::source::demo::Board;
use esplora_bridge::store::metrics::Metrics;
use esplora_bridge::store::request::{MAX_BUCKETS, Request};
use esplora_bridge::store::retention::{Retention, used_bytes};
use esplora_bridge::store::writer::Writer;
use esplora_bridge::store::{History, Record, query, render, schema};
use esplora_bridge::transform::diff::Diff;
use esplora_bridge::transform::{Name, Values};
use esplora_config::{HistoryConfig, Names};
use esplora_parser::{Number, parse_line};
use prometheus_client::registry::Registry;

/// The end of the synthetic week: 2026-12-02T00:00:00Z.
const END: i64 = 1_796_169_600_000;
const DAY: i64 = 86_400_000;

/// Whether this is a full run (`cargo bench`) rather than test mode
/// (`cargo test --benches` in CI, or `cargo bench -- --test`).
fn full_run() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|arg| arg == "--bench") && !args.iter().any(|arg| arg == "--test")
}

/// Lines of the demo board with a decimal 12th field, as changes.
struct Lines {
    board: Board,
    diff: Diff,
    changes: Values,
    temp: Name,
    last_temp: f64,
    noise: u64,
    tick: i64,
}

impl Lines {
    fn new(seed: u64) -> Lines {
        Lines {
            board: Board::seeded(seed),
            diff: Diff::new(Names::default(), BTreeMap::new()),
            changes: Values::new(),
            temp: Name::from("temp_C"),
            last_temp: f64::NAN,
            noise: seed,
            tick: 0,
        }
    }

    fn random(&mut self, below: u64) -> i64 {
        self.noise = self
            .noise
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.noise >> 33) % below) as i64
    }

    /// The next line's changes and its arrival offset in ms, `every_ms` after the last.
    fn next(&mut self, every_ms: i64) -> (i64, &Values) {
        let line = self.board.next_line();
        let reading = parse_line(line.as_bytes()).expect("the demo board's lines parse");
        self.changes.clear();
        self.diff
            .apply(&reading.fields, &mut self.changes)
            .expect("the demo board's lines diff");
        let t = self.tick as f64 / 100.0;
        let centi = 2350.0 + 150.0 * (t / 600.0).sin() + (self.random(11) - 5) as f64;
        let temp = centi.round() / 100.0;
        if temp != self.last_temp {
            self.last_temp = temp;
            self.changes.set(self.temp, Number::Float(temp));
        }
        self.tick += 1;
        let at = self.tick * every_ms + self.random(3);
        (at, &self.changes)
    }
}

/// Histograms of what a chunk stores, for their entropy: the fewest bits
/// a lossless store of these deltas needs. Each field's value deltas and
/// line gaps (which lines it changed in), and the lines' time deltas.
#[derive(Default)]
struct Entropy {
    /// Per field: the line it last changed in, and its value then.
    last: BTreeMap<String, (i64, i64)>,
    line: i64,
    last_t: Option<i64>,
    values: Histograms,
    gaps: Histograms,
    times: Histograms,
}

#[derive(Default)]
struct Histograms(BTreeMap<String, std::collections::HashMap<i64, u64>>);

impl Histograms {
    fn add(&mut self, field: &str, delta: i64) {
        if !self.0.contains_key(field) {
            self.0.insert(field.to_owned(), Default::default());
        }
        if let Some(histogram) = self.0.get_mut(field) {
            *histogram.entry(delta).or_default() += 1;
        }
    }

    /// Shannon entropy of every histogram, summed, in bytes.
    fn bytes(&self) -> f64 {
        let mut bits = 0.0;
        for histogram in self.0.values() {
            let total: u64 = histogram.values().sum();
            for &n in histogram.values() {
                let p = n as f64 / total as f64;
                bits -= n as f64 * p.log2();
            }
        }
        bits / 8.0
    }
}

impl Entropy {
    fn add(&mut self, t_ms: i64, values: &Values) {
        if let Some(t) = self.last_t.replace(t_ms) {
            self.times.add("line", t_ms - t);
        }
        for (name, value) in values.iter() {
            let name: &str = &name;
            let scaled = match value {
                Number::Int(v) => v,
                Number::Float(v) => (v * 100.0).round() as i64,
            };
            if let Some(&(line, v)) = self.last.get(name) {
                self.values.add(name, scaled - v);
                self.gaps.add(name, self.line - line);
            }
            self.last.insert(name.to_owned(), (self.line, scaled));
        }
        self.line += 1;
    }
}

fn writer(path: &Path) -> Writer {
    let conn = schema::open_writer(path).expect("the bench store opens");
    let metrics = Metrics::register(&mut Registry::default());
    Writer::new(conn, metrics, Retention::new(&HistoryConfig::default()))
}

/// A store holding `lines` lines at 100 Hz ending at [`END`]; made once.
fn filled_store(lines: i64) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("history-v{}-{lines}-lines.sqlite", schema::VERSION));
    let done = dir.join(format!("history-v{}-{lines}-lines.done", schema::VERSION));
    if done.exists() && path.exists() {
        return path;
    }
    for stale in [&path, &done] {
        let _ = std::fs::remove_file(stale);
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let started = Instant::now();
    let mut writer = writer(&path);
    let mut lines_of = Lines::new(1);
    let start = END - lines * 10;
    let mut changes = 0u64;
    let mut entropy = Entropy::default();
    for i in 0..lines {
        let (at, values) = lines_of.next(10);
        changes += values.len() as u64;
        entropy.add(start + at, values);
        writer.take(Record::Changes {
            t_ms: start + at,
            values: values.clone(),
        });
        // A commit and a retention step a simulated minute: the same file
        // as one a second, since a full chunk is written whole in place of
        // its commits' small chunks, and the per-second rollups are
        // trimmed to a day as they go.
        if i % 6_000 == 5_999 {
            writer.commit();
            writer.trim(start + at);
        }
    }
    writer.close();
    writer.commit();
    drop(writer);
    let conn = rusqlite::Connection::open(&path).expect("the bench store opens");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("a checkpoint");
    let file = std::fs::metadata(&path).expect("the store exists").len();
    println!(
        "filled {} with {lines} lines, {changes} changes in {:.0?}: {:.1} MB, {:.3} bytes a change \
         ({} used)",
        path.display(),
        started.elapsed(),
        file as f64 / 1e6,
        file as f64 / changes as f64,
        used_bytes(&conn).unwrap_or(0),
    );
    print_tables(&conn, changes);
    println!(
        "  entropy of what the chunks store, as deltas (a bound for any store of them): \
         values {:.3}, fields' line gaps {:.3}, line times {:.3} bytes a change",
        entropy.values.bytes() / changes as f64,
        entropy.gaps.bytes() / changes as f64,
        entropy.times.bytes() / changes as f64,
    );
    std::fs::write(&done, "").expect("the marker is written");
    path
}

/// Each table's and index's share of the file (SQLite's dbstat).
fn print_tables(conn: &rusqlite::Connection, changes: u64) {
    let Ok(mut statement) = conn
        .prepare("SELECT name, sum(pgsize), sum(ncell) FROM dbstat GROUP BY name ORDER BY 2 DESC")
    else {
        println!("(no dbstat in this SQLite)");
        return;
    };
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .expect("dbstat reads");
    for (name, bytes, cells) in rows.flatten() {
        println!(
            "  {name:<24} {:>8.1} MB {:>10} cells {:.3} bytes a change",
            bytes as f64 / 1e6,
            cells,
            bytes as f64 / changes as f64
        );
    }
}

/// One simulated second of 1 kHz x 12 fields through the writer: take,
/// commit, and a retention step, as its thread does every second.
fn bench_ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut second: Vec<(i64, Values)> = Vec::with_capacity(1_000);
    let mut lines = Lines::new(2);
    for _ in 0..1_000 {
        let (at, values) = lines.next(1);
        second.push((at, values.clone()));
    }
    let changes: usize = second.iter().map(|(_, v)| v.len()).sum();
    println!("one second at 1 kHz: {changes} changes");
    let mut writer = writer(&dir.path().join("ingest.sqlite"));
    let retention = Retention::new(&HistoryConfig::default());
    let metrics = Metrics::register(&mut Registry::default());
    let mut offset = END;
    c.bench_function(
        "history/ingest/1s at 1 kHz x 12 fields (writer thread)",
        |b| {
            b.iter_custom(|seconds| {
                let started = Instant::now();
                for _ in 0..seconds {
                    for (at, values) in &second {
                        writer.take(Record::Changes {
                            t_ms: offset + at,
                            values: values.clone(),
                        });
                    }
                    writer.commit();
                    offset += 1_000;
                }
                started.elapsed()
            })
        },
    );
    let conn = rusqlite::Connection::open(dir.path().join("ingest.sqlite")).expect("opens");
    c.bench_function("history/ingest/retention step", |b| {
        b.iter(|| retention.step(&conn, offset, &metrics))
    });

    // The pipeline's side: a clone and a try_send a line, while the real
    // writer thread drains the queue.
    let mut registry = Registry::default();
    let mut history = History::open(
        dir.path().join("recorder.sqlite"),
        &HistoryConfig::default(),
        &mut registry,
    )
    .expect("the store opens");
    let mut recorder = history.recorder().expect("a recorder");
    c.bench_function("history/record/1s at 1 kHz x 12 fields (pipeline)", |b| {
        b.iter_custom(|seconds| {
            let mut spent = Duration::ZERO;
            for _ in 0..seconds {
                let started = Instant::now();
                for (at, values) in &second {
                    recorder.changes(offset + at, values);
                }
                spent += started.elapsed();
                offset += 1_000;
                // Let the writer keep up, as it does at 1 kHz.
                std::thread::sleep(Duration::from_millis(5));
            }
            spent
        })
    });
    drop(recorder);
    history.close();
}

/// Queries as `/api/history` answers them, JSON rendering included, with
/// the whole week in the store.
fn bench_query(c: &mut Criterion) {
    let lines = if full_run() { 7 * 8_640_000 } else { 360_000 };
    let path = filled_store(lines);
    let conn = schema::open_reader(&path).expect("the store opens");
    let mut group = c.benchmark_group("history/query");
    for (name, span, step) in [
        (
            "7d, 3 fields, default step (15 min, minute rollups)",
            7 * DAY,
            None,
        ),
        (
            "24h, 3 fields, default step (2 min, minute rollups)",
            DAY,
            None,
        ),
        ("24h, 3 fields, 90 s (second rollups)", DAY, Some("90s")),
        (
            "48h, 3 fields, 90 s (raw chunks past a day, then second rollups)",
            2 * DAY,
            Some("90s"),
        ),
        (
            "1h, 3 fields, default step (5 s, second rollups)",
            DAY / 24,
            None,
        ),
        (
            "1 min, 3 fields, default step (100 ms, raw chunks)",
            60_000,
            None,
        ),
    ] {
        let from = (END - span).to_string();
        let end = END.to_string();
        let mut params = vec![
            ("fields", "slider,accel_x,temp_C"),
            ("from", from.as_str()),
            ("to", end.as_str()),
        ];
        if let Some(step) = step {
            params.push(("step", step));
        }
        let request = Request::parse(params, END, Some(MAX_BUCKETS)).expect("a good request");
        group.bench_function(name, |b| {
            b.iter(|| {
                let fields = query::fields(&conn, &request).expect("the fields are stored");
                let answer = query::answer(&conn, &fields, request.buckets).expect("answered");
                black_box(render::json(&answer))
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = bench_ingest, bench_query
}
criterion_main!(benches);
