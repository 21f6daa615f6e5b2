//! The history store: every change the board reported, kept on disk in
//! SQLite, before the throttle, with per-second and per-minute rollups.
//!
//! The pipeline hands each accepted change, with its arrival time in ms, to
//! a [`Recorder`], which puts it on a bounded queue with `try_send`: a full
//! queue drops and counts it, so the live path never waits for the disk.
//! One thread of the store's own ([`writer`]) drains the queue and commits
//! batches, and trims old data in small steps ([`retention`]). Readers
//! ([`query`]: `/api/history` and the `export` command) open the file
//! read-only and read the WAL beside the writer.
//!
//! # Layout
//!
//! - [`schema`]: the tables, opening a file as a store, migrations.
//! - [`chunk`]: the raw changes of a span of lines, a time a line.
//! - [`block`]: one field's changes in a chunk, compactly encoded.
//! - [`bucket`]: aggregates and bucket maths, no I/O.
//! - [`writer`]: the writer thread.
//! - [`retention`]: retention and `max_bytes`, a step at a time.
//! - [`request`]: a history request's parameters, parsed and checked.
//! - [`query`]: answering a request from the cheapest exact source.
//! - [`render`]: an answer as JSON, CSV or NDJSON.
//! - [`metrics`]: the `esplora_history_*` metrics.

pub mod block;
pub mod bucket;
pub mod chunk;
pub mod metrics;
pub mod query;
pub mod render;
pub mod request;
pub mod retention;
pub mod schema;
pub mod writer;

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use esplora_config::HistoryConfig;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use tracing::{info, warn};

use crate::transform::Values;
use crate::transform::parse::WarnLimit;
use metrics::{Metrics, Outcome};
use retention::Retention;
use writer::Writer;

/// Lines of changes waiting for the writer, at most: a minute at 1 kHz,
/// enough to ride out a slow disk's stall.
const QUEUE: usize = 65_536;

/// A store that cannot be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the history store {}: {reason}", path.display())]
    Open {
        path: PathBuf,
        reason: rusqlite::Error,
    },
    #[error("the history store {} is not an esplora-bridge store (it has other tables)", .0.display())]
    NotAStore(PathBuf),
    #[error("the history store {} was written by a newer esplora-bridge (schema {version}, this one knows {})", path.display(), schema::VERSION)]
    TooNew { path: PathBuf, version: u32 },
    #[error("the history store {} has schema {version}: start the daemon once to migrate it to {}", path.display(), schema::VERSION)]
    TooOld { path: PathBuf, version: u32 },
    #[error("the history store {} is in use by another esplora-bridge: give each daemon its own [history] path", .0.display())]
    InUse(PathBuf),
    #[error("cannot lock the history store {}: {reason}", path.display())]
    Lock {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("there is no history store at {}", .0.display())]
    Missing(PathBuf),
    #[error("cannot create the directory of the history store {}: {reason}", path.display())]
    Directory {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("cannot start the history writer for {}: {reason}", path.display())]
    Writer {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error(
        "no place for the history store: set [history] path (neither STATE_DIRECTORY, XDG_STATE_HOME nor HOME is set)"
    )]
    NoPlace,
}

impl StoreError {
    fn open(path: &Path, reason: rusqlite::Error) -> StoreError {
        StoreError::Open {
            path: path.to_owned(),
            reason,
        }
    }
}

/// The events kept beside the readings, so that gaps show as gaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    DaemonStart,
    DaemonStop,
    BoardConnected,
    BoardDisconnected,
}

impl MarkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkKind::DaemonStart => "daemon_start",
            MarkKind::DaemonStop => "daemon_stop",
            MarkKind::BoardConnected => "board_connected",
            MarkKind::BoardDisconnected => "board_disconnected",
        }
    }
}

/// What goes through the queue to the writer.
pub enum Record {
    /// The fields that changed in one accepted line.
    Changes {
        t_ms: i64,
        values: Values,
    },
    Mark {
        t_ms: i64,
        kind: MarkKind,
    },
}

/// The store's file: `[history] path`, else `history.sqlite` under
/// `$STATE_DIRECTORY` (its first entry), `$XDG_STATE_HOME/esplora-bridge`
/// or `~/.local/state/esplora-bridge`; `env` reads the environment.
pub fn path(
    config: &HistoryConfig,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, StoreError> {
    if let Some(path) = &config.path {
        return Ok(path.clone());
    }
    let set = |name: &str| env(name).filter(|value| !value.is_empty());
    let dir = if let Some(dirs) = set("STATE_DIRECTORY") {
        let dirs = dirs.to_string_lossy().into_owned();
        PathBuf::from(dirs.split(':').next().unwrap_or_default())
    } else if let Some(state) = set("XDG_STATE_HOME") {
        PathBuf::from(state).join("esplora-bridge")
    } else if let Some(home) = set("HOME") {
        PathBuf::from(home).join(".local/state/esplora-bridge")
    } else {
        return Err(StoreError::NoPlace);
    };
    Ok(dir.join("history.sqlite"))
}

/// Now, in ms since the epoch: the time the store puts on what arrives.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// The open store: its writer thread, and the daemon's own marks.
pub struct History {
    path: PathBuf,
    /// Held while the daemon runs: one writer a store.
    _lock: Flock<File>,
    marks: SyncSender<Record>,
    recorder: Option<Recorder>,
    writer: JoinHandle<()>,
}

/// Takes the store's lock, `<path>.lock`, so that a second daemon given
/// the same store stops with a clear error rather than writing beside the
/// first. An advisory `flock`: released by the kernel when the daemon
/// exits, however it exits.
fn lock(path: &Path) -> Result<Flock<File>, StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let fail = |reason: std::io::Error| StoreError::Lock {
        path: path.to_owned(),
        reason,
    };
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(PathBuf::from(name))
        .map_err(fail)?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == Errno::EWOULDBLOCK {
            StoreError::InUse(path.to_owned())
        } else {
            fail(errno.into())
        }
    })
}

