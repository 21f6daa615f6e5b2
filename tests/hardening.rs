//! Hardening, round two, against the real binary over real sockets: the
//! `Host` checks (DNS rebinding, RFC 9112 §3.2), bodies that stop arriving,
//! resuming with a position from an earlier run, and `accept` failing at
//! the open-file limit (EMFILE).

use std::time::{Duration, Instant};

use crate::common::{self, Daemon, read_head};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts a fed daemon with `config` as its config file.
fn start(dir: &tempfile::TempDir, config: &str) -> Daemon {
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, config).unwrap();
    Daemon::start_fed(&["--config", path.to_str().unwrap()])
}

/// A relay that is never reached: `POST /pusher/auth` needs one.
const RELAY: &str = "[relay]\nurl = \"http://127.0.0.1:9\"\napp_id = \"a\"\nkey = \"k\"\nsecret = \"relay-secret\"\n";

fn port(daemon: &Daemon) -> u16 {
    daemon.addr().rsplit(':').next().unwrap().parse().unwrap()
}

/// The status code of an answer's head.
fn status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

/// Reads `socket` until the server closes it; how long that took, or
/// `None` if it was still open after `limit`.
async fn closed_within(socket: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

const WS_HEADERS: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[tokio::test]
async fn without_a_token_a_foreign_host_is_refused_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(
        &dir,
        &format!("[http]\nallowed_hosts = [\"bridge.lan\", \"192.0.2.7\"]\n{RELAY}"),
    );
    daemon.feed("s:1\n");
    daemon.wait_slider(1).await;
    let port = port(&daemon);
    let form = "socket_id=1.2&channel_name=private-a";
    let requests = [
        "GET / HTTP/1.1\r\n".to_owned(),
        "GET /app.js HTTP/1.1\r\n".to_owned(),
        "GET /api/latest HTTP/1.1\r\n".to_owned(),
        "GET /api/history?from=-1m HTTP/1.1\r\n".to_owned(),
        "GET /api/poll?timeout=0 HTTP/1.1\r\n".to_owned(),
        "GET /events HTTP/1.1\r\n".to_owned(),
        "GET /metrics HTTP/1.1\r\n".to_owned(),
        "GET /healthz HTTP/1.1\r\n".to_owned(),
        format!("GET /ws HTTP/1.1\r\n{WS_HEADERS}"),
        format!(
            "POST /pusher/auth HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            form.len()
        ),
    ];
    let mut refused = 0;
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_owned(),
        format!("localhost.evil.example:{port}"),
        format!("192.0.2.8:{port}"),
    ] {
        for head in &requests {
            let body = if head.starts_with("POST") { form } else { "" };
            let request = format!("{head}Host: {host}\r\nConnection: close\r\n\r\n{body}");
            let answer = daemon.exchange(&request).await;
            assert_eq!(status(&answer), 421, "{request:?}: {answer}");
            refused += 1;
        }
    }
    // A request target in absolute form names its host itself.
    let answer = daemon
        .exchange("GET http://evil.example/api/latest HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    assert_eq!(status(&answer), 421, "{answer}");
    refused += 1;

    // Loopback names and addresses, the listen address, and the allowed
    // hosts are answered, on every route.
    for host in [
        format!("localhost:{port}"),
        "LocalHost.".to_owned(),
        format!("app.localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "127.0.0.2".to_owned(),
        format!("[::1]:{port}"),
        format!("bridge.lan:{port}"),
        "Bridge.LAN".to_owned(),
        "192.0.2.7".to_owned(),
    ] {
        for head in &requests {
            let body = if head.starts_with("POST") { form } else { "" };
            let request = format!("{head}Host: {host}\r\nConnection: close\r\n\r\n{body}");
            let answer = daemon.exchange(&request).await;
            let expected = if head.contains("/ws") { 101 } else { 200 };
            assert_eq!(status(&answer), expected, "{request:?}: {answer}");
        }
    }
    daemon
        .wait_metric("esplora_http_refused_total{reason=\"host\"}", refused)
        .await;
}

#[tokio::test]
async fn a_websocket_origin_equal_to_a_foreign_host_is_refused() {
    const TOKEN: &str = "harden-token-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir, &format!("[http]\ntoken = \"{TOKEN}\"\n")).authorized(TOKEN);
    let port = port(&daemon);
    let handshake = |host: &str, origin: &str| {
        format!(
            "GET /ws?token={TOKEN} HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\n{WS_HEADERS}\r\n"
        )
    };
    // With a token, any Host is answered (the token guards), but a page's
    // origin is its own only for a host the server answers for: under DNS
    // rebinding, Origin and Host agree.
    let evil = format!("evil.example:{port}");
    let answer = daemon
        .exchange(&handshake(&evil, &format!("http://{evil}")))
        .await;
    assert_eq!(status(&answer), 403, "{answer}");
    let own = format!("localhost:{port}");
    let answer = daemon
        .exchange(&handshake(&own, &format!("http://{own}")))
        .await;
    assert_eq!(status(&answer), 101, "{answer}");
    daemon
        .wait_metric("esplora_http_refused_total{reason=\"origin\"}", 1)
        .await;

    // The token still guards every route but /healthz, whatever the Host.
    let get = |path: &str, authorized: bool| {
        let authorization = if authorized {
            format!("Authorization: Bearer {TOKEN}\r\n")
        } else {
            String::new()
        };
        format!("GET {path} HTTP/1.1\r\nHost: {evil}\r\n{authorization}Connection: close\r\n\r\n")
    };
    assert_eq!(
        status(&daemon.exchange(&get("/api/latest", false)).await),
        401
    );
    assert_eq!(
        status(&daemon.exchange(&get("/api/latest", true)).await),
        200
    );
    assert_eq!(status(&daemon.exchange(&get("/healthz", false)).await), 200);
}

