//! Answering a history request from the cheapest source that is exact for
//! its step: per-minute rollups when the step is whole minutes, per-second
//! rollups when it is whole seconds, else the raw chunks. Buckets are
//! aligned to the step, so a whole-minute step's buckets are whole minutes,
//! and merging rollups gives exactly what the raw changes would.
//!
//! Per-second rollups are kept a day (see [`super::retention`]), trimmed
//! whole seconds at a time: a whole-second step is answered from the raw
//! chunks before the oldest stored second and from the rollups from it on,
//! and its source is `raw` when the raw chunks gave any change.

use std::collections::HashMap;

use esplora_parser::Number;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use super::block::{Changes, Corrupt};
use super::bucket::{Agg, Buckets};
use super::chunk::{MAX_SPAN_MS, Stored};
use super::request::{BadParam, Request};
use super::writer::number;

/// Where an answer's aggregates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Raw,
    Second,
    Minute,
}

impl Source {
    /// The cheapest exact source for buckets of `step` ms.
    pub fn for_step(step: i64) -> Source {
        if step % 60_000 == 0 {
            Source::Minute
        } else if step % 1_000 == 0 {
            Source::Second
        } else {
            Source::Raw
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Raw => "raw",
            Source::Second => "second",
            Source::Minute => "minute",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Bad(#[from] BadParam),
    #[error(transparent)]
    Open(#[from] StoreError),
    #[error("cannot read the history store: {0}")]
    Store(#[from] rusqlite::Error),
    #[error(transparent)]
    Corrupt(#[from] Corrupt),
}

/// A field asked for: its id in the store and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub id: i64,
    pub name: String,
}

/// The fields a request names (or every stored field), checked against
/// the store: an unknown one is a bad `fields`.
pub fn fields(conn: &Connection, request: &Request) -> Result<Vec<Field>, QueryError> {
    let stored: Vec<Field> = conn
        .prepare_cached("SELECT id, name FROM field ORDER BY id")?
        .query_map([], |row| {
            Ok(Field {
                id: row.get(0)?,
                name: row.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let Some(names) = &request.fields else {
        return Ok(stored);
    };
    names
        .iter()
        .map(|name| {
            stored
                .iter()
                .find(|field| &field.name == name)
                .cloned()
                .ok_or_else(|| {
                    QueryError::Bad(BadParam::new(
                        "fields",
                        format!("no field named {name:?} is stored"),
                    ))
                })
        })
        .collect()
}

/// The buckets of each field, its last value before them, and the marks
/// among them.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub buckets: Buckets,
    pub source: Source,
    /// Per field, in the order asked: its name and one slot a bucket.
    pub fields: Vec<(String, Vec<Option<Agg>>)>,
    /// Per field: its last stored value before the first bucket.
    pub before: Vec<Option<Number>>,
    /// Marks in the buckets' span: time in ms and kind.
    pub marks: Vec<(i64, String)>,
}

/// Answers `buckets` of `fields`.
pub fn answer(conn: &Connection, fields: &[Field], buckets: Buckets) -> Result<Answer, QueryError> {
    let source = Source::for_step(buckets.step);
    let mut columns: Vec<Vec<Option<Agg>>> = vec![vec![None; buckets.count]; fields.len()];
    let source = match source {
        Source::Raw => {
            raw(conn, fields, buckets, buckets.end(), &mut columns)?;
            Source::Raw
        }
        Source::Second => {
            let oldest: Option<i64> =
                conn.query_row("SELECT min(t_s) FROM rollup_second", [], |row| row.get(0))?;
            let cut_ms = oldest.map_or(buckets.end(), |t_s| t_s.saturating_mul(1000));
            let from_raw = buckets.start < cut_ms
                && raw(
                    conn,
                    fields,
                    buckets,
                    cut_ms.min(buckets.end()),
                    &mut columns,
                )?;
            seconds(conn, fields, buckets, cut_ms, &mut columns)?;
            if from_raw {
                Source::Raw
            } else {
                Source::Second
            }
        }
        Source::Minute => {
            minutes(conn, fields, buckets, &mut columns)?;
            Source::Minute
        }
    };
    let before = before(conn, fields, buckets.start)?;
    let marks = conn
        .prepare_cached("SELECT t_ms, kind FROM mark WHERE t_ms >= ?1 AND t_ms < ?2 ORDER BY t_ms")?
        .query_map(params![buckets.start, buckets.end()], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(Answer {
        buckets,
        source,
        fields: fields
            .iter()
            .map(|field| field.name.clone())
            .zip(columns)
            .collect(),
        before,
        marks,
    })
}

/// Merges the raw changes before `end` ms into their buckets; true if
/// there were any.
fn raw(
    conn: &Connection,
    fields: &[Field],
    buckets: Buckets,
    end: i64,
    columns: &mut [Vec<Option<Agg>>],
) -> Result<bool, QueryError> {
    let mut any = false;
    raw_changes(conn, fields, buckets.start, end, |i, t, value| {
        if let Some(bucket) = buckets.index(t).filter(|_| t < end) {
            Agg::of(value).merge_into(&mut columns[i][bucket]);
            any = true;
        }
    })?;
    Ok(any)
}

/// Every change of `fields` in the raw chunks that reach into `from..to`
/// ms (some of their changes may lie outside it), chunk by chunk in time
/// order: `each(i, t_ms, value)` for `fields[i]`.
fn raw_changes(
    conn: &Connection,
    fields: &[Field],
    from: i64,
    to: i64,
    mut each: impl FnMut(usize, i64, Number),
) -> Result<(), QueryError> {
    let mut statement = conn.prepare_cached(
        "SELECT data FROM raw_chunk
         WHERE t_first_ms >= ?1 AND t_first_ms < ?2 AND t_last_ms >= ?3
         ORDER BY t_first_ms, id",
    )?;
    let mut rows = statement.query(params![from - MAX_SPAN_MS, to, from])?;
    let mut changes = Changes::default();
    while let Some(row) = rows.next()? {
        let stored = Stored::parse(row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?)?;
        let times = stored.times()?;
        for (i, field) in fields.iter().enumerate() {
            if stored.field(field.id, &times, &mut changes)? {
                for (&t, &value) in changes.times.iter().zip(&changes.values) {
                    each(i, t, value);
                }
            }
        }
    }
    Ok(())
}

/// Merges the per-second rollups from `start` ms on into their buckets.
fn seconds(
    conn: &Connection,
    fields: &[Field],
    buckets: Buckets,
    start: i64,
    columns: &mut [Vec<Option<Agg>>],
) -> Result<(), QueryError> {
    let wanted: HashMap<i64, usize> = fields.iter().enumerate().map(|(i, f)| (f.id, i)).collect();
    let mut statement = conn.prepare_cached(
        "SELECT t_s, min, max, sum, last, count, field FROM rollup_second
         WHERE t_s >= ?1 AND t_s < ?2 ORDER BY t_s",
    )?;
    let from_s = buckets.start.max(start).div_euclid(1000);
    let mut rows = statement.query(params![from_s, buckets.end().div_euclid(1000)])?;
    while let Some(row) = rows.next()? {
        let Some(&column) = wanted.get(&row.get::<_, i64>(6)?) else {
            continue;
        };
        add_rollup(row, buckets, &mut columns[column])?;
    }
    Ok(())
}

fn minutes(
    conn: &Connection,
    fields: &[Field],
    buckets: Buckets,
    columns: &mut [Vec<Option<Agg>>],
) -> Result<(), QueryError> {
    let mut statement = conn.prepare_cached(
        "SELECT t_s, min, max, sum, last, count FROM rollup_minute
         WHERE field = ?1 AND t_s >= ?2 AND t_s < ?3 ORDER BY t_s",
    )?;
    for (field, column) in fields.iter().zip(columns) {
        let mut rows = statement.query(params![
            field.id,
            buckets.start / 1000,
            buckets.end() / 1000
        ])?;
        while let Some(row) = rows.next()? {
            add_rollup(row, buckets, column)?;
        }
    }
    Ok(())
}

/// Merges a rollup row (`t_s, min, max, sum, last, count`) into its bucket.
fn add_rollup(row: &Row<'_>, buckets: Buckets, column: &mut [Option<Agg>]) -> rusqlite::Result<()> {
    let t_s: i64 = row.get(0)?;
    let Some(i) = buckets.index(t_s * 1000) else {
        return Ok(());
    };
    let value = |i: usize| -> rusqlite::Result<Number> {
        number(row.get_ref(i)?).ok_or(rusqlite::Error::InvalidColumnType(
            i,
            "rollup value".to_owned(),
            row.get_ref(i)?.data_type(),
        ))
    };
    let agg = Agg {
        min: value(1)?,
        max: value(2)?,
        sum: value(3)?,
        last: value(4)?,
        count: row.get::<_, i64>(5)?.max(0) as u64,
    };
    agg.merge_into(&mut column[i]);
    Ok(())
}

/// Each field's last stored value before `start`: the last change before
/// it in the raw chunks that reach into its minute, else the `last` of the
/// field's latest minute rollup before that minute (exact too: a minute
/// with a change has a rollup).
fn before(
    conn: &Connection,
    fields: &[Field],
    start: i64,
) -> Result<Vec<Option<Number>>, QueryError> {
    let minute = start.div_euclid(60_000) * 60_000;
    let mut last: Vec<Option<(i64, Number)>> = vec![None; fields.len()];
    raw_changes(conn, fields, minute, start, |i, t, value| {
        if t < start && last[i].is_none_or(|(at, _)| t >= at) {
            last[i] = Some((t, value));
        }
    })?;
    let mut statement = conn.prepare_cached(
        "SELECT last FROM rollup_minute WHERE field = ?1 AND t_s < ?2
         ORDER BY t_s DESC LIMIT 1",
    )?;
    fields
        .iter()
        .zip(last)
        .map(|(field, last)| match last {
            Some((_, value)) => Ok(Some(value)),
            None => Ok(statement
                .query_row(params![field.id, minute.div_euclid(1000)], |row| {
                    Ok(number(row.get_ref(0)?))
                })
                .optional()?
                .flatten()),
        })
        .collect()
}
