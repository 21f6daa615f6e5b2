//! Who may use the server: the bearer token, the origins of browser pages,
//! and the CORS headers that let those pages read answers.
//!
//! - With `[http] token` set, every route but `/healthz` needs it, given as
//!   `Authorization: Bearer TOKEN`, as `?token=TOKEN` (EventSource and a
//!   page link cannot set headers), or as the cookie a `?token=` answer
//!   sets, so that the live page opened as `/?token=TOKEN` can load its
//!   script and open `/events` without putting the token anywhere else.
//!   The cookie is `HttpOnly` and `SameSite=Strict`: no other site's page
//!   makes the browser send it.
//! - Tokens are compared by their SHA-256 digests, in constant time
//!   (`subtle`): neither the time taken nor the length compared says how
//!   much of a guess was right. Only the digest is kept.
//! - Without a token, only requests for a host the server answers for
//!   (see [`host`](super::host): loopback, its own addresses,
//!   `[http] allowed_hosts`) are let in: the guard against DNS rebinding.
//! - A browser sends `Origin` with a WebSocket handshake and a cross-site
//!   request. A WebSocket is accepted from `[http] allowed_origins`, and from
//!   the server's own origin: the `Host` it was reached at, when that is a
//!   host the server answers for (an `Origin` equal to `Host` alone proves
//!   nothing: a rebound name gives both). A client with no `Origin` is not a
//!   browser and is not at risk of being used by another site's page, so it
//!   is let through (the token still applies).
//! - CORS headers are sent only to the origins listed, and a preflight
//!   (`OPTIONS`) is answered only for them.

use hyper::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, AUTHORIZATION, COOKIE, HOST, HeaderMap, HeaderValue, ORIGIN,
    SET_COOKIE, VARY, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::host::{self, Host, Hosts};
use super::router::{Body, plain};

const COOKIE_NAME: &str = "esplora_token";

pub struct Access {
    /// The token's digest; `None`: no token is needed.
    token: Option<[u8; 32]>,
    origins: Vec<String>,
    hosts: Hosts,
}

/// How a request proved it may come in.
pub enum Granted {
    /// By a header or a cookie, or no token is needed.
    Plainly,
    /// By `?token=`: the answer sets the cookie, with this token.
    ByQuery(String),
}

impl Access {
    pub fn new(token: Option<&SecretString>, origins: Vec<String>, hosts: Hosts) -> Access {
        Access {
            token: token.map(|token| digest(token.expose_secret())),
            origins,
            hosts,
        }
    }

    /// Whether requests need a token.
    pub fn guarded(&self) -> bool {
        self.token.is_some()
    }

    /// How the request is let in; `None`: it is not (answer it with
    /// [`unauthorized`]).
    pub fn check<B>(&self, request: &Request<B>) -> Option<Granted> {
        let Some(expected) = &self.token else {
            return Some(Granted::Plainly);
        };
        let matches = |given: &str| bool::from(digest(given).ct_eq(expected));
        let headers = request.headers();
        if bearer(headers).is_some_and(matches) || cookie(headers).is_some_and(matches) {
            return Some(Granted::Plainly);
        }
        let query = request.uri().query().unwrap_or_default();
        let given = form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "token")
            .map(|(_, value)| value.into_owned());
        given.filter(|given| matches(given)).map(Granted::ByQuery)
    }

    /// Whether a request for `host` may come in on a connection that
    /// arrived at `arrived`: always with a token (which then guards), else
    /// only for a host the server answers for; refuse it with
    /// [`misdirected`].
    pub fn host_allowed(&self, host: &Host, arrived: Option<std::net::IpAddr>) -> bool {
        self.guarded() || self.hosts.answers(host, arrived)
    }

    /// Whether a WebSocket handshake may proceed, by its `Origin`.
    pub fn origin_allowed<B>(&self, request: &Request<B>) -> bool {
        let headers = request.headers();
        let Some(origin) = headers.get(ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        if self.listed(origin) {
            return true;
        }
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        let own = headers.get(HOST).and_then(|host| host.to_str().ok());
        match (authority, own) {
            (Some(authority), Some(own)) if authority.eq_ignore_ascii_case(own) => {
                Host::of(authority)
                    .is_some_and(|host| self.hosts.answers(&host, host::arrived(request)))
            }
            _ => false,
        }
    }

    /// The answer to a CORS preflight from a listed origin; `None` for any
    /// other request, which is then routed as usual.
    pub fn preflight<B>(&self, request: &Request<B>) -> Option<Response<Body>> {
        if request.method() != Method::OPTIONS {
            return None;
        }
        let origin = self.listed_origin(request.headers())?;
        let mut response = plain(StatusCode::NO_CONTENT, "");
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, POST"),
        );
        headers.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, last-event-id"),
        );
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        headers.insert(VARY, HeaderValue::from_static("origin"));
        Some(response)
    }

    /// Adds what the response needs for where it goes: the CORS header for
    /// a listed origin, the cookie for a request let in by `?token=`.
    pub fn finish(&self, request: &HeaderMap, granted: Granted, response: &mut Response<Body>) {
        let origin = self.listed_origin(request);
        let headers = response.headers_mut();
        if let Some(origin) = origin {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(VARY, HeaderValue::from_static("origin"));
        }
        if let Granted::ByQuery(token) = granted {
            // The config allows only characters that a cookie value may hold.
            let cookie = format!("{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict");
            if let Ok(cookie) = HeaderValue::from_str(&cookie) {
                headers.insert(SET_COOKIE, cookie);
            }
        }
    }

    fn listed(&self, origin: &str) -> bool {
        self.origins.iter().any(|listed| listed == origin)
    }

    fn listed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(ORIGIN)?;
        self.listed(origin.to_str().ok()?).then(|| origin.clone())
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE_NAME)?.strip_prefix('='))
}

