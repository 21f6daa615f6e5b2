//! What one client may cost: the `[http]` limits, and the admission of
//! connections under `max_connections`.
//!
//! Each limit is enforced where the thing is read, by the library that
//! reads it, so that nothing is buffered before it is checked:
//!
//! - connections: a semaphore with `max_connections` permits; a connection
//!   holds one for its whole life (a WebSocket's included, see [`Slot`]).
//!   One more is answered `503` straight away and closed ([`refuse`]).
//! - the request head: hyper's read buffer is `max_header_bytes`; a head
//!   that does not fit is answered `431` by hyper.
//! - slow and idle clients: hyper's header read timeout runs from when a
//!   connection opens or finishes a response until a whole request head
//!   has arrived, so it closes slowloris connections and idle keep-alive
//!   ones alike. TCP keep-alive probes close half-open connections (a peer
//!   that vanished) that are streaming.
//! - a request body: `Content-Length` over `max_body_bytes` is a `413`
//!   before it is read; a chunked body is cut off at the same size. A body
//!   is read only through [`Limits::read_body`], which also gives it
//!   `body_timeout_secs` to arrive in full: a client that declares 100
//!   bytes and sends 10 is answered `408` and closed then, instead of
//!   holding its connection (and a place under `max_connections`) for
//!   ever. A handler that does not read the body does not wait for it:
//!   hyper closes the connection after the answer instead of draining it.
//! - a WebSocket frame: tungstenite refuses a larger one (close 1009).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use esplora_config::HttpConfig;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;

use crate::metrics::{Metrics, OpenConnection};

/// Refusals being written at once, at most; beyond that a connection over
/// the limit is closed without a word, so that a flood of them costs no
/// more than these.
const REFUSING: usize = 64;
/// How long a refused connection is given to take its 503.
const REFUSE_LINGER: Duration = Duration::from_secs(1);
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: text/plain; charset=utf-8\r\ncontent-length: 35\r\n\
retry-after: 1\r\nconnection: close\r\n\r\ntoo many connections: try it later\n";

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_body_bytes: usize,
    pub max_ws_frame_bytes: usize,
    pub header_timeout: Duration,
    /// How long a request body may take to arrive, `body_timeout_secs`.
    pub body_timeout: Duration,
    /// The TCP keep-alive interval, `keepalive_secs`.
    pub tcp_keepalive: Duration,
}

impl Limits {
    pub fn new(config: &HttpConfig) -> Limits {
        Limits {
            max_header_bytes: config.max_header_bytes,
            max_body_bytes: config.max_body_bytes,
            max_ws_frame_bytes: config.max_ws_frame_bytes,
            header_timeout: Duration::from_secs(config.header_timeout_secs),
            body_timeout: Duration::from_secs(config.body_timeout_secs),
            tcp_keepalive: Duration::from_secs(config.keepalive_secs),
        }
    }

    /// The whole of a request body, at most `max_body_bytes` of it, within
    /// `body_timeout`; a refusal is counted in `metrics`.
    pub async fn read_body(&self, body: Incoming, metrics: &Metrics) -> Result<Bytes, BodyError> {
        let read = Limited::new(body, self.max_body_bytes).collect();
        match timeout(self.body_timeout, read).await {
            Ok(Ok(body)) => Ok(body.to_bytes()),
            Ok(Err(error)) if error.is::<LengthLimitError>() => {
                metrics.refused("body_too_large");
                Err(BodyError::TooLarge(self.max_body_bytes))
            }
            Ok(Err(_)) => Err(BodyError::Broken),
            Err(_) => {
                metrics.refused("body_timeout");
                Err(BodyError::TimedOut(self.body_timeout))
            }
        }
    }

    /// Sets the socket's TCP keep-alive: after an idle interval, a probe
    /// every interval, and the connection closed after three unanswered.
    pub fn tune(&self, stream: &TcpStream) {
        let keepalive = TcpKeepalive::new()
            .with_time(self.tcp_keepalive)
            .with_interval(self.tcp_keepalive)
            .with_retries(3);
        // Without it a half-open connection lasts until a write fails.
        let _ = SockRef::from(stream).set_tcp_keepalive(&keepalive);
        // Events are small writes that must leave at once: Nagle would hold
        // one back until the client acknowledged the one before.
        let _ = stream.set_nodelay(true);
    }
}

/// Why [`Limits::read_body`] gave no body.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Over `max_body_bytes` (this many): a `413`.
    #[error("the request body is over {0} bytes")]
    TooLarge(usize),
    /// Not all there within `body_timeout_secs`: a `408`, and the
    /// connection closed.
    #[error("the request body did not arrive within {0:?}")]
    TimedOut(Duration),
    /// The connection failed or the framing was wrong: a `400`.
    #[error("the request body could not be read")]
    Broken,
}

/// The connections admitted, and those being refused.
pub struct Admission {
    open: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

/// A connection's place under `max_connections`: freed when the last clone
/// is dropped, which for a WebSocket is when its task ends.
#[derive(Clone)]
pub struct Slot {
    _held: Arc<Held>,
}

struct Held {
    _permit: OwnedSemaphorePermit,
    _open: OpenConnection,
}

impl Admission {
    pub fn new(max_connections: usize, metrics: Arc<Metrics>) -> Admission {
        Admission {
            open: Arc::new(Semaphore::new(max_connections)),
            refusing: Arc::new(Semaphore::new(REFUSING)),
            metrics,
        }
    }

    /// A slot for a new connection; `None` when all are taken, in which case
    /// the connection is being refused.
    pub fn admit(&self, stream: TcpStream) -> Option<(TcpStream, Slot)> {
        match Arc::clone(&self.open).try_acquire_owned() {
            Ok(permit) => Some((
                stream,
                Slot {
                    _held: Arc::new(Held {
                        _permit: permit,
                        _open: self.metrics.connection_opened(),
                    }),
                },
            )),
            Err(_) => {
                self.metrics.refused("max_connections");
                if let Ok(refusing) = Arc::clone(&self.refusing).try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse(stream).await;
                        drop(refusing);
                    });
                }
                None
            }
        }
    }
}

/// Writes the 503 at once, then reads (and drops) what the client sends
/// for a moment: closing a socket with unread data resets it, which can
/// destroy the answer before the client has read it.
async fn refuse(mut stream: TcpStream) {
    if timeout(REFUSE_LINGER, stream.write_all(REFUSAL))
        .await
        .is_err()
    {
        return;
    }
    let _ = stream.shutdown().await;
    let mut buf = [0; 4096];
    let deadline = tokio::time::Instant::now() + REFUSE_LINGER;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
    }
}
