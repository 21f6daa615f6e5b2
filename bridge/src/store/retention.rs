//! Retention and the size cap, trimmed a small step at a time.
//!
//! The writer calls [`Retention::step`] after each commit. A step deletes
//! at most [`CHUNKS`] raw chunks and [`BATCH`] rows of each other table
//! that are past their retention (raw chunks: `raw_retention`; per-second rollups: [`SECONDS_MS`], a day,
//! or `raw_retention` if shorter; per-minute rollups and marks:
//! `rollup_retention`), then, while the store is over `max_bytes`, the
//! oldest raw chunks and per-second rollups (and once those are gone, the
//! oldest per-minute rollups), and hands up to
//! [`VACUUM_PAGES`] free pages back to the file system (`auto_vacuum =
//! INCREMENTAL`). A backlog (a store filled with old data, a lowered
//! retention) is worked off over several seconds, never in one long stall
//! that would hold up the commits.
//!
//! Per-second rollups are trimmed whole seconds at a time, oldest first, so
//! every second from the oldest one stored on is complete: the query
//! answers whole-second steps from them from there on and from the raw
//! chunks before (see [`super::query`]). Kept a week, they would cost
//! about half as much as the raw chunks for a noisy board.

use esplora_config::HistoryConfig;
use rusqlite::{Connection, params};
use tracing::debug;

use super::metrics::{Metrics, Trim};

/// Rows deleted from one rollup or mark table in one step, at most.
pub const BATCH: i64 = 2_000;
/// Raw chunks deleted in one step, at most: a full chunk is a few hundred
/// kilobytes.
pub const CHUNKS: i64 = 16;
/// How long per-second rollups are kept, at most (a day): fixed, since
/// the raw chunks answer exactly whatever the rollups no longer do.
pub const SECONDS_MS: i64 = 86_400_000;
/// Free pages returned to the file system in one step, at most.
const VACUUM_PAGES: i64 = 1_000;

/// How long each kind of data is kept, and the size cap.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub raw_ms: i64,
    pub seconds_ms: i64,
    pub rollup_ms: i64,
    pub max_bytes: u64,
}

impl Retention {
    pub fn new(config: &HistoryConfig) -> Retention {
        let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let raw_ms = ms(config.raw_retention);
        Retention {
            raw_ms,
            seconds_ms: raw_ms.min(SECONDS_MS),
            rollup_ms: ms(config.rollup_retention),
            max_bytes: config.max_bytes,
        }
    }

    /// One step at `now_ms`; failures (a full disk) are left to the next.
    pub fn step(&self, conn: &Connection, now_ms: i64, metrics: &Metrics) {
        match self.try_step(conn, now_ms, metrics) {
            Ok(bytes) => metrics.bytes(bytes),
            Err(error) => debug!("history trimming failed, trying again later: {error}"),
        }
    }

    fn try_step(&self, conn: &Connection, now_ms: i64, metrics: &Metrics) -> rusqlite::Result<u64> {
        let raw_cut = now_ms.saturating_sub(self.raw_ms);
        let seconds_cut = now_ms.saturating_sub(self.seconds_ms);
        let rollup_cut = now_ms.saturating_sub(self.rollup_ms);
        let mut rows = conn.execute(
            "DELETE FROM raw_chunk WHERE id IN
                (SELECT id FROM raw_chunk WHERE t_last_ms < ?1 LIMIT ?2)",
            params![raw_cut, CHUNKS],
        )?;
        rows += delete_seconds(conn, seconds_cut.div_euclid(1000), BATCH)?;
        rows += delete_minutes(conn, rollup_cut.div_euclid(1000))?;
        rows += conn.execute(
            "DELETE FROM mark WHERE rowid IN
                (SELECT rowid FROM mark WHERE t_ms < ?1 LIMIT ?2)",
            params![rollup_cut, BATCH],
        )?;
        metrics.trimmed(Trim::retention, rows as u64);

        let used = used_bytes(conn)?;
        if used > self.max_bytes {
            // The oldest chunks that make up the excess, at most CHUNKS.
            let mut rows = conn.execute(
                "DELETE FROM raw_chunk WHERE id IN (SELECT id FROM (
                    SELECT id, sum(length(data)) OVER (ORDER BY t_last_ms, id) - length(data) AS before
                    FROM raw_chunk ORDER BY t_last_ms, id LIMIT ?1)
                 WHERE before < ?2)",
                params![CHUNKS, used - self.max_bytes],
            )?;
            rows += delete_seconds(conn, i64::MAX, BATCH)?;
            if rows == 0 {
                let oldest: Option<i64> =
                    conn.query_row("SELECT min(t_s) FROM rollup_minute", [], |row| row.get(0))?;
                if let Some(oldest) = oldest {
                    rows += delete_minutes(conn, oldest + 3_600)?;
                }
            }
            metrics.trimmed(Trim::max_bytes, rows as u64);
        }
        // Each page freed is a row (of no columns): step through them all.
        let mut vacuum =
            conn.prepare_cached(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"))?;
        let mut freed = vacuum.query([])?;
        while freed.next()?.is_some() {}
        drop(freed);
        used_bytes(conn)
    }
}

/// Deletes the oldest whole seconds of per-second rollups before `cut_s`:
/// those before the second of the `batch`-th oldest row (so at most
/// `batch` rows), and at least the oldest second.
fn delete_seconds(conn: &Connection, cut_s: i64, batch: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "DELETE FROM rollup_second WHERE t_s < min(?1, max(
            (SELECT min(t_s) FROM rollup_second) + 1,
            coalesce((SELECT t_s FROM rollup_second ORDER BY t_s LIMIT 1 OFFSET ?2), ?1)))",
    )?
    .execute(params![cut_s, batch])
}

/// Deletes per-minute rollups before `cut_s`, at most [`BATCH`] of each
/// field (the table is keyed by field first).
fn delete_minutes(conn: &Connection, cut_s: i64) -> rusqlite::Result<usize> {
    let fields: Vec<i64> = conn
        .prepare_cached("SELECT id FROM field")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut rows = 0;
    for field in fields {
        rows += conn
            .prepare_cached(
                "DELETE FROM rollup_minute WHERE field = ?1 AND t_s IN
                    (SELECT t_s FROM rollup_minute WHERE field = ?1 AND t_s < ?2 LIMIT ?3)",
            )?
            .execute(params![field, cut_s, BATCH])?;
    }
    Ok(rows)
}

/// The store's size without its free pages.
pub fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = conn.query_row(
        "SELECT (SELECT page_count FROM pragma_page_count())
              - (SELECT freelist_count FROM pragma_freelist_count())",
        [],
        |row| row.get(0),
    )?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    Ok(u64::try_from(pages * size).unwrap_or(0))
}
