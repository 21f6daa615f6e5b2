//! The `[http]` limits against the real binary over real sockets: too many
//! connections (503), a head too large (431), a body too large (413), a
//! WebSocket frame too large (1009), silent connections closed, and a
//! slowloris of 1,500 idle sockets that must not keep `/healthz` waiting.

use std::time::{Duration, Instant};

use crate::common::{Daemon, WAIT, read_head};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Starts a fed daemon with `http` as its config's `[http]` section.
fn start(dir: &tempfile::TempDir, http: &str) -> Daemon {
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, format!("[http]\n{http}\n")).unwrap();
    Daemon::start_fed(&["--config", path.to_str().unwrap()])
}

#[tokio::test]
async fn over_max_connections_a_client_is_answered_503_at_once_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir, "max_connections = 3");
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(daemon.addr()).await.unwrap());
    }
    // The daemon has taken them all once it refuses the next one.
    let started = Instant::now();
    let answer = daemon
        .exchange(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{answer}"
    );
    assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
    println!("503 answered in {:?}", started.elapsed());

    // Freed places are taken again, once the daemon has seen them close
    // (until then, the polls below may be refused and counted too).
    drop(held);
    daemon
        .wait_for("a connection place to be free again", || async {
            let answer = daemon.http.get(daemon.url("/healthz")).send().await;
            answer.ok().filter(|a| a.status().is_success()).map(|_| ())
        })
        .await;
    let refused = daemon
        .metric("esplora_http_refused_total{reason=\"max_connections\"}")
        .await;
    assert!(refused >= 1, "the refusal should be counted: {refused}");
}

#[tokio::test]
async fn a_request_head_over_max_header_bytes_is_answered_431() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir, "max_header_bytes = 8192");
    let request = |size: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
            "p".repeat(size)
        )
    };
    let answer = daemon.exchange(request(6000).as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let answer = daemon.exchange(request(10_000).as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{answer}"
    );
    // The daemon is none the worse.
    assert_eq!(daemon.get_text("/healthz").await, "ok\n");
}

#[tokio::test]
async fn a_body_over_max_body_bytes_is_answered_413_declared_or_chunked() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(
        &dir,
        "max_body_bytes = 1024\n[relay]\nurl = \"http://127.0.0.1:9\"\napp_id = \"a\"\nkey = \"k\"\nsecret = \"relay-secret\"",
    );
    let form = |size: usize| {
        format!(
            "socket_id=1.2&channel_name=private-a&pad={}",
            "p".repeat(size)
        )
    };
    let post = |body: reqwest::Body| daemon.http.post(daemon.url("/pusher/auth")).body(body);

    let ok = post(form(100).into()).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let declared = post(form(2000).into()).send().await.unwrap();
    assert_eq!(declared.status(), 413);
    // No Content-Length: the body is cut off where it passes the limit.
    let chunks = futures_util::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from("p".repeat(500)))),
    );
    let chunked = post(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status(), 413);
    daemon
        .wait_metric("esplora_http_refused_total{reason=\"body_too_large\"}", 2)
        .await;
}

#[tokio::test]
async fn a_websocket_frame_over_max_ws_frame_bytes_closes_with_1009() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir, "max_ws_frame_bytes = 2048");
    let pad = |size: usize| format!(r#"{{"type":"command","pad":"{}"}}"#, "x".repeat(size));

    let mut ws = daemon.websocket("/ws").await;
    ws.send_text(&pad(1500)).await;
    let reply = ws.next_reply().await;
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `pad`")
    );
    ws.send_text(&pad(3000)).await;
    let close = loop {
        match ws.next_message().await {
            Some(Message::Close(close)) => break close,
            Some(_) => {}
            None => panic!("the connection ended without a close frame"),
        }
    };
    let close = close.expect("a close frame with a code");
    assert_eq!(close.code, CloseCode::Size);
    assert_eq!(close.reason.as_str(), "frames are limited to 2048 bytes");
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed_after_header_timeout_secs() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir, "header_timeout_secs = 1");
    // Silent from the start, or stalled mid-head.
    let mut silent = TcpStream::connect(daemon.addr()).await.unwrap();
    let mut stalled = TcpStream::connect(daemon.addr()).await.unwrap();
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .await
        .unwrap();
    // Idle after a request on a kept-alive connection.
    let mut idle = TcpStream::connect(daemon.addr()).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    assert!(read_head(&mut idle).await.starts_with("HTTP/1.1 200 OK"));
    for (name, socket) in [
        ("silent", &mut silent),
        ("stalled", &mut stalled),
        ("idle", &mut idle),
    ] {
        let mut buf = [0; 1024];
        let closed = loop {
            match tokio::time::timeout(WAIT, socket.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                Ok(Ok(_)) => {}
                Err(_) => break false,
            }
        };
        assert!(
            closed,
            "the {name} connection was still open after {WAIT:?}"
        );
    }
}

/// The current open-file limit raised to the hard limit, for this test
/// process, whose sockets count against it.
fn raise_file_limit(needed: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    assert!(
        hard >= needed,
        "this test needs {needed} open files; the hard limit is {hard}"
    );
    if soft < needed {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    }
}

#[tokio::test]
async fn a_slowloris_of_1500_idle_sockets_does_not_keep_healthz_waiting() {
    const SOCKETS: usize = 1500;
    raise_file_limit(SOCKETS as u64 + 200);
    let dir = tempfile::tempdir().unwrap();
    // A long header timeout, so that the sockets stay for the whole test.
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, "[http]\nheader_timeout_secs = 120\n").unwrap();
    let daemon = Daemon::start_with(
        &["--config", path.to_str().unwrap(), "--input", "demo"],
        |command| {
            // The usual soft limit, below the sockets: the daemon must raise
            // its own.
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe, and nothing else runs
            // between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    use nix::sys::resource::{Resource, getrlimit, setrlimit};
                    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
                    setrlimit(Resource::RLIMIT_NOFILE, 1024, hard)?;
                    Ok(())
                });
            }
        },
        None,
    );
    let before = crate::common::memory_kb(daemon.pid(), "VmHWM");

    let mut sockets = Vec::with_capacity(SOCKETS);
    for i in 0..SOCKETS {
        let mut socket = tokio::time::timeout(WAIT, TcpStream::connect(daemon.addr()))
            .await
            .unwrap_or_else(|_| panic!("the daemon stopped accepting at socket {i}"))
            .unwrap();
        // Half send the start of a head and stop; half send nothing.
        if i % 2 == 0 {
            socket
                .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow:")
                .await
                .unwrap();
        }
        sockets.push(socket);
    }
    // Every one of them has been accepted and is held open by the daemon.
    daemon
        .wait_for("the slowloris sockets to be accepted", || async {
            (daemon.metric("esplora_http_connections").await > SOCKETS as u64).then_some(())
        })
        .await;

    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let response =
            tokio::time::timeout(Duration::from_secs(1), reqwest::get(daemon.url("/healthz")))
                .await
                .expect("/healthz should answer within 1 s during the slowloris")
                .unwrap();
        assert_eq!(response.status(), 200);
        slowest = slowest.max(started.elapsed());
    }
    let after = crate::common::memory_kb(daemon.pid(), "VmHWM");
    println!(
        "slowloris of {SOCKETS}: slowest /healthz {slowest:?}; VmHWM {before} kB -> {after} kB"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "/healthz took {slowest:?}"
    );
    // Each idle connection costs a task and a read buffer: a few KB.
    assert!(
        after - before < 64 * 1024,
        "{SOCKETS} idle sockets grew the daemon's peak memory by {} kB",
        after - before
    );
}
