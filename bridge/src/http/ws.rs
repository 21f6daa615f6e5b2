//! `GET /ws`: the events as WebSocket text frames, and commands back.
//!
//! The handshake is answered here (hyper's upgrade, the accept key from
//! tungstenite). Then the connection leaves hyper ([`takeover`]): its
//! writing goes to the [`fanout`], which sends the events (after
//! `?since=SEQ` when it can) and a ping every keep-alive interval, and a
//! task of its own reads what the client sends, through tokio-tungstenite.
//! What that task sends (pongs, acks, errors, close frames) tungstenite
//! writes into a [`Replies`], which hands each flush to the fan-out as
//! whole frames, in order with the events.
//!
//! - A client that has sent nothing, not even a pong, for two keep-alive
//!   intervals is dropped as dead (`no_pong`). One whose socket takes
//!   nothing for as long is dropped by the fan-out (`stalled`): it has
//!   stopped reading, and has been resynced meanwhile rather than queued for.
//! - A text frame must be a command (`{"type":"command",...}`). It is
//!   validated, written to the board through [`Commands`], and answered with
//!   `{"type":"ack","command":LINE}`; anything wrong is answered with
//!   `{"type":"error","error":"..."}` and the connection stays open.
//! - A frame or message over `[http] max_ws_frame_bytes` is refused by
//!   tungstenite before it is buffered; the connection is closed with 1009.
//! - A handshake from a browser page of another origin is refused (403)
//!   unless [`Access`](super::Access) lists it: otherwise any site the user
//!   visits could read the board, and send it commands.
//! - On shutdown the fan-out closes the connection with 1001 (going away),
//!   and the client reconnects elsewhere or later.
//!
//! [`Commands`]: crate::command::Commands
//! [`takeover`]: super::takeover
//! [`fanout`]: super::fanout

use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{
    CONNECTION, HeaderMap, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::PollSender;
use tracing::debug;

use super::AppState;
use super::fanout::{Joining, Link, ToShard, Transport};
use super::limits::Slot;
use super::router::{BadRequest, Body, Query, bad_request, plain};
use super::takeover::{Io, Takeover};
use crate::command::Command;

/// How long a closing connection keeps reading (and discarding) what the
/// client still sends, so that the close frame reaches it before the
/// socket is torn down, and at most how much.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;
/// The bytes read from a client at once, and the size its read buffer
/// starts at.
const READ_BUFFER: usize = 1024;

type Socket = WebSocketStream<Replies>;

/// Answers the handshake, and serves the connection once hyper hands it over.
pub fn upgrade(mut request: Request<Incoming>, state: Arc<AppState>) -> Response<Body> {
    let since = match Query::of(&request).number("since") {
        Ok(since) => since,
        Err(bad) => return bad_request(bad),
    };
    if !state.access.origin_allowed(&request) {
        state.metrics.refused("origin");
        return plain(
            StatusCode::FORBIDDEN,
            "WebSocket connections from this page's origin are not allowed: see [http] allowed_origins\n",
        );
    }
    let headers = request.headers();
    if !has_token(headers, &UPGRADE, "websocket") || !has_token(headers, &CONNECTION, "upgrade") {
        return upgrade_required("this is a WebSocket endpoint: connect with a WebSocket client\n");
    }
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return upgrade_required("only WebSocket version 13 is spoken here\n");
    }
    let Some(key) = headers.get(SEC_WEBSOCKET_KEY) else {
        return bad_request(BadRequest(
            "the WebSocket handshake has no Sec-WebSocket-Key\n".to_owned(),
        ));
    };
    let Some(takeover) = request.extensions().get::<Takeover>().cloned() else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "this connection cannot be upgraded\n",
        );
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut request);
    // Keeps the connection counted under max_connections until it closes.
    let slot = request.extensions_mut().remove::<Slot>();
    let shutdown = state.shutdown.clone();
    shutdown.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => return debug!("a WebSocket upgrade failed: {error}"),
        };
        // What hyper read ahead is copied, and the rest of `parts` dropped
        // at once: it shares hyper's whole read buffer (8 KiB), which would
        // otherwise live as long as the client.
        let (Io(socket), ahead) = match upgraded.downcast::<TokioIo<Io>>() {
            Ok(parts) => (
                parts.io.into_inner(),
                Bytes::copy_from_slice(&parts.read_buf),
            ),
            Err(_) => return debug!("a WebSocket upgrade came on a connection of another kind"),
        };
        let client = Joining {
            since,
            transport: Transport::WebSocket,
            slot,
            metrics: state.metrics.client_connected("ws"),
        };
        let link = takeover.fanout.join(Arc::clone(&socket), client).await;
        let max = state.limits.max_ws_frame_bytes;
        // The read buffer is allocated up front for every client, and
        // clients send little (pongs, commands): a larger frame grows it as
        // it arrives.
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .max_frame_size(Some(max))
            .max_message_size(Some(max));
        let replies = Replies {
            ahead,
            io: Io(socket),
            out: Vec::new(),
            id: link.id,
            to: PollSender::new(link.to.clone()),
        };
        let socket = WebSocketStream::from_raw_socket(replies, Role::Server, Some(config)).await;
        Client::new(socket, state, link).run().await;
    });
    let mut response = Response::new(Empty::new().boxed_unsync());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// Whether a comma-separated header lists `token`, ignoring case.
