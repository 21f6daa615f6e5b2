//! One SSE client: `GET /events` over a plain TCP stream.
//!
//! One task per client reads the socket straight into a small buffer and
//! undoes HTTP/1.1's chunked encoding itself: a general HTTP client would
//! cost a second task and a channel hop per event, and with thousands of
//! clients on the same two cores as the daemon, the tool's own cost shows
//! in the latencies it measures. The events are split on the blank line
//! that ends each, an incomplete one carried over to the next read. Only
//! `event:` and the `user` field of `data:` are looked at (see
//! [`send_time`]). The first snapshot makes the client ready; a later one
//! means the daemon resynced it after it lagged, and is counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context, bail, ensure};
use bytes::{Buf, BytesMut};
use memchr::memmem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::tally::{Tally, send_time};

/// Runs one client until its connection ends; `ready` is called once, when
/// it has its first snapshot.
pub async fn client(
    addr: SocketAddr,
    tally: Arc<Tally>,
    ready: impl FnOnce(),
) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET /events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut raw = BytesMut::with_capacity(4096);
    let head_end = loop {
        if let Some(end) = memmem::find(&raw, b"\r\n\r\n") {
            break end;
        }
        ensure!(raw.len() < 16 * 1024, "the response head is too long");
        ensure!(stream.read_buf(&mut raw).await? > 0, "no response");
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    ensure!(head.starts_with("http/1.1 200"), "GET /events: {head}");
    ensure!(
        head.contains("transfer-encoding: chunked"),
        "the event stream is not chunked: {head}"
    );
    raw.advance(head_end + 4);
    let mut events = BytesMut::new();
    let mut sent = Vec::new();
    let mut ready = Some(ready);
    loop {
        let now = tally.now_us();
        while let Some(size_end) = memmem::find(&raw, b"\r\n") {
            let size = std::str::from_utf8(&raw[..size_end])
                .ok()
                .and_then(|text| usize::from_str_radix(text.trim(), 16).ok())
                .context("a bad chunk size")?;
            if size == 0 {
                bail!("the event stream ended");
            }
            if raw.len() < size_end + 2 + size + 2 {
                break;
            }
            events.extend_from_slice(&raw[size_end + 2..size_end + 2 + size]);
            raw.advance(size_end + 2 + size + 2);
        }
        while let Some(end) = memmem::find(&events, b"\n\n") {
            let event = &events[..end];
            if has_line(event, b"event: delta") {
                sent.extend(send_time(event));
            } else if has_line(event, b"event: snapshot") {
                match ready.take() {
                    Some(ready) => ready(),
                    None => {
                        tally.resynced.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            events.advance(end + 2);
        }
        tally.record(now, &sent);
        sent.clear();
        raw.reserve(1024);
        if stream.read_buf(&mut raw).await? == 0 {
            bail!("the connection closed");
        }
    }
}

fn has_line(event: &[u8], line: &[u8]) -> bool {
    event
        .split(|&byte| byte == b'\n')
        .any(|candidate| candidate == line)
}
