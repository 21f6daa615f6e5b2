//! The daemon as systemd runs it, through the real binary: `sd_notify`
//! messages on a datagram socket the test owns (READY, STATUS with the
//! board's state, WATCHDOG at half the period, STOPPING); SIGTERM and SIGINT
//! give exit 0 within 5 s, with a client connected and with stdin held open;
//! `--log-format json` writes one JSON object a line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::pty::Port;
use crate::common::{Daemon, WAIT};
use nix::sys::signal::Signal;
use serde_json::Value;

/// What the issue allows for a stop; systemd's own timeout is far longer.
const STOP_LIMIT: Duration = Duration::from_secs(5);
const WATCHDOG_USEC: u64 = 400_000;

/// A notification socket, as systemd would pass in `NOTIFY_SOCKET`, and the
/// messages received on it, one line each, with their arrival time.
struct Notifications {
    _dir: tempfile::TempDir,
    path: PathBuf,
    messages: mpsc::Receiver<(Instant, String)>,
}

impl Notifications {
    fn bind() -> Notifications {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).expect("the notification socket should bind");
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                let now = Instant::now();
                for line in String::from_utf8_lossy(&buf[..n]).lines() {
                    if tx.send((now, line.to_owned())).is_err() {
                        return;
                    }
                }
            }
        });
        Notifications {
            _dir: dir,
            path,
            messages,
        }
    }

    /// Reads messages until one satisfies `done`; returns all of them.
    fn until(&self, what: &str, done: impl Fn(&str) -> bool) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok((at, message)) => {
                    let finished = done(&message);
                    seen.push((at, message));
                    if finished {
                        return seen;
                    }
                }
                Err(_) => panic!(
                    "no {what} within {WAIT:?}; received: {:?}",
                    seen.iter().map(|(_, m)| m).collect::<Vec<_>>()
                ),
            }
        }
    }
}

fn start(args: &[&str], notify: &Path, watchdog_usec: Option<u64>) -> Daemon {
    Daemon::start_with(
        args,
        |command| {
            command.env("NOTIFY_SOCKET", notify);
            if let Some(usec) = watchdog_usec {
                command.env("WATCHDOG_USEC", usec.to_string());
            }
        },
        None,
    )
}

#[test]
fn systemd_hears_ready_watchdog_status_and_stopping() {
    let notifications = Notifications::bind();
    let mut daemon = start(
        &["--input", "demo"],
        &notifications.path,
        Some(WATCHDOG_USEC),
    );
    let mut messages = notifications.until("READY=1", |m| m == "READY=1");
    let pings = loop {
        messages.extend(notifications.until("WATCHDOG=1", |m| m == "WATCHDOG=1"));
        let pings: Vec<Instant> = messages
            .iter()
            .filter(|(_, m)| m == "WATCHDOG=1")
            .map(|(at, _)| *at)
            .collect();
        if pings.len() >= 6 {
            break pings;
        }
    };
    assert!(
        messages
            .iter()
            .any(|(_, m)| m == "STATUS=board connected: demo board"),
        "the status names the board: {messages:?}"
    );
    let gaps: Vec<Duration> = pings.windows(2).map(|w| w[1] - w[0]).collect();
    let half = Duration::from_micros(WATCHDOG_USEC / 2);
    let mean = gaps.iter().sum::<Duration>() / u32::try_from(gaps.len()).unwrap();
    eprintln!("watchdog gaps: {gaps:?}, mean {mean:?}");
    assert!(
        mean > half / 2 && mean < half * 3 / 2,
        "pings every half period ({half:?}), not {mean:?}: {gaps:?}"
    );
    assert!(
        gaps.iter()
            .all(|gap| *gap < Duration::from_micros(WATCHDOG_USEC)),
        "systemd would have restarted the service: {gaps:?}"
    );

    let (status, took) = daemon.stop(Signal::SIGTERM, STOP_LIMIT);
    eprintln!("SIGTERM to exit: {took:?}");
    assert!(status.success(), "SIGTERM should give exit 0, not {status}");
    let stopping = notifications.until("STOPPING=1", |m| m == "STOPPING=1");
    assert!(stopping.iter().all(|(_, m)| m != "READY=1"), "{stopping:?}");
}

#[test]
fn the_status_follows_the_board_and_sigint_stops_it() {
    let notifications = Notifications::bind();
    let port = Port::new();
    let board = port.plug_in();
    let input = port.input();
    let mut daemon = start(&["--input", &input], &notifications.path, None);

    let connected = format!("STATUS=board connected: {}", port.link().display());
    notifications.until(&connected, |m| m == connected);
    board.unplug();
    let disconnected = format!("STATUS=board disconnected: {}: ", port.link().display());
    notifications.until(&disconnected, |m| m.starts_with(&disconnected));

    let (status, took) = daemon.stop(Signal::SIGINT, STOP_LIMIT);
    eprintln!("SIGINT to exit: {took:?}");
    assert!(status.success(), "SIGINT should give exit 0, not {status}");
    notifications.until("STOPPING=1", |m| m == "STOPPING=1");
}