fn has_token(headers: &HeaderMap, name: &hyper::header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .unwrap_or_default()
            .split(',')
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    })
}

fn upgrade_required(text: &'static str) -> Response<Body> {
    let mut response = plain(StatusCode::UPGRADE_REQUIRED, text);
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    response
}

/// What tungstenite reads and writes: it reads what hyper had read ahead,
/// then the socket; what it writes is kept until it flushes, then handed
/// to the client's shard as one reply.
struct Replies {
    ahead: Bytes,
    io: Io,
    out: Vec<u8>,
    id: u64,
    to: PollSender<ToShard>,
}

impl AsyncRead for Replies {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.ahead.has_remaining() {
            let n = self.ahead.len().min(buf.remaining());
            buf.put_slice(&self.ahead[..n]);
            self.ahead.advance(n);
            if self.ahead.is_empty() {
                self.ahead = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Replies {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.out.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let gone = |_| io::Error::from(io::ErrorKind::BrokenPipe);
        ready!(self.to.poll_reserve(cx)).map_err(gone)?;
        let reply = ToShard::Reply(self.id, Bytes::from(std::mem::take(&mut self.out)));
        self.to.send_item(reply).map_err(gone)?;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The shard closes the socket, once this task has ended.
        self.poll_flush(cx)
    }
}

/// How a connection ended, when the server ended it.
enum End {
    /// The client closed, or the connection failed: nothing to count.
    Gone,
    /// The server dropped the client, for this reason (a metric label).
    Dropped(&'static str),
    /// The daemon is shutting down: the fan-out closes the connection.
    Shutdown,
}

/// What to do after a frame from the client.
enum Step {
    Reply(Message),
    Continue,
    End(End),
}

/// The reading side of one client.
struct Client {
    socket: Socket,
    state: Arc<AppState>,
    link: Link,
    /// When the client last sent anything, a pong included.
    heard: Instant,
}

impl Client {
    fn new(socket: Socket, state: Arc<AppState>, link: Link) -> Client {
        Client {
            socket,
            state,
            link,
            heard: Instant::now(),
        }
    }

    async fn run(mut self) {
        let silence = 2 * self.state.keepalive;
        let state = Arc::clone(&self.state);
        // Moved only when it fires (a client is heard every interval), to
        // where the silence would end.
        let mut dead = pin!(tokio::time::sleep_until(self.heard + silence));
        let end = loop {
            let message = tokio::select! {
                () = state.shutdown.cancelled() => break End::Shutdown,
                frame = self.socket.next() => match self.received(frame).await {
                    Step::Reply(message) => message,
                    Step::Continue => continue,
                    Step::End(end) => break end,
                },
                () = dead.as_mut() => {
                    let due = self.heard + silence;
                    if due > Instant::now() {
                        dead.as_mut().reset(due);
                        continue;
                    }
                    break End::Dropped("no_pong");
                }
            };
            if let Err(error) = self.socket.send(message).await {
                debug!("a WebSocket reply failed: {error}");
                break End::Gone;
            }
        };
        match end {
            End::Dropped(reason) => {
                debug!(reason, "dropped a WebSocket client");
                self.state.metrics.client_dropped("ws", reason);
            }
            End::Shutdown => return,
            End::Gone => {}
        }
        let _ = self.link.to.send(ToShard::End(self.link.id)).await;
    }

    async fn received(&mut self, frame: Option<Result<Message, WsError>>) -> Step {
        let message = match frame {
            None => return Step::End(End::Gone),
            Some(Ok(message)) => message,
            Some(Err(WsError::Capacity(error))) => {
                debug!("a WebSocket client sent too much: {error}");
                self.close_too_big().await;
                return Step::End(End::Dropped("too_large"));
            }
            Some(Err(error)) => {
                debug!("a WebSocket connection failed: {error}");
                return Step::End(End::Gone);
            }
        };
        self.heard = Instant::now();
        match message {
            Message::Text(text) => Step::Reply(self.command(&text).await),
            Message::Binary(_) => Step::Reply(error_frame(
                "binary frames are not understood: send JSON text frames",
            )),
            // tungstenite answers pings and close frames itself; after a
            // close the stream ends at the next read.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => {
                Step::Continue
            }
        }
    }

