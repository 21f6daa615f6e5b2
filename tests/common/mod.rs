//! The harness shared by the end-to-end tests: it runs the real
//! `esplora-bridge` binary on a free loopback port and talks to it over
//! real sockets.

pub mod mosquitto;
pub mod pty;
pub mod pusher;
pub mod redis;
pub mod server;
pub mod sockudo;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_esplora-bridge")
}

/// A program the tests drive, found on `PATH` or in `~/.cargo/bin`. A
/// missing one fails the test at once, in one line that names it and the
/// command that installs it: a skipped test would pass without testing.
pub fn tool(name: &str, install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let cargo_bin = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin"));
    std::env::split_paths(&path)
        .chain(cargo_bin)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: run `{install}` (or `bash .ci/run`)"))
}

/// A sample capture in `tests/data`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
}

/// The state `esplora-messy-sample.log` ends in.
pub fn messy_final_state() -> Value {
    serde_json::json!({
        "slider": 624, "accel_x": 2, "accel_y": 2, "accel_z": 125, "joystick_x": 0,
        "joystick_y": 0, "light": 674, "microphone": 11, "temperature": 73, "user": 3, "buttons": 0
    })
}

/// A running daemon; killed when dropped.
pub struct Daemon {
    child: Child,
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
    pub http: reqwest::Client,
    /// The daemon's stdin, for a daemon started with [`Daemon::start_fed`].
    stdin: Arc<Mutex<Option<ChildStdin>>>,
    /// Its `STATE_DIRECTORY`, where its history store is unless the test
    /// says otherwise: each daemon has its own, removed with it.
    state: tempfile::TempDir,
}

impl Daemon {
    /// Starts the daemon with `args` (plus `--listen 127.0.0.1:0` unless
    /// they name an address) and waits until it says where it listens.
    pub fn start(args: &[&str]) -> Daemon {
        Self::start_with(args, |_| {}, None)
    }

