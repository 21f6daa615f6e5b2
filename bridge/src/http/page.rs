//! `GET /`: the live page, and the few files it loads.
//!
//! The page is plain HTML, CSS and JavaScript in `assets/`, built into the
//! binary with `include_bytes!` so that it works with no network and no
//! files beside the daemon. Its charts are drawn on canvas by its own
//! script; it follows `/events` with `EventSource`, which reconnects by
//! itself and resumes with `Last-Event-ID`.

use hyper::Response;

use super::router::{Body, plain, with_type};

/// The page's files: path, body, content type.
const ASSETS: [(&str, &[u8], &str); 4] = [
    (
        "/",
        include_bytes!("assets/index.html"),
        "text/html; charset=utf-8",
    ),
    (
        "/app.js",
        include_bytes!("assets/app.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "/app.css",
        include_bytes!("assets/app.css"),
        "text/css; charset=utf-8",
    ),
    (
        "/favicon.svg",
        include_bytes!("assets/favicon.svg"),
        "image/svg+xml",
    ),
];

/// The asset at `path`, if there is one: its body and content type.
pub fn asset(path: &str) -> Option<(&'static [u8], &'static str)> {
    ASSETS
        .iter()
        .find(|(asset, _, _)| *asset == path)
        .map(|(_, body, content_type)| (*body, *content_type))
}

pub fn serve(path: &str) -> Response<Body> {
    match asset(path) {
        Some((body, content_type)) => with_type(body, content_type),
        None => plain(hyper::StatusCode::NOT_FOUND, "not found\n"),
    }
}
