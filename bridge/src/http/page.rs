//! `GET /`: the live page, and the few files it loads.
//!
//! The page is plain HTML, CSS and JavaScript in `assets/`, built into the
//! binary with `include_bytes!` so that it works with no network and no
//! files beside the daemon. The page lays itself out from the data: a card
//! per field, described by `/api/fields` where the daemon has that route.
//! Its charts are drawn on canvas by its own scripts, a few small ES modules
//! with no build step; it follows `/events` with `EventSource`, which
//! reconnects by itself and resumes with `Last-Event-ID`, fills its charts
//! from `/api/history`, and sends the board's commands over `/ws`.

/// The content type of the page's scripts (ES modules).
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The page's files: path, body, content type. `app.js` is the entry point
/// and names what each module does.
const ASSETS: [(&str, &[u8], &str); 17] = [
    (
        "/",
        include_bytes!("assets/index.html"),
        "text/html; charset=utf-8",
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
    ("/app.js", include_bytes!("assets/app.js"), JAVASCRIPT),
    ("/feed.js", include_bytes!("assets/feed.js"), JAVASCRIPT),
    ("/fields.js", include_bytes!("assets/fields.js"), JAVASCRIPT),
    ("/board.js", include_bytes!("assets/board.js"), JAVASCRIPT),
    ("/card.js", include_bytes!("assets/card.js"), JAVASCRIPT),
    ("/trace.js", include_bytes!("assets/trace.js"), JAVASCRIPT),
    ("/chart.js", include_bytes!("assets/chart.js"), JAVASCRIPT),
    (
        "/esplora.js",
        include_bytes!("assets/esplora.js"),
        JAVASCRIPT,
    ),
    ("/status.js", include_bytes!("assets/status.js"), JAVASCRIPT),
    ("/view.js", include_bytes!("assets/view.js"), JAVASCRIPT),
    (
        "/history.js",
        include_bytes!("assets/history.js"),
        JAVASCRIPT,
    ),
    (
        "/overlay.js",
        include_bytes!("assets/overlay.js"),
        JAVASCRIPT,
    ),
    (
        "/controls.js",
        include_bytes!("assets/controls.js"),
        JAVASCRIPT,
    ),
    (
        "/commands.js",
        include_bytes!("assets/commands.js"),
        JAVASCRIPT,
    ),
];

/// The asset at `path`, if there is one: its body and content type.
pub fn asset(path: &str) -> Option<(&'static [u8], &'static str)> {
    ASSETS
        .iter()
        .find(|(asset, _, _)| *asset == path)
        .map(|(_, body, content_type)| (*body, *content_type))
}
