//! A real Redis (Debian's `redis-server`) for the sockudo cluster test:
//! started on a free loopback port with no persistence, in a temporary
//! directory, and killed when dropped. Nodes of a sockudo cluster share it
//! through the redis adapter.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::WAIT;

pub struct Redis {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Redis {
    /// Starts it and waits until it answers `PING`.
    pub async fn start() -> Redis {
        let binary = super::tool("redis-server", "apt-get install redis-server");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(dir.path().join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server should start");
        let redis = Redis { child, port, dir };
        let deadline = Instant::now() + WAIT;
        while !redis.pong().await {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING on port {port} within {WAIT:?}; its log:\n{}",
                redis.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        redis
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Whether it answers `PING` with `+PONG`.
    async fn pong(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        let mut answer = [0; 7];
        stream.write_all(b"PING\r\n").await.is_ok()
            && stream.read_exact(&mut answer).await.is_ok()
            && &answer == b"+PONG\r\n"
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
