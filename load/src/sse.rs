//! One SSE client: `GET /events` over hyper's HTTP/1.1 client connection.
//!
//! hyper undoes the chunked encoding; the events are split on the blank
//! line that ends each, carrying an incomplete one over to the next read.
//! Only `event:` and the `user` field of `data:` are looked at (see
//! [`send_time`]). The first snapshot makes the client ready; a later one
//! means the daemon resynced it after it lagged, and is counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Buf, BytesMut};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::tally::{Tally, send_time};

/// Runs one client until its connection ends; `ready` is called once, when
/// it has its first snapshot.
pub async fn client(
    addr: SocketAddr,
    tally: Arc<Tally>,
    ready: impl FnOnce(),
) -> anyhow::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::get("/events")
        .header("host", addr.to_string())
        .header("accept", "text/event-stream")
        .body(Empty::<bytes::Bytes>::new())?;
    let response = sender.send_request(request).await?;
    anyhow::ensure!(
        response.status().is_success(),
        "GET /events: {}",
        response.status()
    );
    let mut body = response.into_body();
    let mut pending = BytesMut::new();
    let mut sent = Vec::new();
    let mut ready = Some(ready);
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        let now = tally.now_us();
        pending.extend_from_slice(&data);
        while let Some(end) = memchr::memmem::find(&pending, b"\n\n") {
            let event = &pending[..end];
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
            pending.advance(end + 2);
        }
        tally.record(now, &sent);
        sent.clear();
    }
    anyhow::bail!("the event stream ended")
}

fn has_line(event: &[u8], line: &[u8]) -> bool {
    event
        .split(|&byte| byte == b'\n')
        .any(|candidate| candidate == line)
}
