//! `GET /ws`: the events as WebSocket text frames, and commands back.
//!
//! The handshake is answered here (hyper's upgrade, the accept key from
//! tungstenite), then the connection is handed to tokio-tungstenite. One
//! task serves each client with a `select!` over three things: the next
//! event from its [`Feed`] (which starts after `?since=SEQ` when it can),
//! the next frame from the client, and a keep-alive tick.
//!
//! - Every tick sends a ping; a client that has sent nothing, not even a
//!   pong, for two ticks is dropped as dead. A send that cannot finish in
//!   that time drops the client too: it has stopped reading, and its feed
//!   has been lagging meanwhile rather than queueing for it.
//! - A text frame must be a command (`{"type":"command",...}`). It is
//!   validated, written to the board through [`Commands`], and answered with
//!   `{"type":"ack","command":LINE}`; anything wrong is answered with
//!   `{"type":"error","error":"..."}` and the connection stays open.
//! - A frame or message over `[http] max_ws_frame_bytes` is refused by
//!   tungstenite before it is buffered; the connection is closed with 1009.
//! - A handshake from a browser page of another origin is refused (403)
//!   unless [`Access`](super::Access) lists it: otherwise any site the user
//!   visits could read the board, and send it commands.
//! - On shutdown the connection is closed with 1001 (going away), and the
//!   client reconnects elsewhere or later; shutdown waits for that.
//!
//! [`Commands`]: crate::command::Commands

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{
    CONNECTION, HeaderMap, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use hyper::upgrade::Upgraded;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tracing::debug;

use super::AppState;
use super::feed::Feed;
use super::limits::Slot;
use super::router::{BadRequest, Body, Query, bad_request, plain};
use crate::command::Command;

/// How long a closing connection keeps reading (and discarding) what the
/// client still sends, so that the close frame reaches it before the
/// socket is torn down, and at most how much.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;

/// The bytes read from a client at once, and the size its read buffer
/// starts at.
const READ_BUFFER: usize = 1024;

type Socket = WebSocketStream<TokioIo<Upgraded>>;

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
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut request);
    // Keeps the connection counted under max_connections until it closes.
    let slot = request.extensions_mut().remove::<Slot>();
    let shutdown = state.shutdown.clone();
    shutdown.spawn(async move {
        let _slot = slot;
        match on_upgrade.await {
            Ok(upgraded) => {
                let max = state.limits.max_ws_frame_bytes;
                // The read buffer is allocated up front for every client,
                // and clients send little (pongs, commands): a larger frame
                // grows it as it arrives.
                let config = WebSocketConfig::default()
                    .read_buffer_size(READ_BUFFER)
                    .max_frame_size(Some(max))
                    .max_message_size(Some(max));
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                Client::new(socket, state, since).run().await;
            }
            Err(error) => debug!("a WebSocket upgrade failed: {error}"),
        }
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

/// How a connection ended, when the server ended it.
enum End {
    /// The client closed, or the connection failed: nothing to count.
    Gone,
    /// The server dropped the client, for this reason (a metric label).
    Dropped(&'static str),
    /// The daemon is shutting down.
    Shutdown,
}

/// What to do after a frame from the client.
enum Step {
    Reply(Message),
    Continue,
    End(End),
}

struct Client {
    socket: Socket,
    feed: Feed,
    state: Arc<AppState>,
    /// When the client last sent anything, a pong included.
    heard: Instant,
}

impl Client {
    fn new(socket: Socket, state: Arc<AppState>, since: Option<u64>) -> Client {
        let feed = Feed::new(
            Arc::clone(&state.hub),
            since,
            state.metrics.client_connected("ws"),
        );
        Client {
            socket,
            feed,
            state,
            heard: Instant::now(),
        }
    }

    async fn run(mut self) {
        let keepalive = self.state.keepalive;
        let mut ticks = tokio::time::interval_at(Instant::now() + keepalive, keepalive);
        let state = Arc::clone(&self.state);
        let end = loop {
            let message = tokio::select! {
                () = state.shutdown.cancelled() => break End::Shutdown,
                event = self.feed.next() => match event {
                    // The hub's JSON is always UTF-8; checking it is cheap.
                    Some(event) => match Utf8Bytes::try_from(event.json.clone()) {
                        Ok(text) => Message::Text(text),
                        Err(_) => continue,
                    },
                    None => break End::Gone,
                },
                frame = self.socket.next() => match self.received(frame).await {
                    Step::Reply(message) => message,
                    Step::Continue => continue,
                    Step::End(end) => break end,
                },
                _ = ticks.tick() => {
                    if self.heard.elapsed() > 2 * keepalive {
                        break End::Dropped("no_pong");
                    }
                    Message::Ping(Bytes::new())
                }
            };
            // A client that takes nothing for this long has stopped reading.
            // The send is tried once before it gets a timeout: it nearly
            // always completes at once, and a timer per event per client
            // costs more than the send.
            let mut send = pin!(self.socket.send(message));
            let sent = match poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await {
                Poll::Ready(sent) => Ok(sent),
                Poll::Pending => tokio::time::timeout(2 * keepalive, send).await,
            };
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    debug!("a WebSocket send failed: {error}");
                    break End::Gone;
                }
                Err(_) => break End::Dropped("stalled"),
            }
        };
        match end {
            End::Dropped(reason) => {
                debug!(reason, "dropped a WebSocket client");
                self.state.metrics.client_dropped("ws", reason);
            }
            End::Shutdown => {
                let close = CloseFrame {
                    code: CloseCode::Away,
                    reason: "the server is shutting down".into(),
                };
                let _ = tokio::time::timeout(LINGER, self.socket.close(Some(close))).await;
            }
            End::Gone => {}
        }
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
