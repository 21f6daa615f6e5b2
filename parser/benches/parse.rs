//! The parser alone: lines a second and bytes a second, on the sample
//! captures and on a million generated lines.
//!
//! `cargo bench -p esplora-parser` for full runs; CI runs each once, in
//! criterion's test mode.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use esplora_parser::{LineFramer, Number, format_line, parse_line};

fn capture(name: &str) -> Vec<u8> {
    let path = format!("{}/../tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {path}: {error}"))
}

/// A million board lines with moving values, every other one with `n` and
/// every third with a checksum, like the sketch's stream.
fn million_lines() -> Vec<u8> {
    let mut out = Vec::with_capacity(70_000_000);
    for i in 0..1_000_000i64 {
        let fields = [
            ("s", i % 1024),
            ("x", i % 7 - 3),
            ("y", 3 - i % 5),
            ("z", 120 + i % 9),
            ("j", 0),
            ("k", (i % 300) - 150),
            ("l", 600 + i % 200),
            ("m", i % 50),
            ("t", 72),
            ("u", i % 4),
            ("b", i % 32),
        ];
        let fields = fields.map(|(key, value)| (key, Number::Int(value)));
        let seq = (i % 2 == 0).then_some((i % 65536) as u16);
        out.extend_from_slice(format_line(&fields, seq, i % 3 == 0).as_bytes());
        out.push(b'\n');
    }
    out
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .collect()
}

fn bench_parse(c: &mut Criterion) {
    let inputs = [
        ("100hz-60s", capture("esplora-100hz-60s.log")),
        ("messy-sample", capture("esplora-messy-sample.log")),
        ("plotter-3-fields", capture("plotter-3-fields.log")),
        ("1M-lines", million_lines()),
    ];
    for (unit, throughput) in [("lines", false), ("bytes", true)] {
        let mut group = c.benchmark_group(format!("parse_line/{unit}"));
        for (name, bytes) in &inputs {
            let lines = lines(bytes);
            group.throughput(if throughput {
                Throughput::Bytes(bytes.len() as u64)
            } else {
                Throughput::Elements(lines.len() as u64)
            });
            group.bench_function(*name, |b| {
                b.iter(|| {
                    let mut accepted = 0usize;
                    for line in &lines {
                        accepted += usize::from(parse_line(black_box(line)).is_ok());
                    }
                    accepted
                })
            });
        }
        group.finish();
    }

    let mut group = c.benchmark_group("frame_and_parse/lines");
    for (name, bytes) in &inputs {
        group.throughput(Throughput::Elements(lines(bytes).len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                let mut framer = LineFramer::new();
                let mut accepted = 0usize;
                // Serial reads come in small chunks.
                for chunk in bytes.chunks(4096) {
                    framer.push(black_box(chunk), |line| {
                        accepted += usize::from(line.is_ok_and(|line| parse_line(line).is_ok()));
                    });
                }
                framer.finish(|_| {});
                accepted
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
