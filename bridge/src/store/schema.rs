//! The store's tables, opening a file as a store, and migrations.
//!
//! The schema's version is SQLite's `PRAGMA user_version`: 0 is a new,
//! empty file, and [`MIGRATIONS`]`[i]` takes a store from version `i` to
//! `i + 1`, in one transaction. A store newer than this binary, or a
//! database that is not a store, is refused with the path and the reason.
//! The README's "History store" section documents the tables as part of
//! the contract.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// Each step's SQL, from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: raw blocks, rollups by second and by minute, marks.
    "CREATE TABLE field (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE raw_block (
        id INTEGER PRIMARY KEY,
        field INTEGER NOT NULL REFERENCES field (id),
        t_first_ms INTEGER NOT NULL,
        t_last_ms INTEGER NOT NULL,
        count INTEGER NOT NULL,
        data BLOB NOT NULL
    );
    CREATE INDEX raw_block_by_field ON raw_block (field, t_first_ms);
    CREATE INDEX raw_block_by_end ON raw_block (t_last_ms);
    CREATE TABLE rollup_second (
        t_s INTEGER NOT NULL,
        field INTEGER NOT NULL REFERENCES field (id),
        min NOT NULL,
        max NOT NULL,
        sum NOT NULL,
        last NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (t_s, field)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_minute (
        field INTEGER NOT NULL REFERENCES field (id),
        t_s INTEGER NOT NULL,
        min NOT NULL,
        max NOT NULL,
        sum NOT NULL,
        last NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (field, t_s)
    ) WITHOUT ROWID;
    CREATE TABLE mark (
        t_ms INTEGER NOT NULL,
        kind TEXT NOT NULL
    );
    CREATE INDEX mark_by_time ON mark (t_ms);",
    // 2: raw chunks (a time a line) in place of per-field raw blocks. The
    // blocks were never in a release; they are dropped, the rollups kept.
    "CREATE TABLE raw_chunk (
        id INTEGER PRIMARY KEY,
        t_first_ms INTEGER NOT NULL,
        t_last_ms INTEGER NOT NULL,
        lines INTEGER NOT NULL,
        data BLOB NOT NULL
    );
    CREATE INDEX raw_chunk_by_start ON raw_chunk (t_first_ms);
    CREATE INDEX raw_chunk_by_end ON raw_chunk (t_last_ms);
    DROP TABLE raw_block;",
];

/// The schema version this binary writes and reads.
pub const VERSION: u32 = MIGRATIONS.len() as u32;

/// Opens (creating it if need be) the store at `path` for the writer:
/// WAL, `synchronous = NORMAL` (a crash loses at most the last commits,
/// never the file), incremental auto-vacuum, schema migrated.
pub fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let fail = |reason: rusqlite::Error| StoreError::open(path, reason);
    let mut conn = Connection::open(path).map_err(fail)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(fail)?;
    let version = user_version(&conn).map_err(fail)?;
    if version == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .map_err(fail)?;
        if tables > 0 {
            return Err(StoreError::NotAStore(path.to_owned()));
        }
        // Only takes effect before the first table is created.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(fail)?;
    }
    check_version(path, version)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(fail)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(fail)?;
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(fail)?;
        tx.execute_batch(sql).map_err(fail)?;
        tx.pragma_update(None, "user_version", from as u32 + 1)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
    }
    Ok(conn)
}

/// Opens the store at `path` read-only, for queries and `export`; works
/// while the daemon writes (a reader of the WAL).
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let fail = |reason: rusqlite::Error| StoreError::open(path, reason);
    if !path.exists() {
        return Err(StoreError::Missing(path.to_owned()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(fail)?;
    let version = user_version(&conn).map_err(fail)?;
    if version == 0 {
        return Err(StoreError::NotAStore(path.to_owned()));
    }
    check_version(path, version)?;
    if version < VERSION {
        return Err(StoreError::TooOld {
            path: path.to_owned(),
            version,
        });
    }
    Ok(conn)
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

fn check_version(path: &Path, version: u32) -> Result<(), StoreError> {
    if version > VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            version,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_is_created_at_the_current_version_with_incremental_vacuum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let conn = open_writer(&path).unwrap();
        assert_eq!(user_version(&conn).unwrap(), VERSION);
        let vacuum: i64 = conn
            .query_row("PRAGMA auto_vacuum", [], |row| row.get(0))
            .unwrap();
        assert_eq!(vacuum, 2, "incremental");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(conn);
        // Opening again migrates nothing and keeps what is there.
        let conn = open_writer(&path).unwrap();
        conn.execute("INSERT INTO field (name) VALUES ('x')", [])
            .unwrap();
        drop(conn);
        let reader = open_reader(&path).unwrap();
        let n: i64 = reader
            .query_row("SELECT count(*) FROM field", [], |row| row.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_schema_1_store_keeps_its_rollups_and_readers_wait_for_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.execute_batch(
            "INSERT INTO field (name) VALUES ('light');
             INSERT INTO rollup_minute VALUES (1, 60, 1, 2, 3, 2, 2);
             PRAGMA user_version = 1;",
        )
        .unwrap();
        drop(old);
        let error = open_reader(&path).unwrap_err().to_string();
        assert!(
            error.contains("h.sqlite") && error.contains("schema 1") && error.contains("migrate"),
            "{error}"
        );

        drop(open_writer(&path).unwrap());
        let reader = open_reader(&path).unwrap();
        assert_eq!(user_version(&reader).unwrap(), VERSION);
        let count = |sql: &str| -> i64 { reader.query_row(sql, [], |row| row.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM rollup_minute"), 1);
        assert_eq!(count("SELECT count(*) FROM raw_chunk"), 0);
        assert_eq!(
            count("SELECT count(*) FROM sqlite_schema WHERE name = 'raw_block'"),
            0
        );
    }

    #[test]
    fn other_files_are_refused_with_the_path_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(
            &text,
            "this is not a database, it is a text file\n".repeat(40),
        )
        .unwrap();
        let error = open_writer(&text).unwrap_err().to_string();
        assert!(error.contains("notes.txt"), "{error}");
        assert!(error.contains("not a database"), "{error}");

        let other = dir.path().join("other.sqlite");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let error = open_writer(&other).unwrap_err().to_string();
        assert!(error.contains("other.sqlite") && error.contains("not an esplora-bridge"));

        let newer = dir.path().join("newer.sqlite");
        drop(open_writer(&newer).unwrap());
        Connection::open(&newer)
            .unwrap()
            .pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        let error = open_writer(&newer).unwrap_err().to_string();
        assert!(
            error.contains("newer.sqlite") && error.contains("newer"),
            "{error}"
        );

        let missing = dir.path().join("missing.sqlite");
        let error = open_reader(&missing).unwrap_err().to_string();
        assert!(error.contains("missing.sqlite"), "{error}");
    }
}
