//! The routes sinks add to the local server (see
//! [`Sink::routes`](crate::sink::Sink::routes)): found by path, and
//! answered by handing the route's handler the request body, read within
//! the server's limits ([`Limits::read_body`](super::Limits::read_body)).
//! The router has already applied the `Host` check and access control.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::AppState;
use super::limits::BodyError;
use super::router::Body;
use crate::sink::Route;

/// The sink route at `path`, if any.
pub fn find<'a>(routes: &'a [Route], path: &str) -> Option<&'a Route> {
    routes.iter().find(|route| route.path == path)
}

pub async fn answer(route: &Route, request: Request<Incoming>, state: &AppState) -> Response<Body> {
    let body = state
        .limits
        .read_body(request.into_body(), &state.metrics)
        .await;
    let (status, json, close) = match body {
        Ok(body) => {
            let reply = (route.handler)(&body);
            (reply.status, reply.json, false)
        }
        Err(error) => {
            let status = match error {
                BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
                BodyError::Broken => StatusCode::BAD_REQUEST,
            };
            // The rest of the body may still come: the connection cannot
            // carry another request.
            (status, json!({"error": error.to_string()}), true)
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(json.to_string())).boxed_unsync());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if close {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