/// The answer to a request for a host the server does not answer for.
pub fn misdirected() -> Response<Body> {
    plain(
        StatusCode::MISDIRECTED_REQUEST,
        "this server does not answer for that Host: use localhost or 127.0.0.1, add the name to [http] allowed_hosts, or set a token\n",
    )
}

pub fn unauthorized() -> Response<Body> {
    let mut response = plain(
        StatusCode::UNAUTHORIZED,
        "a token is needed: Authorization: Bearer TOKEN, or ?token=TOKEN\n",
    );
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"esplora-bridge\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef";

    fn access(origins: &[&str]) -> Access {
        Access::new(
            Some(&SecretString::from(TOKEN)),
            origins.iter().map(|origin| (*origin).to_owned()).collect(),
            Hosts::new(
                "127.0.0.1:8080".parse().unwrap(),
                &["bridge.lan".to_owned()],
            ),
        )
    }

    fn request(uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut request = Request::builder().uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap()
    }

    #[test]
    fn the_token_is_taken_from_a_header_the_query_or_the_cookie() {
        let access = access(&[]);
        let bearer = format!("Bearer {TOKEN}");
        let cookie = format!("a=b; {COOKIE_NAME}={TOKEN}");
        assert!(matches!(
            access.check(&request("/", &[("authorization", &bearer)])),
            Some(Granted::Plainly)
        ));
        assert!(matches!(
            access.check(&request("/", &[("cookie", &cookie)])),
            Some(Granted::Plainly)
        ));
        assert!(matches!(
            access.check(&request(&format!("/events?since=1&token={TOKEN}"), &[])),
            Some(Granted::ByQuery(token)) if token == TOKEN
        ));
        for (uri, headers) in [
            ("/", vec![]),
            ("/?token=0123456789abcdeF", vec![]),
            ("/", vec![("authorization", "Bearer 0123456789abcde")]),
            ("/", vec![("authorization", "Basic 0123456789abcdef")]),
            ("/", vec![("cookie", "esplora_token=nope")]),
        ] {
            assert!(access.check(&request(uri, &headers)).is_none(), "{uri}");
        }
    }

    #[test]
    fn websockets_come_from_the_own_origin_a_listed_one_or_no_browser() {
        let access = access(&["https://app.example"]);
        let allowed = |headers: &[(&str, &str)]| access.origin_allowed(&request("/ws", headers));
        assert!(allowed(&[]));
        assert!(allowed(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ]));
        assert!(allowed(&[
            ("host", "bridge:80"),
            ("origin", "https://app.example")
        ]));
        assert!(!allowed(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example")
        ]));
        assert!(!allowed(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8081")
        ]));
        assert!(!allowed(&[("origin", "null")]));
        assert!(allowed(&[
            ("host", "bridge.lan:8080"),
            ("origin", "http://bridge.lan:8080")
        ]));
        // Origin and Host agree under DNS rebinding too.
        assert!(!allowed(&[
            ("host", "evil.example:8080"),
            ("origin", "http://evil.example:8080")
        ]));
    }

    #[test]
    fn without_a_token_only_answered_hosts_come_in() {
        let open = Access::new(
            None,
            Vec::new(),
            Hosts::new("127.0.0.1:8080".parse().unwrap(), &[]),
        );
        let evil = Host::Name("evil.example".to_owned());
        assert!(open.host_allowed(&Host::Name("localhost".to_owned()), None));
        assert!(!open.host_allowed(&evil, None));
        // With a token, the token guards.
        assert!(access(&[]).host_allowed(&evil, None));
    }
}
