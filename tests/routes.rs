//! Routing through the real binary: every route answers with its content
//! type, unknown paths are 404, and wrong methods are 405 with `Allow`.

use crate::common::Daemon;

#[tokio::test]
async fn routes_methods_and_content_types() {
    let daemon = Daemon::start_fed(&[]);
    let http = &daemon.http;

    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/app.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
        ("/api/latest", "application/json"),
        ("/api/poll?timeout=0", "application/json"),
        ("/healthz", "text/plain; charset=utf-8"),
    ] {
        let response = http.get(daemon.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        assert_eq!(
            response.headers()["content-type"],
            content_type,
            "GET {path}"
        );
    }
    let head = http.head(daemon.url("/")).send().await.unwrap();
    assert_eq!(head.status(), 200);

    for path in ["/nope", "/api", "/api/latest/", "/events/x", "/index.html"] {
        let response = http.get(daemon.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "GET {path}");
    }

    for (method, path, allow) in [
        (reqwest::Method::POST, "/events", "GET"),
        (reqwest::Method::HEAD, "/events", "GET"),
        (reqwest::Method::PUT, "/ws", "GET"),
        (reqwest::Method::DELETE, "/api/poll", "GET"),
        (reqwest::Method::POST, "/api/latest", "GET, HEAD"),
        (reqwest::Method::POST, "/", "GET, HEAD"),
        (reqwest::Method::OPTIONS, "/metrics", "GET, HEAD"),
    ] {
        let response = http
            .request(method.clone(), daemon.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
    }

    // A plain GET of the WebSocket route says what it wants.
    let response = http.get(daemon.url("/ws")).send().await.unwrap();
    assert_eq!(response.status(), 426);
    assert_eq!(response.headers()["upgrade"], "websocket");
}
