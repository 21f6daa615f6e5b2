//! A server the tests run from its installed binary (sockudo, Mosquitto,
//! Redis): a temporary directory of its own for its config and its log, a
//! free loopback port, a start that waits until it is ready, a restart on
//! the same port, and a kill when dropped.

use std::fs::File;
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::WAIT;

pub struct Server {
    name: &'static str,
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Server {
    /// A server not yet started, on a free port.
    pub fn new(name: &'static str) -> Server {
        Server {
            name,
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// Its directory, for its config and whatever else it needs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts `command` (again, killing what ran before) with its output
    /// appended to the log, then waits until `ready` says so.
    pub async fn start<F, Fut>(&mut self, command: &mut Command, ready: F)
    where
        F: Fn(u16) -> Fut,
        Fut: Future<Output = bool>,
    {
        self.stop();
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("the server's log should be writable");
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("{} should start: {error}", self.name));
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while !ready(self.port).await {
            assert!(
                Instant::now() < deadline,
                "{} was not ready on port {} within {WAIT:?}; its log:\n{}",
                self.name,
                self.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills it, as a crash or a pulled cable would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("{}.log", self.name))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free loopback port below the kernel's ephemeral range (which starts at
/// 32768 on Linux), so that nothing binding port 0 in the meantime (a daemon
/// under test, a chromedriver) can take it before the server binds it.
/// Ports are handed out in turn from an offset of this process's own, so
/// two callers in this process never get the same one.
pub fn free_port() -> u16 {
    const LOW: u32 = 16_384;
    const SPAN: u32 = 16_384;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id().wrapping_mul(2_654_435_761) % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (offset + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port from {LOW} to {}", LOW + SPAN - 1)
}
