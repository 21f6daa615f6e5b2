//! `GET /events` through the real binary with a streaming reqwest client:
//! a snapshot first, then deltas; resume with `Last-Event-ID` while the
//! history holds the missed events, a fresh snapshot once it does not;
//! keep-alive comments while the board is quiet; and, over raw sockets,
//! hyper's framing kept once the stream has left hyper.

use crate::common::{Daemon, SseItem, WAIT};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_new_client_gets_a_snapshot_then_deltas_and_resumes_exactly() {
    let daemon = Daemon::start_fed(&["--max-rate-hz", "0"]);
    daemon.feed("s:1,x:10\n");
    let seq = daemon.wait_slider(1).await;

    let mut events = daemon.events(None).await;
    let (id, kind, data) = events.next_event().await;
    assert_eq!((id, kind.as_str()), (seq, "snapshot"));
    assert_eq!(data["seq"], seq);
    assert_eq!(data["board"], "connected");
    assert_eq!(data["values"], json!({"slider": 1, "accel_x": 10}));

    daemon.feed("s:2\n");
    let (id, kind, data) = events.next_event().await;
    assert_eq!((id, kind.as_str()), (seq + 1, "delta"));
    assert_eq!(
        data,
        json!({"type": "delta", "seq": seq + 1, "ts_ms": data["ts_ms"], "values": {"slider": 2}})
    );
    daemon.feed("s:3\n");
    assert_eq!(events.next_event().await.0, seq + 2);
    drop(events);

    // What happens while the client is away is sent when it comes back.
    daemon.feed("s:4\ns:5,x:11\n");
    daemon.wait_slider(5).await;
    let mut events = daemon.events(Some(&(seq + 2).to_string())).await;
    let mut resumed = Vec::new();
    for _ in 0..2 {
        let (id, kind, data) = events.next_event().await;
        resumed.push((id, kind, data["values"].clone()));
    }
    assert_eq!(
        resumed,
        [
            (seq + 3, "delta".to_owned(), json!({"slider": 4})),
            (
                seq + 4,
                "delta".to_owned(),
                json!({"slider": 5, "accel_x": 11})
            ),
        ]
    );
    daemon.feed("s:6\n");
    assert_eq!(
        events.next_event().await.0,
        seq + 5,
        "then live events follow"
    );
    // Three events on each stream (the first may have been handed more
    // before its end was noticed).
    let sent = daemon
        .metric("esplora_http_events_sent_total{transport=\"sse\"}")
        .await;
    assert!(sent >= 6, "{sent} events counted as sent");
}

#[tokio::test]
async fn resuming_from_outside_the_history_gets_a_fresh_snapshot() {
    let daemon = Daemon::start_fed(&["--max-rate-hz", "0", "--history", "4"]);
    for slider in 1..=10 {
        daemon.feed(&format!("s:{slider}\n"));
    }
    let seq = daemon.wait_slider(10).await;

    // Seq 2 has left a history of 4 events, and seq + 100 was never sent
    // (a client of an earlier run of the daemon).
    for last_id in [2, seq + 100] {
        let mut events = daemon.events(Some(&last_id.to_string())).await;
        let (id, kind, data) = events.next_event().await;
        assert_eq!(
            (id, kind.as_str()),
            (seq, "snapshot"),
            "Last-Event-ID {last_id}"
        );
        assert_eq!(data["values"], json!({"slider": 10}));
    }
    // Still in the history: only what came after it.
    let mut events = daemon.events(Some(&(seq - 2).to_string())).await;
    assert_eq!(events.next_event().await.0, seq - 1);
    assert_eq!(events.next_event().await.0, seq);

    let response = daemon
        .http
        .get(daemon.url("/events"))
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("Last-Event-ID"), "{text}");
}