impl History {
    /// Opens (creating it and its directory if need be) the store at
    /// `path`, registers its metrics, starts its writer and marks the
    /// daemon's start.
    pub fn open(
        path: PathBuf,
        config: &HistoryConfig,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Result<History, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|reason| StoreError::Directory {
                path: path.clone(),
                reason,
            })?;
        }
        let lock = lock(&path)?;
        let conn = schema::open_writer(&path)?;
        let metrics = Metrics::register(registry);
        let (tx, rx) = sync_channel(QUEUE);
        let writer = Writer::new(conn, metrics.clone(), Retention::new(config));
        let writer = std::thread::Builder::new()
            .name("history-writer".to_owned())
            .spawn(move || writer.run(rx, now_ms))
            .map_err(|reason| StoreError::Writer {
                path: path.clone(),
                reason,
            })?;
        info!(path = %path.display(), "history store open");
        let history = History {
            path,
            _lock: lock,
            marks: tx.clone(),
            recorder: Some(Recorder {
                tx,
                metrics,
                warnings: WarnLimit::default(),
            }),
            writer,
        };
        history.mark(MarkKind::DaemonStart);
        Ok(history)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pipeline's side of the queue (there is one).
    pub fn recorder(&mut self) -> Option<Recorder> {
        self.recorder.take()
    }

    fn mark(&self, kind: MarkKind) {
        // Only a full queue refuses it, and then the mark is not worth a wait.
        let _ = self.marks.try_send(Record::Mark {
            t_ms: now_ms(),
            kind,
        });
    }

    /// Marks the daemon's stop and waits for the writer to commit what it
    /// holds. Blocks: call it where blocking is allowed.
    pub fn close(self) {
        self.mark(MarkKind::DaemonStop);
        drop(self.marks);
        drop(self.recorder);
        if self.writer.join().is_err() {
            warn!("the history writer panicked");
        }
    }
}

/// Hands changes and marks to the writer without ever waiting.
pub struct Recorder {
    tx: SyncSender<Record>,
    metrics: Metrics,
    warnings: WarnLimit,
}

impl Recorder {
    /// The changes of one accepted line, which arrived at `t_ms`.
    pub fn changes(&mut self, t_ms: i64, values: &Values) {
        if values.is_empty() {
            return;
        }
        let n = values.len() as u64;
        self.send(
            Record::Changes {
                t_ms,
                values: values.clone(),
            },
            n,
        );
    }

    pub fn mark(&mut self, t_ms: i64, kind: MarkKind) {
        self.send(Record::Mark { t_ms, kind }, 0);
    }

    fn send(&mut self, record: Record, values: u64) {
        let why = match self.tx.try_send(record) {
            Ok(()) => return,
            Err(TrySendError::Full(_)) => "its queue is full",
            Err(TrySendError::Disconnected(_)) => "its writer has stopped",
        };
        self.metrics.values(Outcome::queue_full, values);
        if let Some(suppressed) = self.warnings.roll(Instant::now()) {
            warn!(suppressed, "more changes were not stored and not logged");
        }
        if self.warnings.allow() {
            warn!("a change was not stored in history: {why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_path_follows_systemd_then_xdg_then_home() {
        let config = HistoryConfig::default();
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| OsString::from(value))
            }
        };
        const ALL: [(&str, &str); 3] = [
            ("STATE_DIRECTORY", "/var/lib/esplora-bridge:/var/lib/other"),
            ("XDG_STATE_HOME", "/home/u/.state"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(
            path(&config, env(&ALL)).unwrap(),
            Path::new("/var/lib/esplora-bridge/history.sqlite")
        );
        assert_eq!(
            path(&config, env(&ALL[1..])).unwrap(),
            Path::new("/home/u/.state/esplora-bridge/history.sqlite")
        );
        assert_eq!(
            path(&config, env(&ALL[2..])).unwrap(),
            Path::new("/home/u/.local/state/esplora-bridge/history.sqlite")
        );
        assert!(path(&config, env(&[])).is_err());
        let set = HistoryConfig {
            path: Some("/srv/h.sqlite".into()),
            ..HistoryConfig::default()
        };
        assert_eq!(path(&set, env(&ALL)).unwrap(), Path::new("/srv/h.sqlite"));
    }
}
