//! The harness shared by the end-to-end tests: it runs the real
//! `esplora-bridge` binary on a free loopback port and talks to it over
//! real sockets.
#![allow(dead_code)] // Each test binary uses its own part of the harness.

pub mod pusher;
pub mod sockudo;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_esplora-bridge")
}

/// A sample capture in `tests/data`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
}

/// The state `esplora-messy-sample.log` ends in.
pub fn messy_final_state() -> Value {
    serde_json::json!({
        "slider": 624, "accel_x": 2, "accel_y": 2, "accel_z": 125, "joystick_x": 0,
        "joystick_y": 0, "light": 674, "microphone": 11, "temperature": 73, "user": 3, "buttons": 0
    })
}

/// A running daemon; killed when dropped.
pub struct Daemon {
    child: Child,
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
    pub http: reqwest::Client,
}

impl Daemon {
    /// Starts the daemon with `args` (plus `--listen 127.0.0.1:0`) and waits
    /// until it says where it listens.
    pub fn start(args: &[&str]) -> Daemon {
        Self::start_with(args, |_| {}, None)
    }

    /// As [`Daemon::start`], with `stdin` written to the daemon's stdin
    /// (then closed), and `setup` applied to the command first.
    pub fn start_with(
        args: &[&str],
        setup: impl FnOnce(&mut Command),
        stdin: Option<Vec<u8>>,
    ) -> Daemon {
        let mut command = Command::new(binary());
        command
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        setup(&mut command);
        let mut child = command
            .spawn()
            .expect("the esplora-bridge binary should start");
        if let Some(bytes) = stdin {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            std::thread::spawn(move || {
                // The daemon may exit before reading everything; that is its business.
                let _ = pipe.write_all(&bytes);
            });
        }
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("daemon: {line}");
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = addr_tx.send(addr);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = match addr_rx.recv_timeout(WAIT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the daemon did not start listening within {WAIT:?}; its log: {:?}",
                    log.lock().unwrap()
                );
            }
        };
        Daemon {
            child,
            base: format!("http://{addr}"),
            log,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("GET should be answered");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.expect("the body should be JSON")
    }

    pub async fn get_text(&self, path: &str) -> String {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("GET should be answered");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.text().await.expect("the body should be text")
    }

    /// The sum of a metric's samples whose line starts with `prefix`
    /// (a name, or a name with labels).
    pub async fn metric(&self, prefix: &str) -> u64 {
        metric_sum(&self.get_text("/metrics").await, prefix)
    }

    /// Polls `check` until it gives `Some`, failing with `what` after [`WAIT`].
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what}; log: {:?}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the input has been read to its end: `lines` lines counted.
    pub async fn wait_for_lines(&self, lines: u64) {
        self.wait_for(&format!("{lines} lines accepted or rejected"), || async {
            let seen = self.metric("esplora_lines_accepted_total").await
                + self.metric("esplora_lines_rejected_total").await;
            (seen >= lines).then_some(())
        })
        .await;
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits for the daemon to exit by itself.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .expect("the daemon's status should be readable")
            {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit within {WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sum of the samples in Prometheus text whose line starts with `prefix`
/// followed by a space or `{`.
pub fn metric_sum(text: &str, prefix: &str) -> u64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(prefix).is_some_and(|rest| {
                rest.starts_with(' ') || rest.starts_with('{') || prefix.ends_with('}')
            })
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
