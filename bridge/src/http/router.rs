//! Routes: which handler answers which path, and the plain answers
//! (400, 404, 405) shared by all of them. Before a request reaches its
//! handler it passes the [`host`] checks (one valid `Host`, every route;
//! one the server answers for unless a token is set),
//! [`Access`](super::Access) (every route but `/healthz`) and the body size
//! limit.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};

use super::{AppState, access, history, host, page, poll, sink_route, sse, ws};
use crate::sink;

pub type Body = UnsyncBoxBody<Bytes, Infallible>;

pub async fn route(
    request: Request<Incoming>,
    state: Arc<AppState>,
) -> Result<Response<Body>, Infallible> {
    let host = match host::requested(&request) {
        Ok(host) => host,
        Err(why) => {
            state.metrics.refused("bad_host");
            return Ok(plain(StatusCode::BAD_REQUEST, why));
        }
    };
    if !state.access.host_allowed(&host, host::arrived(&request)) {
        state.metrics.refused("host");
        return Ok(access::misdirected());
    }
    // Load balancers and systemd check health without credentials.
    if request.uri().path() == "/healthz" {
        return Ok(handle(request, state).await);
    }
    if let Some(preflight) = state.access.preflight(&request) {
        return Ok(preflight);
    }
    let Some(granted) = state.access.check(&request) else {
        state.metrics.refused("unauthorized");
        return Ok(access::unauthorized());
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > state.limits.max_body_bytes as u64) {
        state.metrics.refused("body_too_large");
        return Ok(plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is over max_body_bytes\n",
        ));
    }
    let headers = request.headers().clone();
    let mut response = handle(request, Arc::clone(&state)).await;
    state.access.finish(&headers, granted, &mut response);
    Ok(response)
}

/// A route the server always has: its path, the methods it allows, and
/// what answers it. The one list of routes: `Allow` and dispatch both read
/// it, so they cannot drift apart.
struct Route {
    path: &'static str,
    /// The `Allow` header's value. A stream or a wait has nothing to say
    /// to HEAD, so those allow GET alone.
    allow: &'static str,
    answer: fn(Request<Incoming>, Arc<AppState>) -> Answer,
}

type Answer = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

const ROUTES: &[Route] = &[
    Route {
        path: "/events",
        allow: "GET",
        answer: |request, state| ready(sse::stream(&request, &state)),
    },
    Route {
        path: "/ws",
        allow: "GET",
        answer: |request, state| ready(ws::upgrade(request, state)),
    },
    Route {
        path: "/api/poll",
        allow: "GET",
        answer: |request, state| Box::pin(async move { poll::answer(&request, &state).await }),
    },
    Route {
        path: "/api/latest",
        allow: "GET, HEAD",
        answer: |_, state| ready(with_type(state.hub.latest_json(), "application/json")),
    },
    Route {
        path: "/api/history",
        allow: "GET, HEAD",
        answer: |request, state| Box::pin(async move { history::answer(&request, &state).await }),
    },
    Route {
        path: "/api/fields",
        allow: "GET, HEAD",
        answer: |_, state| ready(with_type(state.fields.clone(), "application/json")),
    },
    Route {
        path: "/metrics",
        allow: "GET, HEAD",
        answer: |_, state| {
            ready(with_type(
                Bytes::from(state.metrics.encode()),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ))
        },
    },
    Route {
        path: "/healthz",
        allow: "GET, HEAD",
        answer: |_, _| ready(plain(StatusCode::OK, "ok\n")),
    },
];

fn ready(response: Response<Body>) -> Answer {
    Box::pin(std::future::ready(response))
}

/// What a path leads to: a route of [`ROUTES`], a file of the page, or a
/// route a sink added.
enum Target<'a> {
    Route(&'static Route),
    Asset(&'static [u8], &'static str),
    Sink(&'a sink::Route),
}

impl<'a> Target<'a> {
    fn find(path: &str, state: &'a AppState) -> Option<Self> {
        if let Some(route) = ROUTES.iter().find(|route| route.path == path) {
            return Some(Target::Route(route));
        }
        if let Some((body, content_type)) = page::asset(path) {
            return Some(Target::Asset(body, content_type));
        }
        sink_route::find(&state.routes, path).map(Target::Sink)
    }

    fn allow(&self) -> &'static str {
        match self {
            Target::Route(route) => route.allow,
            Target::Asset(..) => "GET, HEAD",
            Target::Sink(route) => route.method,
        }
    }
}

async fn handle(request: Request<Incoming>, state: Arc<AppState>) -> Response<Body> {
    let Some(target) = Target::find(request.uri().path(), &state) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let allow = target.allow();
    if !allow
        .split(", ")
        .any(|method| method == request.method().as_str())
    {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        return response;
    }
    match target {
        Target::Route(route) => (route.answer)(request, Arc::clone(&state)).await,
        Target::Asset(body, content_type) => with_type(body, content_type),
        Target::Sink(route) => sink_route::answer(route, request, &state).await,
    }
}

/// What a client got wrong in its request: answered with a 400 and this
/// text by [`bad_request`].
pub struct BadRequest(pub String);

/// A request's query parameters, decoded. Parameters no handler asks for
/// are ignored, as browsers and caches add their own. Decoding is lossy (a
/// malformed escape stays as it is), so a bad value is caught where it is
/// read, with the parameter's name.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn of(request: &Request<Incoming>) -> Query {
        let query = request.uri().query().unwrap_or_default();
        Query(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// Every parameter, in order, as (name, value).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// Parameter `name` as a whole number, if given; a 400 naming it if it
    /// is not one.
    pub fn number(&self, name: &str) -> Result<Option<u64>, BadRequest> {
        let Some((_, text)) = self.0.iter().find(|(key, _)| key == name) else {
            return Ok(None);
        };
        text.parse().map(Some).map_err(|_| {
            BadRequest(format!(
                "bad query: {name} must be a whole number, got {text:?}\n"
            ))
        })
    }
}

pub fn with_type(body: impl Into<Bytes>, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = with_type(
        Bytes::from_static(text.as_bytes()),
        "text/plain; charset=utf-8",
    );
    *response.status_mut() = status;
    response
}

pub fn bad_request(BadRequest(text): BadRequest) -> Response<Body> {
    let mut response = with_type(text, "text/plain; charset=utf-8");
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}
