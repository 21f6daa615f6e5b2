//! Routes: which handler answers which path, and the plain answers
//! (404, 405) for everything else.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::{AppState, pusher_auth};

pub type Body = BoxBody<Bytes, Infallible>;

pub async fn route(
    request: Request<Incoming>,
    state: Arc<AppState>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path();
    if path == "/pusher/auth" {
        return Ok(pusher_auth::answer(request, &state)
            .await
            .map(BodyExt::boxed));
    }
    let known = matches!(path, "/api/latest" | "/healthz" | "/metrics");
    if !known {
        return Ok(plain(StatusCode::NOT_FOUND, "not found\n"));
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(response);
    }
    Ok(match path {
        "/api/latest" => with_type(state.hub.latest_json(), "application/json"),
        "/metrics" => with_type(
            Bytes::from(state.metrics.encode()),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        _ => plain(StatusCode::OK, "ok\n"),
    })
}

fn with_type(body: Bytes, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(body).boxed());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = with_type(
        Bytes::from_static(text.as_bytes()),
        "text/plain; charset=utf-8",
    );
    *response.status_mut() = status;
    response
}