#[tokio::test]
async fn a_request_without_a_host_or_with_two_is_answered_400() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir, "");
    for request in [
        "GET /healthz HTTP/1.1\r\n\r\n",
        "GET /api/latest HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET /api/latest HTTP/1.0\r\n\r\n",
        "GET /api/latest HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET /api/latest HTTP/1.1\r\nHost: localhost\r\nX-A: b\r\nHost: evil.example\r\n\r\n",
        "GET /api/latest HTTP/1.1\r\nHost: 127.0.0.1:http\r\n\r\n",
        "GET /api/latest HTTP/1.1\r\nHost: user@127.0.0.1\r\n\r\n",
        "GET /api/latest HTTP/1.1\r\nHost:\r\n\r\n",
    ] {
        let answer = daemon.exchange(request).await;
        assert_eq!(status(&answer), 400, "{request:?}: {answer}");
    }
    let answer = daemon
        .exchange("GET /api/latest HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    assert_eq!(status(&answer), 200, "{answer}");
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_closed_within_body_timeout_secs() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(
        &dir,
        &format!("[http]\nbody_timeout_secs = 2\nheader_timeout_secs = 60\n{RELAY}"),
    );
    let timeout = Duration::from_secs(2);
    let limit = timeout + Duration::from_secs(1);

    // The route that reads a body: 10 bytes of a declared 100, or one chunk
    // of a chunked body, then silence. Answered 408 and closed.
    for (framing, body) in [
        ("Content-Length: 100", "socket_id="),
        ("Transfer-Encoding: chunked", "a\r\nsocket_id=\r\n"),
    ] {
        let mut socket = TcpStream::connect(daemon.addr()).await.unwrap();
        let head = format!(
            "POST /pusher/auth HTTP/1.1\r\nHost: 127.0.0.1\r\n{framing}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\r\n{body}"
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        let sent = Instant::now();
        let answer = read_head(&mut socket).await;
        assert_eq!(status(&answer), 408, "{framing}: {answer}");
        let closed = closed_within(&mut socket, limit).await;
        let took = sent.elapsed();
        println!("{framing}: 408 and closed {took:?} after the stalled body");
        assert!(closed.is_some(), "{framing}: still open after {limit:?}");
        assert!(
            took >= timeout - Duration::from_millis(100) && took < limit,
            "{framing}: closed after {took:?}"
        );
    }
    daemon
        .wait_metric("esplora_http_refused_total{reason=\"body_timeout\"}", 2)
        .await;

    // The routes that read no body answer at once and close the
    // connection rather than wait for the rest of it.
    for head in [
        "GET /api/latest",
        "GET /healthz",
        "GET /metrics",
        "GET /",
        "GET /nowhere",
        "POST /api/latest",
        "POST /healthz",
    ] {
        let mut socket = TcpStream::connect(daemon.addr()).await.unwrap();
        let request =
            format!("{head} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n0123456789");
        socket.write_all(request.as_bytes()).await.unwrap();
        let answer = read_head(&mut socket).await;
        assert!(
            [200, 404, 405].contains(&status(&answer)),
            "{head}: {answer}"
        );
        let closed = closed_within(&mut socket, limit).await;
        assert!(closed.is_some(), "{head}: still open after {limit:?}");
    }
}

#[tokio::test]
async fn eight_stalled_bodies_do_not_lock_out_other_clients() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(
        &dir,
        &format!(
            "[http]\nmax_connections = 8\nbody_timeout_secs = 2\nheader_timeout_secs = 60\n{RELAY}"
        ),
    );
    let timeout = Duration::from_secs(2);
    let mut stalled = Vec::new();
    for _ in 0..8 {
        let mut socket = TcpStream::connect(daemon.addr()).await.unwrap();
        socket
            .write_all(
                b"POST /pusher/auth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nsocket_id=",
            )
            .await
            .unwrap();
        stalled.push(socket);
    }
    let sent = Instant::now();
    // Every place is taken: the next client is turned away at first, and
    // answered once the stalled bodies have timed out.
    let mut turned_away = 0;
    let answered = loop {
        let answer = daemon
            .exchange("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await;
        match status(&answer) {
            200 => break sent.elapsed(),
            503 => turned_away += 1,
            other => panic!("unexpected {other}: {answer}"),
        }
        assert!(
            sent.elapsed() < timeout + Duration::from_secs(1),
            "a normal client was still turned away {:?} after eight stalled bodies",
            sent.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("answered {answered:?} after eight stalled bodies ({turned_away} turned away first)");
    assert!(
        turned_away > 0,
        "the stalled bodies should have held every place"
    );
    assert!(answered < timeout + Duration::from_secs(1), "{answered:?}");
}

/// A client's view of the state: a snapshot replaces it, a delta merges.
struct Client {
    values: Map<String, Value>,
    seq: u64,
    kinds: Vec<String>,
}

impl Client {
    fn apply(&mut self, event: &Value) {
        let kind = event["type"].as_str().unwrap().to_owned();
        let values = event["values"].as_object();
        match kind.as_str() {
            "snapshot" => self.values = values.unwrap().clone(),
            "delta" => self
                .values
                .extend(values.unwrap().iter().map(|(k, v)| (k.clone(), v.clone()))),
            _ => {}
        }
        self.seq = event["seq"].as_u64().unwrap();
        self.kinds.push(kind);
    }
}

/// Two runs of the daemon, one after the other. The first sets `x` and
/// `y`; the second only `s` and `z`, with more events than the first had,
/// so that a position of the first run would be inside the second's
/// history if seqs started again at 1. Gives a client of the first run, as
/// it was when that run ended, the second run (still running) and its
/// latest state.
async fn two_runs() -> (Client, Daemon, Value) {
    let first = Daemon::start_fed(&["--max-rate-hz", "0"]);
    for i in 1..=5 {
        first.feed(&format!("s:{i},x:{i},y:{}\n", 10 * i));
    }
    first.wait_slider(5).await;
    let ended = first.get_json("/api/latest").await;
    let client = Client {
        values: ended["values"].as_object().unwrap().clone(),
        seq: ended["seq"].as_u64().unwrap(),
        kinds: Vec::new(),
    };
    drop(first);
    let second = Daemon::start_fed(&["--max-rate-hz", "0"]);
    for i in 1..=30 {
        second.feed(&format!("s:{},z:{i}\n", 100 + i));
    }
    second.wait_slider(130).await;
    let latest = second.get_json("/api/latest").await;
    (client, second, latest)
}

/// What a client that resumed must have: a snapshot first, and exactly the
/// second run's state, which has no `x` or `y`.
fn check_resumed(transport: &str, client: &Client, latest: &Value) {
    assert_eq!(latest["values"], json!({"slider": 130, "accel_z": 30}));
    assert_eq!(client.seq, latest["seq"].as_u64().unwrap(), "{transport}");
    assert_eq!(
        Value::Object(client.values.clone()),
        latest["values"],
        "{transport}: the client's state (events {:?})",
        client.kinds
    );
    assert_eq!(
        client.kinds.first().map(String::as_str),
        Some("snapshot"),
        "{transport}: a position from an earlier run gets a snapshot first: {:?}",
        client.kinds
    );
}

#[tokio::test]
async fn a_long_poll_resuming_from_an_earlier_run_gets_the_new_state() {
    let (mut client, daemon, latest) = two_runs().await;
    let answer = daemon
        .get_json(&format!("/api/poll?since={}&timeout=0", client.seq))
        .await;
    for event in answer["events"].as_array().unwrap() {
        client.apply(event);
    }
    check_resumed("long poll", &client, &latest);

    // A position above the latest seq was never published: a snapshot too.
    let ahead = latest["seq"].as_u64().unwrap() + 1000;
    let answer = daemon
        .get_json(&format!("/api/poll?since={ahead}&timeout=0"))
        .await;
    assert_eq!(answer["events"][0]["type"], "snapshot", "{answer}");
    assert_eq!(answer["events"][0]["seq"], latest["seq"]);
}

#[tokio::test]
async fn sse_resuming_from_an_earlier_run_gets_the_new_state() {
    let (mut client, daemon, latest) = two_runs().await;
    let last = latest["seq"].as_u64().unwrap();
    let mut sse = daemon.events(Some(&client.seq.to_string())).await;
    while client.seq < last {
        let (id, _, data) = sse.next_event().await;
        assert_eq!(id, data["seq"].as_u64().unwrap());
        client.apply(&data);
    }
    check_resumed("SSE", &client, &latest);
}

#[tokio::test]
async fn a_websocket_resuming_from_an_earlier_run_gets_the_new_state() {
    let (mut client, daemon, latest) = two_runs().await;
    let last = latest["seq"].as_u64().unwrap();
    let mut ws = daemon.websocket(&format!("/ws?since={}", client.seq)).await;
    while client.seq < last {
        client.apply(&ws.next_json().await);
    }
    check_resumed("WebSocket", &client, &latest);
}

#[tokio::test]
async fn at_the_open_file_limit_the_daemon_backs_off_serves_and_recovers() {
    const LIMIT: u64 = 64;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    // Idle connections stay for the whole test.
    std::fs::write(&path, "[http]\nheader_timeout_secs = 120\n").unwrap();
    let daemon = Daemon::start_with(
        &["--config", path.to_str().unwrap(), "--input", "-"],
        |command| {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe, and nothing else runs
            // between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    use nix::sys::resource::{Resource, setrlimit};
                    // Soft and hard: the daemon cannot raise it.
                    setrlimit(Resource::RLIMIT_NOFILE, LIMIT, LIMIT)?;
                    Ok(())
                });
            }
        },
        None,
    );
    let pid = daemon.pid();
    // A kept-alive connection, opened while there is room.
    let mut kept = TcpStream::connect(daemon.addr()).await.unwrap();
    let healthz = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    kept.write_all(healthz).await.unwrap();
    assert_eq!(status(&read_head(&mut kept).await), 200);

    // More connections than descriptors: the rest wait in the backlog.
    let mut crowd = Vec::new();
    for _ in 0..LIMIT + 16 {
        crowd.push(TcpStream::connect(daemon.addr()).await.unwrap());
    }
    daemon
        .wait_for("the daemon to report that accept fails", || async {
            daemon
                .log()
                .iter()
                .any(|line| line.contains("cannot accept connections"))
                .then_some(())
        })
        .await;
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    println!("at the limit: {open} descriptors open of {LIMIT}");

    // While at the limit (the backlog still holds connections), the
    // listener does not spin.
    let window = Duration::from_secs(2);
    let before = common::cpu_seconds(pid);
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let used = common::cpu_seconds(pid) - before;
    let elapsed = started.elapsed().as_secs_f64();
    let share = used / elapsed;
    println!(
        "CPU at the open-file limit: {used:.2} s in {elapsed:.2} s = {:.1}% of a core",
        share * 100.0
    );
    assert!(
        share < 0.05,
        "the daemon used {:.1}% of a core",
        share * 100.0
    );

    // The connections it has are still served.
    kept.write_all(healthz).await.unwrap();
    let answer = read_head(&mut kept).await;
    assert_eq!(status(&answer), 200, "{answer}");

    // Once descriptors are free, new connections are taken again.
    drop(crowd);
    let started = Instant::now();
    daemon
        .wait_for("a new connection to be answered", || async {
            let mut socket = TcpStream::connect(daemon.addr()).await.ok()?;
            socket
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .await
                .ok()?;
            let answer = tokio::time::timeout(Duration::from_millis(500), read_head(&mut socket))
                .await
                .ok()?;
            (status(&answer) == 200).then_some(())
        })
        .await;
    println!(
        "answering new connections {:?} after the crowd left",
        started.elapsed()
    );
    daemon
        .wait_for("the daemon to say it accepts again", || async {
            daemon
                .log()
                .iter()
                .any(|line| line.contains("accepting connections again"))
                .then_some(())
        })
        .await;
}
