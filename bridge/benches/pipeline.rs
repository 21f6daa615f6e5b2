//! The daemon's hot path without I/O: the transforms a line goes through,
//! and the hub's fan-out of one event to many clients.
//!
//! `cargo bench -p esplora-bridge --bench pipeline` for full runs; CI runs
//! each once, in criterion's test mode.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Bencher, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use esplora_bridge::hub::Hub;
use esplora_bridge::metrics::Metrics;
use esplora_bridge::transform::diff::Diff;
use esplora_bridge::transform::throttle::Throttle;
use esplora_bridge::transform::{Name, Values};
use esplora_config::Names;
use esplora_parser::{LineFramer, parse_line};

fn capture_named(name: &str) -> Vec<u8> {
    let path = format!("{}/../tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {path}: {error}"))
}

fn capture() -> Vec<u8> {
    capture_named("esplora-100hz-60s.log")
}

fn lines_of(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .collect()
}

/// Parses and diffs every line, as the pipeline does before the throttle.
fn parse_and_diff(b: &mut Bencher, lines: &[&[u8]]) {
    let mut diff = Diff::new(Names::default(), BTreeMap::new());
    let mut changes = Values::new();
    b.iter(|| {
        let mut changed = 0;
        for line in lines {
            if let Ok(reading) = parse_line(black_box(line)) {
                changes.clear();
                if diff.apply(&reading.fields, &mut changes).is_ok() {
                    changed += changes.len();
                }
            }
        }
        changed
    })
}

fn bench_transforms(c: &mut Criterion) {
    let bytes = capture();
    let lines = lines_of(&bytes);
    let mut group = c.benchmark_group("transforms/lines");
    group.throughput(Throughput::Elements(lines.len() as u64));

    group.bench_function("parse+diff", |b| parse_and_diff(b, &lines));

    group.bench_function("frame+parse+diff+throttle", |b| {
        let mut diff = Diff::new(Names::default(), BTreeMap::new());
        let mut throttle = Throttle::new(50.0);
        let mut changes = Values::new();
        let mut now = Instant::now();
        b.iter(|| {
            let mut framer = LineFramer::new();
            let mut published = 0;
            for chunk in bytes.chunks(4096) {
                framer.push(black_box(chunk), |line| {
                    let Ok(Ok(reading)) = line.map(parse_line) else {
                        return;
                    };
                    changes.clear();
                    if diff.apply(&reading.fields, &mut changes).is_ok() {
                        // The board's pace: one line every 10 ms.
                        now += Duration::from_millis(10);
                        published += usize::from(throttle.push(&changes, now).is_some());
                    }
                });
            }
            published
        })
    });
    group.finish();
}

/// A three-field Serial Plotter sketch (decimals, `nan`s, debug prints and
/// one fault of each kind): parse and diff, as for the Esplora.
fn bench_plotter(c: &mut Criterion) {
    let bytes = capture_named("plotter-3-fields.log");
    let lines = lines_of(&bytes);
    let mut group = c.benchmark_group("transforms/plotter-lines");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("parse+diff", |b| parse_and_diff(b, &lines));
    group.finish();
}

fn bench_fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout/deliveries");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|error| panic!("cannot start a runtime: {error}"));
    let _guard = runtime.enter();
    let slider = Name::from("slider");
    for clients in [1usize, 100, 1000] {
        let hub = Hub::new(1024, Arc::new(Metrics::new()));
        let mut receivers: Vec<_> = (0..clients).map(|_| hub.subscribe().events).collect();
        let mut delta = Values::new();
        let mut value = 0i64;
        group.throughput(Throughput::Elements(clients as u64));
        group.bench_function(BenchmarkId::from_parameter(clients), |b| {
            b.iter(|| {
                value += 1;
                delta.set(slider, value);
                hub.publish_delta(&delta);
                let mut bytes = 0;
                for receiver in &mut receivers {
                    if let Ok(event) = receiver.try_recv() {
                        bytes += event.json.len();
                    }
                }
                bytes
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_transforms, bench_plotter, bench_fanout);
criterion_main!(benches);
