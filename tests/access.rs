//! Access control through the real binary: the bearer token on every
//! route but `/healthz`, the WebSocket `Origin` check, CORS only for the
//! origins listed, the warning for an open address without a token, and
//! that neither the token nor the relay secret ever reaches the log, even
//! at trace level.

use std::time::Duration;

use crate::common::{Daemon, WAIT};
use nix::sys::signal::Signal;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "tok-0123456789abcdef-tok";
const RELAY_SECRET: &str = "relay-secret-fedcba9876543210";

fn write_config(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn with_token(dir: &tempfile::TempDir) -> Daemon {
    let config = write_config(
        dir,
        &format!("[http]\ntoken = \"{TOKEN}\"\nallowed_origins = [\"https://app.example\"]\n"),
    );
    Daemon::start_fed(&["--config", &config]).authorized(TOKEN)
}

/// The status of a WebSocket handshake to `path` with `headers`.
async fn handshake(daemon: &Daemon, path: &str, headers: &[(&'static str, &str)]) -> u16 {
    let url = format!("{}{path}", daemon.base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("the handshake should finish in time")
    {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(error) => panic!("the handshake failed: {error}"),
    }
}

#[tokio::test]
async fn with_a_token_every_route_but_healthz_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = with_token(&dir);
    // Without the harness's token.
    let http = &reqwest::Client::new();

    let health = http.get(daemon.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let paths = [
        "/",
        "/app.js",
        "/api/latest",
        "/api/history?from=-1m",
        "/api/poll?timeout=0",
        "/events",
        "/metrics",
        "/nope",
    ];
    for path in paths {
        for (what, auth) in [
            ("no token", None),
            ("a wrong token", Some("Bearer tok-0123456789abcdef-toK")),
            ("a short token", Some("Bearer tok")),
            ("another scheme", Some("Basic dG9rOnRvaw==")),
        ] {
            let mut request = http.get(daemon.url(path));
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "GET {path} with {what}");
            assert_eq!(
                response.headers()["www-authenticate"],
                "Bearer realm=\"esplora-bridge\"",
                "GET {path}"
            );
        }
        let response = http
            .get(daemon.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let expected = if path == "/nope" { 404 } else { 200 };
        assert_eq!(response.status(), expected, "GET {path} with the token");
    }
    daemon
        .wait_metric("esplora_http_refused_total{reason=\"unauthorized\"}", 32)
        .await;

    // EventSource cannot set headers: `?token=` does, and the answer sets
    // the cookie that the page's own requests then carry.
    let response = http
        .get(daemon.url(&format!("/?token={TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        cookie,
        format!("esplora_token={TOKEN}; Path=/; HttpOnly; SameSite=Strict")
    );
    let by_cookie = http
        .get(daemon.url("/app.js"))
        .header("cookie", format!("esplora_token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), 200);
    let events = http
        .get(daemon.url(&format!("/events?token={TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);

    // The WebSocket too, and commands with it.
    assert_eq!(handshake(&daemon, "/ws", &[]).await, 401);
    assert_eq!(
        handshake(
            &daemon,
            "/ws",
            &[("authorization", &format!("Bearer {TOKEN}"))]
        )
        .await,
        101
    );
    let mut ws = daemon.websocket(&format!("/ws?token={TOKEN}")).await;
    assert_eq!(ws.next_json().await["type"], "snapshot");
}

#[tokio::test]
async fn websockets_from_other_origins_are_refused_unless_listed() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = with_token(&dir);
    let auth = format!("Bearer {TOKEN}");
    let own = daemon.base.clone();
    for (origin, expected) in [
        (None, 101),
        (Some(own.as_str()), 101),
        (Some("https://app.example"), 101),
        (Some("https://evil.example"), 403),
        (Some("http://localhost:1"), 403),
    ] {
        let mut headers = vec![("authorization", auth.as_str())];
        headers.extend(origin.map(|origin| ("origin", origin)));
        assert_eq!(
            handshake(&daemon, "/ws", &headers).await,
            expected,
            "Origin {origin:?}"
        );
    }
    daemon
        .wait_metric("esplora_http_refused_total{reason=\"origin\"}", 2)
        .await;
}

#[tokio::test]
async fn cors_headers_go_to_listed_origins_only() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = with_token(&dir);
    let http = &reqwest::Client::new();
    let get = |origin: &'static str| {
        http.get(daemon.url("/api/latest"))
            .bearer_auth(TOKEN)
            .header("origin", origin)
            .send()
    };
    let listed = get("https://app.example").await.unwrap();
    assert_eq!(
        listed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(listed.headers()["vary"], "origin");
    let other = get("https://evil.example").await.unwrap();
    assert_eq!(other.status(), 200);
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // A preflight carries no credentials; only a listed origin gets one.
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, daemon.url("/api/latest"))
            .header("origin", origin)
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let listed = preflight("https://app.example").await.unwrap();
    assert_eq!(listed.status(), 204);
    assert_eq!(
        listed.headers()["access-control-allow-headers"],
        "authorization, content-type, last-event-id"
    );
    assert_eq!(
        preflight("https://evil.example").await.unwrap().status(),
        401
    );
}

#[tokio::test]
async fn a_token_file_is_read_at_start_and_a_missing_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let config = write_config(
        &dir,
        &format!("[http]\ntoken_file = \"{}\"\n", token_file.display()),
    );
    let daemon = Daemon::start_fed(&["--config", &config]);
    let refused = daemon
        .http
        .get(daemon.url("/api/latest"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let allowed = daemon
        .http
        .get(daemon.url("/api/latest"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    drop(daemon);

    let missing = dir.path().join("no-such-token");
    let config = write_config(
        &dir,
        &format!("[http]\ntoken_file = \"{}\"\n", missing.display()),
    );
    let output = std::process::Command::new(crate::common::binary())
        .args([
            "--config",
            &config,
            "--input",
            "demo",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot read the HTTP token file {}",
            missing.display()
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_open_address_without_a_token_is_warned_about() {
    let daemon = Daemon::start(&["--input", "demo", "--listen", "0.0.0.0:0"]);
    daemon
        .wait_for("the warning", || async {
            daemon
                .log()
                .iter()
                .any(|line| line.contains("WARN") && line.contains("without a token"))
                .then_some(())
        })
        .await;
    let quiet = Daemon::start(&["--input", "demo"]);
    assert!(quiet.get_text("/healthz").await == "ok\n");
    assert!(
        !quiet
            .log()
            .iter()
            .any(|line| line.contains("without a token")),
        "{:?}",
        quiet.log()
    );
}

/// Everything the daemon logs at trace level while it is used with good
/// and bad tokens and its relay fails, and the panic hook's output, must
/// hold neither secret.
#[tokio::test]
async fn neither_the_token_nor_the_relay_secret_is_ever_logged() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("relay-secret");
    std::fs::write(&secret_file, RELAY_SECRET).unwrap();
    let config = write_config(
        &dir,
        &format!(
            "[http]\ntoken = \"{TOKEN}\"\n\n[relay]\nurl = \"http://127.0.0.1:9\"\napp_id = \"app\"\nkey = \"key\"\nsecret_file = \"{}\"\nchannel = \"private-esplora\"\n",
            secret_file.display()
        ),
    );
    let mut daemon = Daemon::start_with(
        &["--config", &config, "--input", "demo"],
        |command| {
            command.env("RUST_LOG", "trace").env("RUST_BACKTRACE", "1");
        },
        None,
    );
    let http = &reqwest::Client::new();
    for auth in [TOKEN, "wrong-0123456789abcdef", RELAY_SECRET] {
        for path in ["/api/latest", "/metrics", "/api/poll?timeout=0"] {
            let _ = http.get(daemon.url(path)).bearer_auth(auth).send().await;
            let _ = http
                .get(daemon.url(&format!(
                    "{path}{}token={auth}",
                    if path.contains('?') { '&' } else { '?' }
                )))
                .send()
                .await;
        }
    }
    let metrics = http
        .get(daemon.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let auth = http
        .post(daemon.url("/pusher/auth"))
        .bearer_auth(TOKEN)
        .body("socket_id=1.2&channel_name=private-esplora")
        .send()
        .await
        .unwrap();
    assert_eq!(auth.status(), 200);
    let mut ws = daemon.websocket(&format!("/ws?token={TOKEN}")).await;
    ws.send_text(r#"{"type":"command","led":"on"}"#).await;
    assert_eq!(ws.next_reply().await["type"], "error");
    // The relay has failed (a closed port) and retried.
    daemon
        .wait_for("relay retries", || async {
            let text = http
                .get(daemon.url("/metrics"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            (crate::common::metric_sum(&text, "esplora_relay_retries_total") >= 2).then_some(())
        })
        .await;
    let (status, _) = daemon.stop(Signal::SIGTERM, Duration::from_secs(10));
    assert!(status.success());

    let log = daemon.log();
    assert!(log.len() > 50, "a trace log has more lines: {log:?}");
    assert!(
        log.iter().any(|line| line.contains("TRACE")),
        "not at trace level"
    );
    for (name, secret) in [("token", TOKEN), ("relay secret", RELAY_SECRET)] {
        assert!(!metrics.contains(secret), "the {name} is in /metrics");
        if let Some(line) = log.iter().find(|line| line.contains(secret)) {
            panic!("the {name} is in the log: {line}");
        }
    }
}
