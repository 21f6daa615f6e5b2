//! `GET /events`: Server-Sent Events, as the HTML standard defines them.
//!
//! Each event goes out as `id: <seq>`, `event: <type>` and one `data:` line
//! (the JSON has no newlines), so `EventSource` sends the last id back as
//! `Last-Event-ID` when it reconnects, and the [`Feed`] resumes after it.
//! The stream opens with a `retry:` hint; a comment line goes out
//! whenever the stream has been idle for the keep-alive interval, so that
//! proxies keep the connection open and a client can tell a quiet board
//! from a dead server.
//!
//! The body is a stream that hyper pulls from only when the socket takes
//! more, so a client that stops reading stops pulling: its feed lags and
//! resyncs, and nothing piles up for it here.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Request, Response};
use tokio::time::{Instant, Sleep};

use super::AppState;
use super::feed::Feed;
use super::router::{BadRequest, Body, bad_request};
use crate::shutdown::Shutdown;

/// How long a browser waits before reconnecting, in ms.
const RETRY_MS: u64 = 2000;

const KEEPALIVE: &[u8] = b": keep-alive\n\n";

pub fn stream(request: &Request<Incoming>, state: &AppState) -> Response<Body> {
    let since = match last_event_id(request) {
        Ok(since) => since,
        Err(bad) => return bad_request(bad),
    };
    let feed = Feed::new(
        Arc::clone(&state.hub),
        since,
        state.metrics.client_connected("sse"),
    );
    let events = Events::new(feed, state.keepalive, state.shutdown.clone());
    let body = futures_util::stream::unfold(events, |mut events| async move {
        let chunk = events.next_chunk().await?;
        Some((Ok::<_, Infallible>(Frame::data(chunk)), events))
    });
    let mut response = Response::new(StreamBody::new(body).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Tells a buffering reverse proxy (nginx) to pass each event on at once.
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    response
}

/// The seq to resume after, from `Last-Event-ID`; a 400 if it is not one of
/// ours.
fn last_event_id(request: &Request<Incoming>) -> Result<Option<u64>, BadRequest> {
    let Some(value) = request.headers().get("last-event-id") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        BadRequest(format!(
            "Last-Event-ID {value:?} is not an event id: expected a seq such as 42\n"
        ))
    })
}

struct Events {
    feed: Feed,
    keepalive: Duration,
    /// Fires once the stream may have been idle for `keepalive`. It is moved
    /// only when it fires, never per event (a timeout around each wait would
    /// add and remove a timer for every event and client), so an event just
    /// notes when it went out, and a firing that finds the stream was not
    /// idle after all moves the timer to where it should have been.
    idle: Pin<Box<Sleep>>,
    last_sent: Instant,
    started: bool,
    /// Ends the stream when the daemon shuts down; `EventSource` then
    /// reconnects by itself, with `Last-Event-ID`.
    shutdown: Shutdown,
}

impl Events {
    fn new(feed: Feed, keepalive: Duration, shutdown: Shutdown) -> Events {
        let now = Instant::now();
        Events {
            feed,
            keepalive,
            idle: Box::pin(tokio::time::sleep_until(now + keepalive)),
            last_sent: now,
            started: false,
            shutdown,
        }
    }

    /// The next chunk of the body; `None` ends the stream.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if !self.started {
            self.started = true;
            return Some(Bytes::from(format!("retry: {RETRY_MS}\n\n")));
        }
        loop {
            tokio::select! {
                biased;
                event = self.feed.next() => {
                    let event = event?;
                    self.last_sent = Instant::now();
                    let head = format!("id: {}\nevent: {}\ndata: ", event.seq, event.kind.as_str());
                    let mut chunk = BytesMut::with_capacity(head.len() + event.json.len() + 2);
                    chunk.put_slice(head.as_bytes());
                    chunk.put_slice(&event.json);
                    chunk.put_slice(b"\n\n");
                    return Some(chunk.freeze());
                }
                () = self.idle.as_mut() => {
                    let due = self.last_sent + self.keepalive;
                    let now = Instant::now();
                    if due > now {
                        self.idle.as_mut().reset(due);
                        continue;
                    }
                    self.last_sent = now;
                    self.idle.as_mut().reset(now + self.keepalive);
                    return Some(Bytes::from_static(KEEPALIVE));
                }
                () = self.shutdown.cancelled() => return None,
            }
        }
    }
}
