//! One WebSocket client: `GET /ws` with tokio-tungstenite.
//!
//! Each text frame is one event; only its `type` and its `user` field (the line's `u:`) are
//! looked at (see [`send_time`]). The first snapshot makes the client
//! ready; a later one means the daemon resynced it after it lagged, and is
//! counted. tungstenite answers the daemon's pings as it reads.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::StreamExt;
use memchr::memmem;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::tally::{Tally, send_time};

/// Runs one client until its connection ends; `ready` is called once, when
/// it has its first snapshot.
pub async fn client(
    addr: SocketAddr,
    tally: Arc<Tally>,
    ready: impl FnOnce(),
) -> anyhow::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    // tungstenite reads in 128 KiB chunks by default: far more than events
    // need, and 1.25 GiB over 10,000 clients.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut socket, _) = tokio_tungstenite::client_async_with_config(
        format!("ws://{addr}/ws"),
        stream,
        Some(config),
    )
    .await?;
    let mut ready = Some(ready);
    while let Some(message) = socket.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        let json = text.as_bytes();
        if memmem::find(json, br#""type":"delta""#).is_some() {
            let now = tally.now_us();
            tally.record(now, send_time(json).as_slice());
        } else if memmem::find(json, br#""type":"snapshot""#).is_some() {
            match ready.take() {
                Some(ready) => ready(),
                None => {
                    tally.resynced.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    anyhow::bail!("the WebSocket closed")
}