    /// Validates a command frame and sends the command to the board. (Takes
    /// `&mut self` only so that the future is `Send`: `Client` is not `Sync`.)
    async fn command(&mut self, text: &str) -> Message {
        let metrics = &self.state.metrics;
        let command = match parse_command(text) {
            Ok(command) => command,
            Err(error) => {
                metrics.command("invalid");
                return error_frame(&error);
            }
        };
        match self.state.commands.send(command).await {
            Ok(()) => {
                metrics.command("sent");
                json_frame(&serde_json::json!({"type": "ack", "command": command.to_string()}))
            }
            Err(refused) => {
                metrics.command(refused.reason());
                error_frame(&refused.to_string())
            }
        }
    }

    /// Closes with 1009, then reads and discards what the client is still
    /// sending for a moment, so that closing the socket with unread data
    /// (which resets it) does not destroy the close frame on its way.
    async fn close_too_big(&mut self) {
        let close = CloseFrame {
            code: CloseCode::Size,
            reason: format!(
                "frames are limited to {} bytes",
                self.state.limits.max_ws_frame_bytes
            )
            .into(),
        };
        if tokio::time::timeout(LINGER, self.socket.close(Some(close)))
            .await
            .is_err()
        {
            return;
        }
        let io = self.socket.get_mut();
        let mut buf = vec![0; 16 * 1024];
        let mut drained = 0;
        let deadline = Instant::now() + LINGER;
        while drained < LINGER_BYTES {
            match tokio::time::timeout_at(deadline, io.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => drained += n,
                _ => break,
            }
        }
    }
}

/// A client's frame: only commands so far.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum ClientFrame {
    Command {
        led: Option<Vec<i64>>,
        tone: Option<i64>,
        ms: Option<i64>,
    },
}

fn parse_command(text: &str) -> Result<Command, String> {
    let frame: ClientFrame =
        serde_json::from_str(text).map_err(|error| format!("bad frame: {error}"))?;
    let ClientFrame::Command { led, tone, ms } = frame;
    let command = match (led, tone, ms) {
        (Some(rgb), None, None) => Command::led(&rgb),
        (None, Some(hz), Some(ms)) => Command::tone(hz, ms),
        (None, Some(_), None) => return Err("bad command: tone needs ms, its length".to_owned()),
        (None, None, _) => return Err("bad command: it needs led or tone".to_owned()),
        _ => return Err("bad command: it is either led, or tone with ms".to_owned()),
    };
    command.map_err(|error| format!("bad command: {error}"))
}

fn error_frame(error: &str) -> Message {
    json_frame(&serde_json::json!({"type": "error", "error": error}))
}

fn json_frame(value: &serde_json::Value) -> Message {
    Message::Text(value.to_string().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_frames_are_parsed_and_checked() {
        let ok = |text: &str| parse_command(text).map(|command| command.to_string());
        assert_eq!(
            ok(r#"{"type":"command","led":[0,32,255]}"#).unwrap(),
            "led:0,32,255"
        );
        assert_eq!(
            ok(r#"{"type":"command","tone":440,"ms":250}"#).unwrap(),
            "tone:440,250"
        );
        for (text, expected) in [
            ("nope", "bad frame: expected ident"),
            (r#"{"led":[1,2,3]}"#, "bad frame: missing field `type`"),
            (r#"{"type":"reset"}"#, "bad frame: unknown variant `reset`"),
            (
                r#"{"type":"command","led":[1,2,3],"x":1}"#,
                "bad frame: unknown field `x`",
            ),
            (
                r#"{"type":"command","led":[1.5,2,3]}"#,
                "bad frame: invalid type: floating point",
            ),
            (
                r#"{"type":"command","led":[1,2,300]}"#,
                "bad command: led takes",
            ),
            (
                r#"{"type":"command","tone":5,"ms":100}"#,
                "bad command: tone takes 20 to 20000 Hz; got 5",
            ),
            (
                r#"{"type":"command","tone":440}"#,
                "bad command: tone needs ms",
            ),
            (r#"{"type":"command"}"#, "bad command: it needs led or tone"),
            (
                r#"{"type":"command","led":[1,2,3],"tone":440,"ms":1}"#,
                "bad command: it is either",
            ),
        ] {
            let error = ok(text).expect_err(text);
            assert!(error.starts_with(expected), "{text}: {error}");
        }
    }
}
