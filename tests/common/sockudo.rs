//! A real sockudo (a Pusher-compatible server) for the relay tests: started
//! from its installed binary on a free loopback port with a config file
//! that defines one app, stopped (killed) when dropped. Alone it uses the
//! in-memory ("local") adapter; as a node of a cluster, the redis adapter
//! on a Redis the nodes share.
//!
//! sockudo is installed by `.ci/run` (a slim `cargo install sockudo`);
//! `SOCKUDO` may name the binary instead.

use std::path::PathBuf;
use std::process::Command;

use super::server::Server;

pub const APP_ID: &str = "esplora-test";
pub const KEY: &str = "esplora-test-key";
pub const SECRET: &str = "esplora-test-secret";

/// sockudo's HTTP API rate limiter, per client address.
#[derive(Clone, Copy)]
pub struct RateLimit {
    pub max_requests: u32,
    pub window_seconds: u64,
}

/// How a node reaches the others: not at all, or through a Redis.
#[derive(Clone, Copy)]
pub enum Adapter {
    Local,
    /// The redis adapter (and the redis cache, which sockudo requires of
    /// a cluster), on the loopback Redis at this port.
    Redis(u16),
}

pub struct Sockudo {
    server: Server,
    pub port: u16,
}

impl Sockudo {
    /// Starts sockudo with its API rate limiter off (`None`) or set.
    pub async fn start(limit: Option<RateLimit>) -> Sockudo {
        Sockudo::start_with(limit, Adapter::Local).await
    }

    /// Starts a node of a cluster whose nodes share the loopback Redis at
    /// `redis_port`.
    pub async fn start_node(redis_port: u16) -> Sockudo {
        Sockudo::start_with(None, Adapter::Redis(redis_port)).await
    }

    async fn start_with(limit: Option<RateLimit>, adapter: Adapter) -> Sockudo {
        let server = Server::new("sockudo");
        let port = server.port;
        std::fs::write(
            server.dir().join("sockudo.toml"),
            config(port, limit, adapter),
        )
        .expect("the sockudo config should be writable");
        let mut sockudo = Sockudo { server, port };
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
        self.server.stop();
    }

    /// Starts it (again) on the same port, and waits until it answers.
    pub async fn restart(&mut self) {
        let mut command = Command::new(binary());
        command
            .arg("--config")
            .arg(self.server.dir().join("sockudo.toml"))
            // It also reads config/config.toml under its working directory,
            // and many environment variables: keep both to this test.
            .current_dir(self.server.dir())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        let http = reqwest::Client::new();
        let http = &http;
        self.server
            .start(&mut command, |port| async move {
                let up = format!("http://127.0.0.1:{port}/up/{APP_ID}");
                let answer = http.get(&up).send().await;
                answer.is_ok_and(|response| response.status().is_success())
            })
            .await;
    }

    pub fn log(&self) -> String {
        self.server.log()
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

/// One app, in-memory everything (but for a cluster's adapter and cache),
/// no metrics server (its fixed port would clash between tests), and the
/// API rate limiter as asked.
///
/// sockudo reads its Redis from `[database.redis]`, and refuses a cluster
/// with a node-local cache. It ignores a config file it cannot read
/// (logging that before its log is set up), so a key of the wrong shape
/// shows only as a node that does not answer on its port.
fn config(port: u16, limit: Option<RateLimit>, adapter: Adapter) -> String {
    let (adapter, cache, database) = match adapter {
        Adapter::Local => ("local", "memory", String::new()),
        Adapter::Redis(redis_port) => (
            "redis",
            "redis",
            format!("\n[database.redis]\nhost = \"127.0.0.1\"\nport = {redis_port}\n"),
        ),
    };
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
driver = "{adapter}"

[cache]
driver = "{cache}"

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
{limiter}{database}"#
    )
}
