//! `GET /events`: Server-Sent Events, as the HTML standard defines them.
//!
//! Each event goes out as `id: <seq>`, `event: <type>` and one `data:` line
//! (the JSON has no newlines), so `EventSource` sends the last id back as
//! `Last-Event-ID` when it reconnects, and the stream resumes after it.
//! The stream opens with a `retry:` hint; a comment line goes out
//! whenever the stream has been idle for the keep-alive interval, so that
//! proxies keep the connection open and a client can tell a quiet board
//! from a dead server.
//!
//! This handler checks the request and answers with the response head;
//! then the connection leaves hyper ([`takeover`](super::takeover)) and the
//! [`fanout`](super::fanout) writes the stream.

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Version};

use super::AppState;
use super::fanout::{Joining, Transport};
use super::limits::Slot;
use super::router::{BadRequest, Body, bad_request, plain};
use super::takeover::{Handover, Takeover};

pub fn stream(request: &Request<Incoming>, state: &AppState) -> Response<Body> {
    let since = match last_event_id(request) {
        Ok(since) => since,
        Err(bad) => return bad_request(bad),
    };
    let Some(takeover) = request.extensions().get::<Takeover>().cloned() else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "this connection cannot stream events\n",
        );
    };
    let client = Joining {
        since,
        // hyper frames a body of unknown length in chunks for HTTP/1.1, and
        // sends it until the connection closes for HTTP/1.0.
        transport: Transport::Sse {
            chunked: request.version() == Version::HTTP_11,
        },
        // Keeps the connection counted after it has left hyper.
        slot: request.extensions().get::<Slot>().cloned(),
        metrics: state.metrics.client_connected("sse"),
    };
    let mut response = Response::new(Handover::new(takeover, client).boxed_unsync());
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
