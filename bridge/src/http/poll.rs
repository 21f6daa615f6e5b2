//! `GET /api/poll?since=SEQ&timeout=SECS`: long polling, for clients that
//! can hold neither a stream nor a socket.
//!
//! The answer is `{"events":[...]}`. It comes at once when there is news:
//! every event after `since` still in the history, or a fresh snapshot when
//! `since` is absent, has left the history, or was never published (a
//! client of an earlier run). Otherwise the request waits on a broadcast
//! receiver taken under the same lock as that check, so an event published
//! in between still wakes it, and answers the moment one arrives, or with
//! no events once `timeout` seconds (default 25, at most 60) have passed.
//! The client then asks again with the seq of the last event it got.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::router::{BadRequest, Body, Query, bad_request, with_type};
use crate::hub::Event;

const DEFAULT_TIMEOUT_SECS: u64 = 25;
/// Longer than this and proxies or browsers give up on the request first.
const MAX_TIMEOUT_SECS: u64 = 60;

pub async fn answer(request: &Request<Incoming>, state: &AppState) -> Response<Body> {
    let query = Query::of(request);
    let (since, timeout) = match query
        .number("since")
        .and_then(|since| Ok((since, query.number("timeout")?)))
    {
        Ok(params) => params,
        Err(bad) => return bad_request(bad),
    };
    let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if timeout > MAX_TIMEOUT_SECS {
        return bad_request(BadRequest(format!(
            "bad query: timeout must be 0 to {MAX_TIMEOUT_SECS} seconds, got {timeout}\n"
        )));
    }
    let client = state.metrics.client_connected("poll");
    let mut follow = state.hub.follow(since);
    let mut events = follow.first;
    if events.is_empty() {
        let wait = Duration::from_secs(timeout);
        let next = tokio::select! {
            next = tokio::time::timeout(wait, follow.events.recv()) => next,
            // Answered as a timeout would be: the client asks again, elsewhere or later.
            () = state.shutdown.cancelled() => Ok(Err(RecvError::Closed)),
        };
        match next {
            Ok(Ok(event)) => {
                events.push(event);
                // Whatever was published with it goes in the same answer.
                while let Ok(event) = follow.events.try_recv() {
                    events.push(event);
                }
            }
            // More arrived at once than the receiver holds: the history has
            // them, or else a snapshot stands in for them.
            Ok(Err(RecvError::Lagged(_))) => events = state.hub.follow(since).first,
            Ok(Err(RecvError::Closed)) | Err(_) => {}
        }
    }
    client.events_sent(events.len() as u64);
    with_type(encode(&events), "application/json")
}

/// `{"events":[...]}`, from events already encoded.
fn encode(events: &[Arc<Event>]) -> bytes::Bytes {
    let size = events
        .iter()
        .map(|event| event.json.len() + 1)
        .sum::<usize>();
    let mut body = BytesMut::with_capacity(size + 16);
    body.put_slice(b"{\"events\":[");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(&event.json);
    }
    body.put_slice(b"]}");
    body.freeze()
}
