//! The writer: the one thread that writes the store, fed by a bounded queue.
//!
//! It gathers what arrives into memory (the open chunk's lines, and each
//! field's current second and minute aggregates) and commits it all in one
//! transaction at least every [`FLUSH_EVERY`], so `kill -9` loses at most
//! about a second.
//!
//! Each commit writes the lines that came since the last one as a small
//! chunk of their own, quickly compressed, so a commit writes about what
//! arrived, never the whole open chunk again. When the open chunk is full
//! (see [`Chunk::fits`]), the next commit writes it whole, at the best
//! compression, in place of its small chunks: from the line after the last
//! small chunk that trimming deleted meanwhile (retention, `max_bytes`), so
//! that trimmed lines never come back. A crash leaves the last small
//! chunks as they are: every chunk decodes alone, so they are read like the
//! rest. Rollups are written as merges (`ON CONFLICT DO UPDATE`): each
//! commit adds what came since the last one, which keeps them right across
//! a restart in the middle of a minute.
//!
//! A commit that fails (a full or failing disk) is rolled back, logged
//! (rate-limited) and counted; what it held is lost, the in-memory state
//! starts afresh, and the next second is tried again. Nothing here ever
//! reaches back to the pipeline: its side of the queue never blocks.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use esplora_parser::Number;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Transaction, params};
use tracing::warn;

use super::bucket::Agg;
use super::chunk::Chunk;
use super::metrics::{Metrics, Outcome, WriteResult};
use super::retention::Retention;
use super::{MarkKind, Record};
use crate::transform::parse::WarnLimit;
use crate::transform::{Name, Values};

/// How often what arrived is committed.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// One field's aggregates since the last commit, for this second and this
/// minute, by bucket start in seconds.
#[derive(Default)]
struct Current {
    second: Option<(i64, Agg)>,
    minute: Option<(i64, Agg)>,
}

/// A rollup to merge into its table at the next commit.
struct Rollup {
    table: Table,
    t_s: i64,
    field: Name,
    agg: Agg,
}

#[derive(Clone, Copy)]
enum Table {
    Second,
    Minute,
}

/// A small chunk in the file: its row, and the open chunk's line it
/// starts at.
#[derive(Clone, Copy)]
struct Small {
    row: i64,
    first_line: usize,
}

/// A full chunk, to be written whole in place of its small chunks.
struct Full {
    chunk: Chunk,
    smalls: Vec<Small>,
    /// Its lines in the small chunks: the first `written`.
    written: usize,
}

pub struct Writer {
    conn: Connection,
    metrics: Metrics,
    retention: Retention,
    /// The lines of the open chunk; the first `written` of them are in the
    /// file as the small chunks `smalls`.
    open: Chunk,
    written: usize,
    smalls: Vec<Small>,
    full: Vec<Full>,
    current: HashMap<Name, Current>,
    /// Field name -> its `field.id`, as committed.
    ids: HashMap<Name, i64>,
    /// Fields seen since the last commit, in the order they came, so that
    /// their ids (and the default order of answers) follow the board's.
    new: Vec<Name>,
    rollups: Vec<Rollup>,
    marks: Vec<(i64, MarkKind)>,
    /// Changes taken since the last commit.
    pending: u64,
    warnings: WarnLimit,
}

impl Writer {
    pub fn new(conn: Connection, metrics: Metrics, retention: Retention) -> Writer {
        Writer {
            conn,
            metrics,
            retention,
            open: Chunk::default(),
            written: 0,
            smalls: Vec::new(),
            full: Vec::new(),
            current: HashMap::new(),
            ids: HashMap::new(),
            new: Vec::new(),
            rollups: Vec::new(),
            marks: Vec::new(),
            pending: 0,
            warnings: WarnLimit::default(),
        }
    }

