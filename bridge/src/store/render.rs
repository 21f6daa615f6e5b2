//! An [`Answer`] as text: columnar JSON, CSV or NDJSON, as the history API
//! contract (HISTORY-API.md, the README) spells them. `/api/history` and
//! `export` write through these same functions, so their bytes agree; the
//! CSV and NDJSON come in a head and rows, so that `export` can write a long
//! range a slice of buckets at a time.

use std::fmt::Write;

use esplora_parser::Number;

use super::bucket::Agg;
use super::query::Answer;

/// Writes one aggregate's part (min, max, ...) of a bucket.
type Part = fn(&Agg, &mut String);

/// The whole JSON answer.
pub fn json(answer: &Answer) -> String {
    let buckets = answer.buckets;
    let mut out = String::with_capacity(64 + buckets.count * (16 + 40 * answer.fields.len()));
    let _ = write!(
        out,
        r#"{{"from":{},"to":{},"step":{},"source":"{}","t":["#,
        buckets.start,
        buckets.end(),
        buckets.step,
        answer.source.as_str()
    );
    join(&mut out, buckets.starts(), |out, t| {
        let _ = write!(out, "{t}");
    });
    out.push_str(r#"],"fields":{"#);
    join(&mut out, answer.fields.iter(), |out, (name, column)| {
        push_json_string(out, name);
        out.push_str(":{");
        let parts: [(&str, Part); 5] = [
            ("min", |a, out| push_number(out, a.min)),
            ("max", |a, out| push_number(out, a.max)),
            ("mean", |a, out| push_mean(out, a)),
            ("last", |a, out| push_number(out, a.last)),
            ("count", |a, out| {
                let _ = write!(out, "{}", a.count);
            }),
        ];
        join(out, parts.iter(), |out, (key, write)| {
            let _ = write!(out, r#""{key}":["#);
            join(out, column.iter(), |out, slot| match slot {
                Some(agg) => write(agg, out),
                None if *key == "count" => out.push('0'),
                None => out.push_str("null"),
            });
            out.push(']');
        });
        out.push('}');
    });
    out.push_str(r#"},"before":{"#);
    join(
        &mut out,
        answer.fields.iter().zip(&answer.before),
        |out, ((name, _), before)| {
            push_json_string(out, name);
            out.push(':');
            match before {
                Some(value) => push_number(out, *value),
                None => out.push_str("null"),
            }
        },
    );
    out.push_str(r#"},"marks":["#);
    join(&mut out, answer.marks.iter(), |out, (t, kind)| {
        let _ = write!(out, r#"{{"t_ms":{t},"kind":"#);
        push_json_string(out, kind);
        out.push('}');
    });
    out.push_str("]}");
    out
}

/// The CSV header line of these fields.
pub fn csv_head<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("time");
    for name in fields {
        for part in ["min", "max", "mean", "last", "count"] {
            out.push(',');
            push_csv_cell(&mut out, &format!("{name}.{part}"));
        }
    }
    out.push('\n');
    out
}

/// A CSV line a bucket.
pub fn csv_rows(answer: &Answer, out: &mut String) {
    for (i, t) in answer.buckets.starts().enumerate() {
        push_iso(out, t);
        for (_, column) in &answer.fields {
            match &column[i] {
                Some(agg) => {
                    out.push(',');
                    push_number(out, agg.min);
                    out.push(',');
                    push_number(out, agg.max);
                    out.push(',');
                    push_mean(out, agg);
                    out.push(',');
                    push_number(out, agg.last);
                    let _ = write!(out, ",{}", agg.count);
                }
                None => out.push_str(",,,,,0"),
            }
        }
        out.push('\n');
    }
}

/// A JSON line a bucket.
pub fn ndjson_rows(answer: &Answer, out: &mut String) {
    for (i, t) in answer.buckets.starts().enumerate() {
        out.push_str(r#"{"time":""#);
        push_iso(out, t);
        let _ = write!(out, r#"","t_ms":{t},"values":{{"#);
        join(out, answer.fields.iter(), |out, (name, column)| {
            push_json_string(out, name);
            match &column[i] {
                Some(agg) => {
                    out.push_str(r#":{"min":"#);
                    push_number(out, agg.min);
                    out.push_str(r#","max":"#);
                    push_number(out, agg.max);
                    out.push_str(r#","mean":"#);
                    push_mean(out, agg);
                    out.push_str(r#","last":"#);
                    push_number(out, agg.last);
                    let _ = write!(out, r#","count":{}}}"#, agg.count);
                }
                None => out.push_str(r#":{"count":0}"#),
            }
        });
        out.push_str("}}\n");
    }
}

fn join<T>(out: &mut String, items: impl Iterator<Item = T>, mut each: impl FnMut(&mut String, T)) {
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(out, item);
    }
}

/// An integer as an integer, a decimal with its point (`41.0`).
fn push_number(out: &mut String, number: Number) {
    let _ = write!(out, "{number}");
}

fn push_mean(out: &mut String, agg: &Agg) {
    push_number(out, Number::Float(agg.mean()));
}

fn push_json_string(out: &mut String, text: &str) {
    // Serializing a str into a String cannot fail.
    out.push_str(&serde_json::to_string(text).unwrap_or_default());
}

/// ISO 8601 UTC with ms: `2026-12-02T01:00:00.000Z`.
fn push_iso(out: &mut String, t_ms: i64) {
    match jiff::Timestamp::from_millisecond(t_ms) {
        Ok(t) => {
            let _ = write!(out, "{t:.3}");
        }
        Err(_) => {
            let _ = write!(out, "{t_ms}");
        }
    }
}

/// A cell quoted when RFC 4180 needs it.
fn push_csv_cell(out: &mut String, text: &str) {
    if text.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::bucket::Buckets;
    use crate::store::query::Source;

    fn answer() -> Answer {
        let mut a = Agg::of(Number::Int(3));
        a.push(Number::Int(6));
        Answer {
            buckets: Buckets::covering(1_796_173_200_000, 1_796_173_202_000, 1_000),
            source: Source::Second,
            fields: vec![
                ("slider".to_owned(), vec![Some(a), None]),
                (
                    "t,\"C\"".to_owned(),
                    vec![None, Some(Agg::of(Number::Float(23.5)))],
                ),
            ],
            before: vec![Some(Number::Int(2)), None],
            marks: vec![(1_796_173_200_500, "board_connected".to_owned())],
        }
    }

    #[test]
    fn json_is_columnar_with_nulls_where_nothing_was_stored() {
        let json: serde_json::Value = serde_json::from_str(&super::json(&answer())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "from": 1_796_173_200_000i64, "to": 1_796_173_202_000i64, "step": 1000,
                "source": "second", "t": [1_796_173_200_000i64, 1_796_173_201_000i64],
                "fields": {
                    "slider": {"min": [3, null], "max": [6, null], "mean": [4.5, null],
                               "last": [6, null], "count": [2, 0]},
                    "t,\"C\"": {"min": [null, 23.5], "max": [null, 23.5], "mean": [null, 23.5],
                                "last": [null, 23.5], "count": [0, 1]}
                },
                "before": {"slider": 2, "t,\"C\"": null},
                "marks": [{"t_ms": 1_796_173_200_500i64, "kind": "board_connected"}]
            })
        );
    }

    #[test]
    fn csv_has_iso_times_quoted_headers_and_empty_cells() {
        let answer = answer();
        let mut csv = csv_head(answer.fields.iter().map(|(name, _)| name.as_str()));
        csv_rows(&answer, &mut csv);
        assert_eq!(
            csv,
            "time,slider.min,slider.max,slider.mean,slider.last,slider.count,\
             \"t,\"\"C\"\".min\",\"t,\"\"C\"\".max\",\"t,\"\"C\"\".mean\",\"t,\"\"C\"\".last\",\"t,\"\"C\"\".count\"\n\
             2026-12-02T01:00:00.000Z,3,6,4.5,6,2,,,,,0\n\
             2026-12-02T01:00:01.000Z,,,,,0,23.5,23.5,23.5,23.5,1\n"
        );
    }

    #[test]
    fn ndjson_is_a_line_a_bucket() {
        let mut out = String::new();
        ndjson_rows(&answer(), &mut out);
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(
            lines[0],
            serde_json::json!({"time": "2026-12-02T01:00:00.000Z", "t_ms": 1_796_173_200_000i64,
                "values": {"slider": {"min": 3, "max": 6, "mean": 4.5, "last": 6, "count": 2},
                           "t,\"C\"": {"count": 0}}})
        );
        assert_eq!(lines.len(), 2);
        assert!(out.contains(r#""min":23.5"#));
    }
}
