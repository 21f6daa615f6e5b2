//! A real sockudo (a Pusher-compatible server) for the relay tests: started
//! from its installed binary on a free loopback port with a config file
//! that defines one app, stopped (killed) when dropped.
//!
//! sockudo is installed by `.ci/run` (a slim `cargo install sockudo`);
//! `SOCKUDO` may name the binary instead.

use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::WAIT;

pub const APP_ID: &str = "esplora-test";
pub const KEY: &str = "esplora-test-key";
pub const SECRET: &str = "esplora-test-secret";

/// sockudo's HTTP API rate limiter, per client address.
#[derive(Clone, Copy)]
pub struct RateLimit {
    pub max_requests: u32,
    pub window_seconds: u64,
}

pub struct Sockudo {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Sockudo {
    /// Starts sockudo with its API rate limiter off (`None`) or set.
    pub async fn start(limit: Option<RateLimit>) -> Sockudo {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        std::fs::write(dir.path().join("sockudo.toml"), config(port, limit))
            .expect("the sockudo config should be writable");
        let mut sockudo = Sockudo {
            child: None,
            port,
            dir,
        };
        sockudo.restart().await;
        sockudo
    }

    /// The base URL of its HTTP API.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The URL a Pusher client connects to.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/app/{KEY}?protocol=7", self.port)
    }

    /// Kills it, as a crash or a pulled cable would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port, and waits until it answers.
    pub async fn restart(&mut self) {
        self.stop();
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("the sockudo log should be writable");
        let child = Command::new(binary())
            .arg("--config")
            .arg(self.dir.path().join("sockudo.toml"))
            // It also reads config/config.toml under its working directory,
            // and many environment variables: keep both to this test.
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file handle"))
            .stderr(log)
            .spawn()
            .expect("sockudo should start");
        self.child = Some(child);
        let up = format!("{}/up/{APP_ID}", self.url());
        let http = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        loop {
            let answer = http.get(&up).send().await;
            if answer.is_ok_and(|response| response.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "sockudo did not answer on port {} within {WAIT:?}; its log:\n{}",
                self.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("sockudo.log")
    }
}

impl Drop for Sockudo {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The sockudo to run: `SOCKUDO`, else the installed one.
fn binary() -> PathBuf {
    std::env::var_os("SOCKUDO").map_or_else(
        || {
            super::tool(
                "sockudo",
                "cargo install sockudo --locked --no-default-features --features local,redis",
            )
        },
        PathBuf::from,
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// One app, in-memory everything, no metrics server (its fixed port would
/// clash between tests), and the API rate limiter as asked.
fn config(port: u16, limit: Option<RateLimit>) -> String {
    let limiter = match limit {
        Some(limit) => format!(
            "enabled = true\n\n[rate_limiter.api_rate_limit]\nmax_requests = {}\nwindow_seconds = {}\n",
            limit.max_requests, limit.window_seconds
        ),
        None => "enabled = false\n".to_owned(),
    };
    format!(
        r#"host = "127.0.0.1"
port = {port}

[adapter]
driver = "local"

[cache]
driver = "memory"

[queue]
driver = "none"

[metrics]
enabled = false

[app_manager]
driver = "memory"

[[app_manager.array.apps]]
id = "{APP_ID}"
key = "{KEY}"
secret = "{SECRET}"
enabled = true
max_connections = 0
enable_client_messages = false
max_client_events_per_second = 0

[rate_limiter]
{limiter}"#
    )
}