#[test]
fn sigterm_closes_a_connected_client_and_exits_0() {
    let mut daemon = Daemon::start(&["--input", "demo"]);
    let addr = daemon.base.trim_start_matches("http://").to_owned();
    let mut client = TcpStream::connect(&addr).unwrap();
    client.set_read_timeout(Some(WAIT)).unwrap();
    client
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    assert!(status_line.starts_with("HTTP/1.1 200"), "{status_line}");
    // Read the rest of the response, so the connection sits idle, kept alive.
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        if header == "\r\n" {
            break;
        }
    }
    reader.read_exact(&mut vec![0; length]).unwrap();

    let (status, took) = daemon.stop(Signal::SIGTERM, STOP_LIMIT);
    eprintln!("SIGTERM to exit with a client connected: {took:?}");
    assert!(status.success(), "SIGTERM should give exit 0, not {status}");
    let mut rest = Vec::new();
    let closed = reader.read_to_end(&mut rest);
    assert!(
        matches!(closed, Ok(0)),
        "the idle connection should be closed cleanly, got {closed:?} with {rest:?}"
    );
}

/// Streams end themselves at shutdown, so it does not wait out its grace
/// period for them: the WebSocket is closed with 1001, the SSE body ends.
#[tokio::test]
async fn sigterm_ends_sse_and_websocket_streams_at_once() {
    let mut daemon = Daemon::start_fed(&[]);
    daemon.feed("s:1\n");
    let seq = daemon.wait_slider(1).await;
    let mut sse = daemon.events(None).await;
    assert!(matches!(sse.next_event().await.1.as_str(), "snapshot"));
    let mut ws = daemon.websocket("/ws").await;
    assert_eq!(ws.next_json().await["type"], "snapshot");
    let poll = daemon
        .http
        .get(daemon.url(&format!("/api/poll?since={seq}&timeout=60")))
        .send();
    let poll = tokio::spawn(poll);
    daemon
        .wait_metric("esplora_http_clients{transport=\"poll\"}", 1)
        .await;

    let (status, took) = daemon.stop(Signal::SIGTERM, Duration::from_secs(2));
    eprintln!("SIGTERM to exit with SSE, WebSocket and long-poll clients: {took:?}");
    assert!(status.success(), "SIGTERM should give exit 0, not {status}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    let close = loop {
        match ws.next_message().await {
            Some(tokio_tungstenite::tungstenite::Message::Close(close)) => break close,
            Some(_) => {}
            None => panic!("the WebSocket ended without a close frame"),
        }
    };
    assert_eq!(
        close.map(|frame| frame.code),
        Some(tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Away)
    );
    while let Some(item) = sse.next_item().await {
        assert!(!matches!(item, crate::common::SseItem::Other(ref text) if text.is_empty()));
    }
    let answer = poll
        .await
        .unwrap()
        .expect("the long poll should be answered");
    assert_eq!(answer.status(), 200);
}

#[test]
fn sigint_does_not_wait_for_an_open_stdin() {
    // Reading stdin blocks a thread that nothing can interrupt; the daemon
    // must not wait for the next line to exit.
    let mut daemon = Daemon::start_with(
        &["--input", "-"],
        |command| {
            command.stdin(Stdio::piped());
        },
        None,
    );
    let (status, took) = daemon.stop(Signal::SIGINT, STOP_LIMIT);
    eprintln!("SIGINT to exit with stdin open: {took:?}");
    assert!(status.success(), "SIGINT should give exit 0, not {status}");
}

#[test]
fn json_logs_are_one_object_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(&config, "[http]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let capture = crate::common::data("esplora-messy-sample.log");
    let output = Command::new(crate::common::binary())
        .env("STATE_DIRECTORY", dir.path())
        .arg("--config")
        .arg(&config)
        .arg("--input")
        .arg(format!("file:{}", capture.display()))
        .args([
            "--replay-rate",
            "max",
            "--exit-at-eof",
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|error| panic!("not JSON ({error}): {line}"))
        })
        .collect();
    for line in &lines {
        assert!(line.is_object(), "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["level"].is_string(), "{line}");
        assert!(line["fields"]["message"].is_string(), "{line}");
    }
    let find = |message: &str| {
        lines
            .iter()
            .find(|l| {
                l["fields"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with(message)
            })
            .unwrap_or_else(|| panic!("no {message:?} line in {stderr}"))
    };
    assert_eq!(
        find("config loaded")["fields"]["path"],
        config.display().to_string()
    );
    find("listening on http://127.0.0.1:");
    assert_eq!(
        find("replay finished")["fields"]["capture"],
        capture.display().to_string()
    );
    assert!(
        lines.iter().any(|l| l["level"] == "WARN"),
        "the messy sample's bad lines are warned about: {stderr}"
    );
    find("the input has ended: shutting down");
    find("shut down");
}