    /// Runs until every sender is gone, then commits what is left, the
    /// open chunk written whole.
    pub fn run(mut self, records: Receiver<Record>, clock: fn() -> i64) {
        let mut next = Instant::now() + FLUSH_EVERY;
        loop {
            match records.recv_timeout(next.saturating_duration_since(Instant::now())) {
                Ok(record) => self.take(record),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // A full chunk is committed at once: at a flood's rate another
            // could fill before the second is out, and each holds its lines.
            if Instant::now() >= next || !self.full.is_empty() {
                self.commit();
                self.trim(clock());
                next = Instant::now() + FLUSH_EVERY;
            }
        }
        self.close();
        self.commit();
    }

    /// One retention step at `now_ms` (see [`Retention::step`]).
    pub fn trim(&self, now_ms: i64) {
        self.retention.step(&self.conn, now_ms, &self.metrics);
    }

    /// Takes one record into memory.
    pub fn take(&mut self, record: Record) {
        match record {
            Record::Changes { t_ms, values } => self.line(t_ms, &values),
            Record::Mark { t_ms, kind } => self.marks.push((t_ms, kind)),
        }
    }

    fn line(&mut self, t_ms: i64, values: &Values) {
        if !self.open.fits(t_ms, values) {
            self.close();
        }
        self.open.push(t_ms, values);
        self.pending += values.len() as u64;
        let t_s = t_ms.div_euclid(1000);
        for (name, value) in values.iter() {
            let current = match self.current.get_mut(&name) {
                Some(current) => current,
                None => {
                    self.new.push(name);
                    self.current.entry(name).or_default()
                }
            };
            for (slot, table, start) in [
                (&mut current.second, Table::Second, t_s),
                (&mut current.minute, Table::Minute, t_s.div_euclid(60) * 60),
            ] {
                match slot {
                    Some((t, agg)) if *t == start => agg.push(value),
                    _ => {
                        if let Some((t_s, agg)) = slot.replace((start, Agg::of(value))) {
                            self.rollups.push(Rollup {
                                table,
                                t_s,
                                field: name,
                                agg,
                            });
                        }
                    }
                }
            }
        }
    }

    /// Marks the open chunk full, so that the next commit writes it whole.
    pub fn close(&mut self) {
        if !self.open.is_empty() {
            self.full.push(Full {
                chunk: std::mem::take(&mut self.open),
                smalls: std::mem::take(&mut self.smalls),
                written: self.written,
            });
        }
        self.written = 0;
    }

    /// Commits what came since the last commit; on failure, counts and
    /// logs it and starts afresh.
    pub fn commit(&mut self) {
        for (name, current) in &mut self.current {
            for (slot, table) in [
                (&mut current.second, Table::Second),
                (&mut current.minute, Table::Minute),
            ] {
                if let Some((t_s, agg)) = slot.take() {
                    self.rollups.push(Rollup {
                        table,
                        t_s,
                        field: *name,
                        agg,
                    });
                }
            }
        }
        if self.pending == 0 && self.marks.is_empty() && self.full.is_empty() {
            return;
        }
        let result = self.write();
        let values = std::mem::take(&mut self.pending);
        match result {
            Ok(()) => {
                self.metrics.write(WriteResult::ok);
                self.metrics.values(Outcome::stored, values);
            }
            Err(error) => {
                self.metrics.write(WriteResult::failed);
                self.metrics.values(Outcome::write_failed, values);
                let now = Instant::now();
                if let Some(suppressed) = self.warnings.roll(now) {
                    warn!(suppressed, "more history writes failed and were not logged");
                }
                if self.warnings.allow() {
                    warn!(values, "cannot write history, dropping this batch: {error}");
                }
                // The small chunks already in the file stay, as they are.
                self.open = Chunk::default();
                self.written = 0;
                self.smalls.clear();
                self.current.clear();
                self.ids.clear();
            }
        }
        self.new.clear();
        self.full.clear();
        self.rollups.clear();
        self.marks.clear();
    }

    fn write(&mut self) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        for name in &self.new {
            field_id(&tx, &mut self.ids, name)?;
        }
        for full in &self.full {
            // The lines of a small chunk trimmed meanwhile, and those
            // before it, are not written again.
            let mut from = 0;
            for (i, small) in full.smalls.iter().enumerate() {
                let deleted = tx
                    .prepare_cached("DELETE FROM raw_chunk WHERE id = ?1")?
                    .execute([small.row])?;
                if deleted == 0 {
                    from = full
                        .smalls
                        .get(i + 1)
                        .map_or(full.written, |next| next.first_line);
                }
            }
            write_chunk(&tx, &mut self.ids, &full.chunk, from, true)?;
        }
        if let Some(row) = write_chunk(&tx, &mut self.ids, &self.open, self.written, false)? {
            self.smalls.push(Small {
                row,
                first_line: self.written,
            });
        }
        for rollup in &self.rollups {
            let id = field_id(&tx, &mut self.ids, &rollup.field)?;
            let sql = match rollup.table {
                Table::Second => UPSERT_SECOND,
                Table::Minute => UPSERT_MINUTE,
            };
            let agg = &rollup.agg;
            tx.prepare_cached(sql)?.execute(params![
                rollup.t_s,
                id,
                sql_value(agg.min),
                sql_value(agg.max),
                sql_value(agg.sum),
                sql_value(agg.last),
                agg.count as i64,
            ])?;
        }
        for (t_ms, kind) in &self.marks {
            tx.prepare_cached("INSERT INTO mark (t_ms, kind) VALUES (?1, ?2)")?
                .execute(params![t_ms, kind.as_str()])?;
        }
        tx.commit()?;
        self.written = self.open.lines();
        Ok(())
    }
}

