//! A real Redis (Debian's `redis-server`) for the sockudo cluster test:
//! started on a free loopback port with no persistence, in a temporary
//! directory, and killed when dropped. Nodes of a sockudo cluster share it
//! through the redis adapter.

use std::process::Command;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::server::Server;

pub struct Redis {
    server: Server,
}

impl Redis {
    /// Starts it and waits until it answers `PING`.
    pub async fn start() -> Redis {
        let mut server = Server::new("redis");
        let mut command = Command::new(super::tool("redis-server", "apt-get install redis-server"));
        command
            .args(["--bind", "127.0.0.1", "--port", &server.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(server.dir());
        server.start(&mut command, pong).await;
        Redis { server }
    }

    pub fn port(&self) -> u16 {
        self.server.port
    }
}

/// Whether the Redis at `port` answers `PING` with `+PONG`.
async fn pong(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut answer = [0; 7];
    stream.write_all(b"PING\r\n").await.is_ok()
        && stream.read_exact(&mut answer).await.is_ok()
        && &answer == b"+PONG\r\n"
}