    /// As [`Daemon::start`], with `stdin` written to the daemon's stdin
    /// (then closed), and `setup` applied to the command first.
    pub fn start_with(
        args: &[&str],
        setup: impl FnOnce(&mut Command),
        stdin: Option<Vec<u8>>,
    ) -> Daemon {
        let mut command = Command::new(binary());
        command.args(args);
        if !args.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        let state = tempfile::tempdir().expect("a state directory");
        command
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env("STATE_DIRECTORY", state.path())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        setup(&mut command);
        let mut child = command
            .spawn()
            .expect("the esplora-bridge binary should start");
        if let Some(bytes) = stdin {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            std::thread::spawn(move || {
                // The daemon may exit before reading everything; that is its business.
                let _ = pipe.write_all(&bytes);
            });
        }
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("daemon: {line}");
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = addr_tx.send(addr);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = match addr_rx.recv_timeout(WAIT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the daemon did not start listening within {WAIT:?}; its log: {:?}",
                    log.lock().unwrap()
                );
            }
        };
        Daemon {
            child,
            base: format!("http://{addr}"),
            log,
            http: http_client(reqwest::header::HeaderMap::new()),
            stdin: Arc::new(Mutex::new(None)),
            state,
        }
    }

    /// The history store the daemon writes, unless the test's config or
    /// `setup` put it elsewhere.
    pub fn store(&self) -> PathBuf {
        self.state.path().join("history.sqlite")
    }

    /// As [`Daemon::start`], reading lines that the test sends with
    /// [`Daemon::feed`] from stdin as fast as they come. Keyframes are put
    /// an hour apart, so that only the test's lines make events
    /// (`--input - --replay-rate max --keyframe-secs 3600` is added).
    pub fn start_fed(args: &[&str]) -> Daemon {
        let fed = [
            "--input",
            "-",
            "--replay-rate",
            "max",
            "--keyframe-secs",
            "3600",
        ];
        let args = [args, &fed].concat();
        let mut daemon = Self::start_with(
            &args,
            |command| {
                command.stdin(Stdio::piped());
            },
            None,
        );
        *daemon.stdin.lock().unwrap() = daemon.child.stdin.take();
        daemon
    }

    /// Sends `token` as `Authorization: Bearer` with every request made
    /// through [`Daemon::http`], the harness's own included.
    pub fn authorized(mut self, token: &str) -> Daemon {
        let mut headers = reqwest::header::HeaderMap::new();
        let value = format!("Bearer {token}").parse().expect("a header value");
        headers.insert(reqwest::header::AUTHORIZATION, value);
        self.http = http_client(headers);
        self
    }

    /// Writes `lines` to the daemon's stdin (see [`Daemon::start_fed`]).
    pub fn feed(&self, lines: &str) {
        write_lines(&self.stdin, lines.as_bytes());
    }

    /// As [`Daemon::feed`], from a thread, for more than a pipe holds:
    /// the test's clients keep running meanwhile.
    pub fn feed_in_background(&self, lines: String) -> std::thread::JoinHandle<()> {
        let stdin = Arc::clone(&self.stdin);
        std::thread::spawn(move || write_lines(&stdin, lines.as_bytes()))
    }

    /// Closes the daemon's stdin: the end of its input.
    pub fn end_input(&self) {
        self.stdin.lock().unwrap().take();
    }

    /// The seq of the latest event, once the slider reads `slider`.
    pub async fn wait_slider(&self, slider: i64) -> u64 {
        self.wait_for(&format!("slider {slider}"), || async {
            let latest = self.get_json("/api/latest").await;
            (latest["values"]["slider"] == slider).then(|| latest["seq"].as_u64().unwrap())
        })
        .await
    }

    /// Waits until the board is `connected` or `disconnected`.
    pub async fn wait_board(&self, state: &str) {
        self.wait_for(&format!("board {state}"), || async {
            (self.get_json("/api/latest").await["board"] == state).then_some(())
        })
        .await;
    }

    /// Waits until `metric` (a name with labels) reads `value`.
    pub async fn wait_metric(&self, metric: &str, value: u64) {
        self.wait_for(&format!("{metric} == {value}"), || async {
            (self.metric(metric).await == value).then_some(())
        })
        .await;
    }

    /// A WebSocket to `path` (such as `/ws?since=3`).
    pub async fn websocket(&self, path: &str) -> WebSocket {
        let url = format!("{}{path}", self.base.replacen("http://", "ws://", 1));
        let (socket, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("the WebSocket handshake should finish in time")
            .expect("the WebSocket handshake should succeed");
        assert_eq!(response.status(), 101);
        WebSocket(socket)
    }

    /// An SSE stream from `/events`, with `last_event_id` sent if given.
    pub async fn events(&self, last_event_id: Option<&str>) -> Sse {
        let mut request = self.http.get(self.url("/events"));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request
            .send()
            .await
            .expect("GET /events should be answered");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "SSE content type"
        );
        Sse {
            body: Box::pin(response.bytes_stream()),
            buffer: Vec::new(),
        }
    }

    /// The address the daemon listens on, `IP:PORT`.
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Writes `request` on a new raw TCP connection and reads until the
    /// answer's head has come or the server closes it; gives what it read.
    /// For what an HTTP client library would not send (a missing `Host`,
    /// a stalled body).
    pub async fn exchange(&self, request: impl AsRef<[u8]>) -> String {
        let mut socket = tokio::net::TcpStream::connect(self.addr())
            .await
            .expect("the daemon should take a connection");
        socket
            .write_all(request.as_ref())
            .await
            .expect("the daemon should take the request");
        read_head(&mut socket).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs `path`, which must answer with a success status.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("GET should be answered");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        response.json().await.expect("the body should be JSON")
    }

    pub async fn get_text(&self, path: &str) -> String {
        let response = self.get(path).await;
        response.text().await.expect("the body should be text")
    }

    /// The sum of a metric's samples whose line starts with `prefix`
    /// (a name, or a name with labels).
    pub async fn metric(&self, prefix: &str) -> u64 {
        metric_sum(&self.get_text("/metrics").await, prefix)
    }

    /// Polls `check` until it gives `Some`, failing with `what` after [`WAIT`].
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what}; log: {:?}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the input has been read to its end: `lines` lines counted.
    pub async fn wait_for_lines(&self, lines: u64) {
        self.wait_for(&format!("{lines} lines accepted or rejected"), || async {
            let seen = self.metric("esplora_lines_accepted_total").await
                + self.metric("esplora_lines_rejected_total").await;
            (seen >= lines).then_some(())
        })
        .await;
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits for the daemon to exit by itself.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .expect("the daemon's status should be readable")
            {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit within {WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` and waits at most `limit` for the daemon to exit;
    /// gives its status and how long it took.
    pub fn stop(&mut self, signal: Signal, limit: Duration) -> (ExitStatus, Duration) {
        let pid = Pid::from_raw(i32::try_from(self.pid()).expect("a pid fits an i32"));
        let sent = Instant::now();
        kill(pid, signal).expect("the daemon should be signalled");
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .expect("the daemon's status should be readable")
            {
                return (status, sent.elapsed());
            }
            assert!(
                sent.elapsed() < limit,
                "the daemon did not exit within {limit:?} of {signal}; its log: {:?}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn write_lines(stdin: &Mutex<Option<ChildStdin>>, lines: &[u8]) {
    let mut stdin = stdin.lock().unwrap();
    let pipe = stdin
        .as_mut()
        .expect("the daemon was started with start_fed");
    pipe.write_all(lines)
        .expect("the daemon should read its stdin");
    pipe.flush().unwrap();
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kB` field of `/proc/PID/status`, such as `VmHWM` (peak resident
/// memory) or `VmRSS`.
pub fn memory_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("the daemon's /proc status should be readable");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// CPU seconds (user and system) that process `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .expect("the daemon's /proc stat should be readable");
    // The fields after the command name, which may itself hold spaces.
    let after_name = &stat[stat.rfind(')').expect("a command name in /proc stat") + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks: u64 = fields[11..=12]
        .iter()
        .map(|field| field.parse::<u64>().expect("utime and stime in /proc stat"))
        .sum();
    ticks as f64 / 100.0
}

/// Reads from `socket` until an answer's head has come (with whatever came
/// with it) or the server closes it, failing after [`WAIT`].
pub async fn read_head(socket: &mut tokio::net::TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match tokio::time::timeout(WAIT, socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(_) => panic!("no answer within {WAIT:?}; got {answer:?}"),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// A client that opens a new connection for every request: a pooled one
/// may have just been closed by the daemon (after a refusal, or at its idle
/// timeout) as the client reuses it, which would fail a request for nothing.
fn http_client(headers: reqwest::header::HeaderMap) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .default_headers(headers)
        .build()
        .expect("a client")
}

/// The sum of the samples in Prometheus text whose line starts with `prefix`
/// followed by a space or `{`.
pub fn metric_sum(text: &str, prefix: &str) -> u64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(prefix).is_some_and(|rest| {
                rest.starts_with(' ') || rest.starts_with('{') || prefix.ends_with('}')
            })
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A WebSocket client (tokio-tungstenite) with waits that fail clearly.
pub struct WebSocket(
    pub tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
);

impl WebSocket {
    /// The next message, pings and pongs included; `None` once closed.
    pub async fn next_message(&mut self) -> Option<Message> {
        match tokio::time::timeout(WAIT, self.0.next()).await {
            Ok(Some(Ok(message))) => Some(message),
            Ok(Some(Err(error))) => panic!("the WebSocket failed: {error}"),
            Ok(None) => None,
            Err(_) => panic!("no WebSocket message within {WAIT:?}"),
        }
    }

    /// The next text frame, as JSON (control frames are skipped).
    pub async fn next_json(&mut self) -> Value {
        loop {
            match self.next_message().await {
                Some(Message::Text(text)) => {
                    return serde_json::from_str(&text).expect("text frames are JSON");
                }
                Some(Message::Ping(_) | Message::Pong(_)) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next frame that is not an event (an ack or an error).
    pub async fn next_reply(&mut self) -> Value {
        loop {
            let frame = self.next_json().await;
            if !matches!(
                frame["type"].as_str(),
                Some("snapshot" | "delta" | "status")
            ) {
                return frame;
            }
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.0
            .send(Message::text(text))
            .await
            .expect("the WebSocket should take a frame");
    }

    /// Sends `frame` and checks that it is answered with an error frame
    /// whose text contains `why`.
    pub async fn expect_error(&mut self, frame: &str, why: &str) {
        self.send_text(frame).await;
        let reply = self.next_reply().await;
        assert_eq!(reply["type"], "error", "{frame} should be refused: {reply}");
        let error = reply["error"].as_str().unwrap_or_default();
        assert!(error.contains(why), "{frame}: expected {why:?} in {reply}");
    }
}

/// One Server-Sent Event, or a comment.
#[derive(Debug, PartialEq)]
pub enum SseItem {
    Event {
        id: Option<u64>,
        event: String,
        data: Value,
    },
    /// A block with no data: a comment (keep-alive) or a `retry:` hint.
    Other(String),
}

/// An SSE stream read with reqwest, parsed as the HTML standard says.
pub struct Sse {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: Vec<u8>,
}

impl Sse {
    /// The next block, `None` when the stream ended.
    pub async fn next_item(&mut self) -> Option<SseItem> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8(block).expect("SSE is UTF-8");
                return Some(parse_sse_block(block.trim_end()));
            }
            match tokio::time::timeout(WAIT, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Some(Err(error))) => panic!("the SSE stream failed: {error}"),
                Ok(None) => return None,
                Err(_) => panic!("nothing on the SSE stream within {WAIT:?}"),
            }
        }
    }

    /// The next event (comments and hints are skipped): id, type, data.
    pub async fn next_event(&mut self) -> (u64, String, Value) {
        loop {
            match self.next_item().await {
                Some(SseItem::Event { id, event, data }) => {
                    return (id.expect("every event has an id"), event, data);
                }
                Some(SseItem::Other(_)) => {}
                None => panic!("the SSE stream ended"),
            }
        }
    }
}

fn parse_sse_block(block: &str) -> SseItem {
    let (mut id, mut event, mut data) = (None, String::from("message"), None::<String>);
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.parse().expect("ids are seqs")),
            "event" => event = value.to_owned(),
            "data" => {
                let data = data.get_or_insert_with(String::new);
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            _ => {}
        }
    }
    match data {
        Some(data) => SseItem::Event {
            id,
            event,
            data: serde_json::from_str(&data).expect("SSE data is JSON"),
        },
        None => SseItem::Other(block.to_owned()),
    }
}
