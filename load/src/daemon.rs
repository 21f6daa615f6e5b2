//! The server under load, run as a child process: the real release
//! daemon, or the floor (`esplora-floor`) it is compared with.
//!
//! The daemon reads the board's lines from a pipe on its stdin, as fast as they come
//! (`--replay-rate max`), and publishes every change (`--max-rate-hz 0`)
//! with no keyframes in between (`--keyframe-secs 3600`), so that each
//! line written is exactly one delta event. Its stderr is read by a thread
//! that finds the address it listens on and keeps the last lines for the
//! report should it die; another thread waits for it to exit, so that a
//! death during the run is noticed at once. Its cost is read from `/proc`.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::sync::{oneshot, watch};

/// The daemon's arguments, besides its config file (see [`ConfigFile`]).
pub const BRIDGE_ARGS: &[&str] = &[
    "--input",
    "-",
    "--replay-rate",
    "max",
    "--max-rate-hz",
    "0",
    "--keyframe-secs",
    "3600",
    "--listen",
    "127.0.0.1:0",
];
/// The floor's arguments: it reads stdin in any case.
pub const FLOOR_ARGS: &[&str] = &["--listen", "127.0.0.1:0"];

/// The daemon's config file: `[http] max_connections` just above the
/// run's clients, whatever the default (65,536), and its history store
/// beside it, in a directory of the run's own (never the user's store).
/// Removed when dropped.
pub struct ConfigFile(pub PathBuf);

impl ConfigFile {
    pub fn for_clients(clients: u64) -> anyhow::Result<ConfigFile> {
        let dir = std::env::temp_dir().join(format!("esplora-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the run's directory {}", dir.display()))?;
        let path = dir.join("bridge.toml");
        let store = dir.join("history.sqlite");
        let text = format!(
            "[http]\nmax_connections = {}\n\n[history]\npath = {:?}\n",
            clients + 64,
            store.display().to_string()
        );
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write the daemon's config {}", path.display()))?;
        Ok(ConfigFile(path))
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// How many of the daemon's last log lines a failure report shows.
const LOG_TAIL: usize = 20;
const START_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Daemon {
    pub pid: u32,
    pub addr: SocketAddr,
    /// Taken by the board that feeds it.
    pub stdin: Option<ChildStdin>,
    /// Set once the daemon has exited.
    exited: watch::Receiver<Option<ExitStatus>>,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Daemon {
    /// Starts `binary` with `args` and waits until it listens. The child
    /// inherits the tool's file limit, which `main` has raised to the hard
    /// limit.
    pub async fn start(binary: &Path, args: &[&OsStr]) -> anyhow::Result<Daemon> {
        let mut child = Command::new(binary)
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start the daemon {}", binary.display()))?;
        let pid = child.id();
        let stdin = child.stdin.take();
        let stderr = child
            .stderr
            .take()
            .context("the daemon's stderr is piped")?;
        let log = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_TAIL)));
        let (addr_tx, addr_rx) = oneshot::channel();
        let tail = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut addr_tx = Some(addr_tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // The bridge logs it this way, and so does the floor.
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    if let (Some(tx), Ok(addr)) = (addr_tx.take(), addr.parse()) {
                        let _ = tx.send(addr);
                    }
                }
                let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                if tail.len() == LOG_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let (exit_tx, exited) = watch::channel(None);
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(Some(status));
            }
        });
        let mut daemon = Daemon {
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stdin,
            exited,
            log,
        };
        match tokio::time::timeout(START_TIMEOUT, addr_rx).await {
            Ok(Ok(addr)) => daemon.addr = addr,
            Ok(Err(_)) => bail!("the daemon exited before listening\n{}", daemon.log_tail()),
            Err(_) => {
                daemon.stop().await;
                bail!(
                    "the daemon did not listen within {START_TIMEOUT:?}\n{}",
                    daemon.log_tail()
                );
            }
        }
        Ok(daemon)
    }

    /// Resolves when the daemon exits, with how it ended.
    pub async fn died(&self) -> Option<ExitStatus> {
        let mut exited = self.exited.clone();
        exited.wait_for(Option::is_some).await.ok().and_then(|s| *s)
    }

    /// A failure message: how it exited, and its last log lines.
    pub fn death_report(&self, status: Option<ExitStatus>) -> String {
        let how = status.map_or_else(|| "unknown status".to_owned(), |s| s.to_string());
        format!(
            "the daemon died during the run ({how})\n{}",
            self.log_tail()
        )
    }

    /// The daemon's last log lines, for a report.
    pub fn log_tail(&self) -> String {
        let tail = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let lines: Vec<&str> = tail.iter().map(|line| line.as_str()).collect();
        format!("its last log lines:\n  {}", lines.join("\n  "))
    }

    /// CPU time used so far (user + system), in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .context("cannot read the daemon's /proc stat: has it died?")?;
        // The fields after the command name, which is in parentheses and
        // may hold spaces; utime and stime are fields 14 and 15.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| -> anyhow::Result<f64> {
            Ok(fields
                .get(i)
                .context("short /proc stat")?
                .parse::<u64>()
                .context("bad /proc stat")? as f64)
        };
        let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .unwrap_or(100) as f64;
        Ok((ticks(11)? + ticks(12)?) / per_second)
    }

    /// Resident memory now, and at its peak, in KiB.
    pub fn memory_kib(&self) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .context("cannot read the daemon's /proc status: has it died?")?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in /proc status"))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Asks the daemon to stop, then kills it if it has not within a while.
    pub async fn stop(&mut self) {
        drop(self.stdin.take());
        let pid = Pid::from_raw(i32::try_from(self.pid).unwrap_or(i32::MAX));
        let _ = kill(pid, Signal::SIGTERM);
        if tokio::time::timeout(STOP_TIMEOUT, self.died())
            .await
            .is_err()
        {
            let _ = kill(pid, Signal::SIGKILL);
            self.died().await;
        }
    }
}