#[tokio::test]
async fn a_quiet_stream_gets_a_retry_hint_and_keep_alive_comments() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(&config, "[http]\nkeepalive_secs = 1\n").unwrap();
    let daemon = Daemon::start_fed(&["--config", config.to_str().unwrap()]);
    daemon.feed("s:1\n");
    daemon.wait_slider(1).await;

    let mut events = daemon.events(None).await;
    assert_eq!(
        events.next_item().await,
        Some(SseItem::Other("retry: 2000".to_owned()))
    );
    assert!(matches!(
        events.next_item().await,
        Some(SseItem::Event { .. })
    ));
    // Nothing is fed now: the next thing on the stream is a comment.
    assert_eq!(
        events.next_item().await,
        Some(SseItem::Other(": keep-alive".to_owned()))
    );
    daemon
        .wait_metric("esplora_http_clients{transport=\"sse\"}", 1)
        .await;

    drop(events);
    daemon
        .wait_metric("esplora_http_clients{transport=\"sse\"}", 0)
        .await;
}

/// Reads from `socket` into `seen` until it holds `needle` after byte
/// `from`; returns where the needle starts.
async fn read_until(
    socket: &mut TcpStream,
    seen: &mut Vec<u8>,
    from: usize,
    needle: &str,
) -> usize {
    let mut buf = [0; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = String::from_utf8_lossy(seen);
        if let Some(at) = text.get(from..).and_then(|tail| tail.find(needle)) {
            return from + at;
        }
        let n = tokio::time::timeout_at(deadline, socket.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} within {WAIT:?}; got {text:?}"))
            .unwrap();
        assert!(
            n > 0,
            "the connection closed before {needle:?}; got {text:?}"
        );
        seen.extend_from_slice(&buf[..n]);
    }
}

/// The event with `id` in `body`, checked to be one whole HTTP/1.1 chunk.
fn chunked_event(body: &str, id: u64) -> &str {
    let start = body
        .find(&format!("id: {id}\n"))
        .unwrap_or_else(|| panic!("no event {id} in {body:?}"));
    let end = start + body[start..].find("\n\n").unwrap() + 2;
    let size = format!("{:x}\r\n", end - start);
    assert!(
        body[..start].ends_with(&size),
        "event {id} is not one chunk: {body:?}"
    );
    assert!(
        body[end..].starts_with("\r\n"),
        "event {id} is not one chunk: {body:?}"
    );
    &body[start..end]
}

#[tokio::test]
async fn a_stream_keeps_its_framing_on_a_reused_connection_and_over_http_1_0() {
    let daemon = Daemon::start_fed(&["--max-rate-hz", "0"]);
    daemon.feed("s:1\n");
    let seq = daemon.wait_slider(1).await;

    // A connection that has served a request first: chunks.
    let mut kept = TcpStream::connect(daemon.addr()).await.unwrap();
    let mut seen = Vec::new();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let healthz = read_until(&mut kept, &mut seen, 0, "\r\n\r\nok\n").await + 7;
    assert!(seen.starts_with(b"HTTP/1.1 200 OK\r\n"), "{seen:?}");
    kept.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let body = read_until(&mut kept, &mut seen, healthz, "\r\n\r\n").await + 4;
    daemon.feed("s:2\n");
    let delta = read_until(&mut kept, &mut seen, body, &format!("id: {}\n", seq + 1)).await;
    read_until(&mut kept, &mut seen, delta, "\n\n\r\n").await;
    let text = String::from_utf8_lossy(&seen).into_owned();
    let head = &text[healthz..body];
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("transfer-encoding: chunked\r\n"), "{head}");
    let body = &text[body..];
    assert!(body.starts_with("d\r\nretry: 2000\n\n\r\n"), "{body:?}");
    assert!(chunked_event(body, seq).contains("event: snapshot\n"));
    let delta = chunked_event(body, seq + 1);
    assert!(delta.contains("\"values\":{\"slider\":2}"), "{delta}");

    // HTTP/1.0: the bare stream, until the connection closes.
    let mut old = TcpStream::connect(daemon.addr()).await.unwrap();
    let mut seen = Vec::new();
    old.write_all(b"GET /events HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut old, &mut seen, 0, "event: snapshot\ndata: ").await;
    let text = String::from_utf8_lossy(&seen);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.contains(" 200 OK\r\n"), "{head}");
    assert!(!head.contains("chunked"), "{head}");
    let expected = format!("retry: 2000\n\nid: {}\nevent: snapshot\ndata: ", seq + 1);
    assert!(body.starts_with(&expected), "{body:?}");
}