const UPSERT_SECOND: &str = "INSERT INTO rollup_second (t_s, field, min, max, sum, last, count)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
    ON CONFLICT (t_s, field) DO UPDATE SET
        min = min(min, excluded.min), max = max(max, excluded.max),
        sum = sum + excluded.sum, last = excluded.last, count = count + excluded.count";

const UPSERT_MINUTE: &str = "INSERT INTO rollup_minute (t_s, field, min, max, sum, last, count)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
    ON CONFLICT (field, t_s) DO UPDATE SET
        min = min(min, excluded.min), max = max(max, excluded.max),
        sum = sum + excluded.sum, last = excluded.last, count = count + excluded.count";

/// Writes the lines of `chunk` from `from` on as a chunk row, if there
/// are any; returns its row.
fn write_chunk(
    tx: &Transaction<'_>,
    ids: &mut HashMap<Name, i64>,
    chunk: &Chunk,
    from: usize,
    best: bool,
) -> rusqlite::Result<Option<i64>> {
    for name in chunk.names() {
        field_id(tx, ids, &name)?;
    }
    let Some((blob, first, last)) =
        chunk.encode_from(from, best, |name| ids.get(&name).copied().unwrap_or(0))
    else {
        return Ok(None);
    };
    tx.prepare_cached(
        "INSERT INTO raw_chunk (t_first_ms, t_last_ms, lines, data) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![first, last, (chunk.lines() - from) as i64, blob])?;
    Ok(Some(tx.last_insert_rowid()))
}

/// The id of the field named `name`, created if it is new.
fn field_id(
    tx: &Transaction<'_>,
    ids: &mut HashMap<Name, i64>,
    name: &Name,
) -> rusqlite::Result<i64> {
    if let Some(&id) = ids.get(name) {
        return Ok(id);
    }
    tx.prepare_cached("INSERT INTO field (name) VALUES (?1) ON CONFLICT (name) DO NOTHING")?
        .execute([&**name])?;
    let id = tx
        .prepare_cached("SELECT id FROM field WHERE name = ?1")?
        .query_row([&**name], |row| row.get(0))?;
    ids.insert(*name, id);
    Ok(id)
}

pub fn sql_value(number: Number) -> Value {
    match number {
        Number::Int(value) => Value::Integer(value),
        Number::Float(value) => Value::Real(value),
    }
}

/// A stored number: integers stay integers.
pub fn number(value: ValueRef<'_>) -> Option<Number> {
    match value {
        ValueRef::Integer(value) => Some(Number::Int(value)),
        ValueRef::Real(value) => Some(Number::Float(value)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use esplora_config::HistoryConfig;
    use prometheus_client::registry::Registry;

    use super::*;
    use crate::store::bucket::Buckets;
    use crate::store::query::{self, Field, Source};
    use crate::store::request::Request;
    use crate::store::{retention, schema};
    use crate::transform::Values;

    const T0: i64 = 1_796_173_200_000;

    fn writer(path: &std::path::Path, config: &HistoryConfig) -> Writer {
        let metrics = Metrics::register(&mut Registry::default());
        Writer::new(
            schema::open_writer(path).unwrap(),
            metrics,
            Retention::new(config),
        )
    }

    fn line(t_ms: i64, pairs: &[(&str, i64)]) -> Record {
        Record::Changes {
            t_ms,
            values: Values::of(pairs),
        }
    }

    /// Every answer source, for the step it is picked for, over the data.
    fn totals(conn: &Connection, fields: &[Field], from: i64, to: i64) -> Vec<Vec<Option<Agg>>> {
        [250, 1_000, 60_000]
            .into_iter()
            .map(|step| {
                let answer =
                    query::answer(conn, fields, Buckets::covering(from, to, step)).unwrap();
                assert_eq!(answer.source, Source::for_step(step));
                answer
                    .fields
                    .iter()
                    .map(|(_, column)| {
                        let mut total = None;
                        column
                            .iter()
                            .flatten()
                            .for_each(|agg| agg.merge_into(&mut total));
                        total
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn raw_second_and_minute_sources_agree_with_the_changes_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let config = HistoryConfig::default();
        let mut expected: Option<Agg> = None;
        let mut noise = 7u64;
        // Two runs of the writer, the second starting mid-minute, each
        // committing every 100 lines (about a second at 100 Hz).
        for run in 0..2 {
            let mut writer = writer(&path, &config);
            for i in 0..3_000 {
                let t = T0 + run * 45_000 + i * 15;
                noise = noise.wrapping_mul(6364136223846793005).wrapping_add(1);
                let value = 500 + (noise >> 60) as i64;
                writer.take(line(t, &[("slider", value)]));
                Agg::of(Number::Int(value)).merge_into(&mut expected);
                if i % 100 == 99 {
                    writer.commit();
                }
            }
            writer.close();
            writer.commit();
        }
        let conn = schema::open_reader(&path).unwrap();
        let request =
            crate::store::request::Request::parse([("fields", "slider")], T0, None).unwrap();
        let fields = query::fields(&conn, &request).unwrap();
        for by_source in totals(&conn, &fields, T0 - 60_000, T0 + 200_000) {
            assert_eq!(by_source, vec![expected]);
        }
        let blocks: i64 = conn
            .query_row("SELECT count(*) FROM raw_chunk", [], |row| row.get(0))
            .unwrap();
        assert!(blocks >= 2, "{blocks} blocks");
        // The value before a bucket is the last change before it.
        let answer = query::answer(
            &conn,
            &fields,
            Buckets::covering(T0 + 1_000, T0 + 2_000, 1_000),
        )
        .unwrap();
        let before = (0..3_000)
            .map(|i| T0 + i * 15)
            .filter(|t| *t < T0 + 1_000)
            .count();
        assert_eq!(answer.fields[0].1[0].unwrap().count, 1_000 / 15 + 1);
        assert!(answer.before[0].is_some() && before > 0);
    }

    #[test]
    fn decimals_stay_decimals_and_integers_integers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let mut writer = writer(&path, &HistoryConfig::default());
        let mut values = Values::new();
        values.set(Name::from("temp_C"), 23.5);
        values.set(Name::from("light"), 512);
        writer.take(Record::Changes { t_ms: T0, values });
        writer.take(Record::Mark {
            t_ms: T0 + 1,
            kind: MarkKind::BoardDisconnected,
        });
        writer.commit();
        let conn = schema::open_reader(&path).unwrap();
        let request = crate::store::request::Request::parse([], T0, None).unwrap();
        let fields = query::fields(&conn, &request).unwrap();
        let answer =
            query::answer(&conn, &fields, Buckets::covering(T0, T0 + 60_000, 60_000)).unwrap();
        assert_eq!(answer.fields[0].0, "temp_C");
        assert_eq!(answer.fields[0].1[0].unwrap().last, Number::Float(23.5));
        assert_eq!(answer.fields[1].1[0].unwrap().max, Number::Int(512));
        assert_eq!(
            answer.marks,
            vec![(T0 + 1, "board_disconnected".to_owned())]
        );
    }

    #[test]
    fn retention_trims_backdated_data_a_step_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let config = HistoryConfig {
            raw_retention: std::time::Duration::from_secs(3_600),
            rollup_retention: std::time::Duration::from_secs(2 * 3_600),
            ..HistoryConfig::default()
        };
        let mut writer = writer(&path, &config);
        // Three hours at one change a second, three fields.
        for s in 0..3 * 3_600 {
            writer.take(line(T0 + s * 1_000, &[("a", s), ("b", -s), ("c", s % 7)]));
            if s % 600 == 0 {
                writer.commit();
            }
        }
        writer.close();
        writer.commit();
        let now = T0 + 3 * 3_600_000;
        let count = |table: &str| -> i64 {
            writer
                .conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                    row.get(0)
                })
                .unwrap()
        };
        assert_eq!(count("rollup_second"), 3 * 3 * 3_600);
        let mut steps = 0;
        loop {
            let before = count("rollup_second") + count("rollup_minute") + count("raw_chunk");
            writer.retention.step(&writer.conn, now, &writer.metrics);
            steps += 1;
            if count("rollup_second") + count("rollup_minute") + count("raw_chunk") == before {
                break;
            }
        }
        assert!(
            steps > 3,
            "a backlog takes several small steps, took {steps}"
        );
        let oldest =
            |sql: &str| -> i64 { writer.conn.query_row(sql, [], |row| row.get(0)).unwrap() };
        assert!(oldest("SELECT min(t_last_ms) FROM raw_chunk") >= now - 3_600_000);
        assert!(oldest("SELECT min(t_s) FROM rollup_second") * 1000 >= now - 3_600_000);
        assert!(oldest("SELECT min(t_s) FROM rollup_minute") * 1000 >= now - 2 * 3_600_000);
        assert_eq!(count("rollup_minute"), 3 * 120);
    }

    #[test]
    fn whole_seconds_past_a_day_are_answered_exactly_from_the_raw_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let mut writer = writer(&path, &HistoryConfig::default());
        // 26 hours, a line every 7 s.
        let end = T0 + 26 * 3_600_000;
        let mut t = T0;
        while t < end {
            writer.take(line(t, &[("a", t / 7_000 % 13), ("b", -(t / 1_000))]));
            t += 7_000;
        }
        writer.close();
        writer.commit();
        let fields = query::fields(
            &writer.conn,
            &Request::parse(Vec::new(), end, None).unwrap(),
        )
        .unwrap();
        let spans = [
            (T0, end, 1_000),
            (T0, end, 90_000),
            (end - 3_600_000, end, 5_000),
        ];
        let answer = |(from, to, step): (i64, i64, i64)| {
            query::answer(&writer.conn, &fields, Buckets::covering(from, to, step)).unwrap()
        };
        let before: Vec<_> = spans.into_iter().map(answer).collect();
        assert!(before.iter().all(|answer| answer.source == Source::Second));

        let seconds = || -> i64 {
            writer
                .conn
                .query_row("SELECT count(*) FROM rollup_second", [], |row| row.get(0))
                .unwrap()
        };
        let mut steps = 0;
        loop {
            let left = seconds();
            writer.trim(end);
            steps += 1;
            if seconds() == left {
                break;
            }
        }
        assert!(steps > 2, "whole seconds a step, took {steps}");
        let oldest: i64 = writer
            .conn
            .query_row("SELECT min(t_s) FROM rollup_second", [], |row| row.get(0))
            .unwrap();
        assert!(
            (end - retention::SECONDS_MS..end - retention::SECONDS_MS + 7_000)
                .contains(&(oldest * 1000))
        );

        let after: Vec<_> = spans.into_iter().map(answer).collect();
        let sources: Vec<_> = after.iter().map(|answer| answer.source).collect();
        assert_eq!(sources, [Source::Raw, Source::Raw, Source::Second]);
        for (before, after) in before.iter().zip(&after) {
            assert_eq!(before.fields, after.fields);
            assert_eq!(before.before, after.before);
        }
    }

    #[test]
    fn small_chunks_trimmed_before_their_chunk_is_full_stay_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let config = HistoryConfig {
            raw_retention: std::time::Duration::from_secs(60),
            ..HistoryConfig::default()
        };
        let mut writer = writer(&path, &config);
        // Four minutes at a line a second fit one chunk; each commit of ten
        // lines is a small chunk, and a trim step follows it.
        for s in 0..240 {
            writer.take(line(T0 + s * 1_000, &[("a", s)]));
            if s % 10 == 9 {
                writer.commit();
                writer.trim(T0 + s * 1_000);
            }
        }
        let chunks = |writer: &Writer| -> Vec<(i64, i64)> {
            writer
                .conn
                .prepare("SELECT t_first_ms, lines FROM raw_chunk ORDER BY t_first_ms")
                .unwrap()
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        // Past the minute before the last line, whole small chunks went.
        let kept = chunks(&writer);
        assert_eq!(kept.len(), 7);
        assert_eq!(kept[0], (T0 + 170_000, 10));
        writer.take(line(T0 + 240_000, &[("a", 240)]));
        writer.close();
        writer.commit();
        assert_eq!(
            chunks(&writer),
            vec![(T0 + 170_000, 71)],
            "the full chunk is written from the first line kept"
        );
    }

    #[test]
    fn max_bytes_trims_the_oldest_until_the_store_fits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let config = HistoryConfig {
            max_bytes: 1 << 20,
            ..HistoryConfig::default()
        };
        let mut writer = writer(&path, &config);
        let mut noise = 1u64;
        for i in 0..200_000 {
            let mut pairs = Vec::new();
            for name in ["a", "b", "c", "d", "e", "f"] {
                noise = noise.wrapping_mul(6364136223846793005).wrapping_add(1);
                pairs.push((name, (noise >> 40) as i64));
            }
            writer.take(line(T0 + i * 10, &pairs));
            if i % 1_000 == 999 {
                writer.commit();
            }
        }
        writer.close();
        writer.commit();
        let now = T0 + 2_000_000;
        assert!(retention::used_bytes(&writer.conn).unwrap() > 2 << 20);
        for _ in 0..200 {
            writer.retention.step(&writer.conn, now, &writer.metrics);
        }

        let used = retention::used_bytes(&writer.conn).unwrap();
        assert!(used <= 1 << 20, "{used} bytes");
        writer
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        let file = std::fs::metadata(&path).unwrap().len();

        assert!(file <= 2 << 20, "the file shrank too: {file} bytes");
        let newest: i64 = writer
            .conn
            .query_row("SELECT max(t_last_ms) FROM raw_chunk", [], |row| row.get(0))
            .unwrap();
        assert_eq!(newest, T0 + 199_999 * 10, "the newest data is kept");
    }
}
