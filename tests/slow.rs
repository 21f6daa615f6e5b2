//! Slow and stuck clients through the real binary: while the board floods,
//! a client that never reads costs bounded memory, never holds up the
//! pipeline or the clients that do read, and gets a fresh snapshot (which
//! is counted) once it reads again; a stuck WebSocket peer is dropped.

use crate::common::{Daemon, WAIT, memory_kb};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Lines fed as fast as the daemon takes them: far more than the socket
/// buffers and per-client queue of a stuck client can hold.
const FLOOD: i64 = 200_000;

/// A client that sends its request and then reads nothing, with a small
/// receive buffer so that the server's side fills up early.
async fn stuck_client(daemon: &Daemon, request: &str) -> TcpStream {
    let addr = daemon.base.trim_start_matches("http://").parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

fn slider(event: &Value) -> Option<i64> {
    event["values"]["slider"].as_i64()
}

#[tokio::test]
async fn a_stuck_client_costs_bounded_memory_and_slows_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(&config, "[http]\nkeepalive_secs = 1\n").unwrap();
    let daemon = Daemon::start_fed(&["--config", config.to_str().unwrap(), "--max-rate-hz", "0"]);
    daemon.feed("s:0\n");
    daemon.wait_slider(0).await;
    let rss_before = memory_kb(daemon.pid(), "VmHWM");

    let host = daemon.base.trim_start_matches("http://").to_owned();
    let mut stuck_sse = stuck_client(
        &daemon,
        &format!("GET /events HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    )
    .await;
    let _stuck_ws = stuck_client(
        &daemon,
        &format!(
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ),
    )
    .await;
    let mut sse = daemon.events(None).await;
    let mut ws = daemon.websocket("/ws").await;
    daemon
        .wait_metric("esplora_http_clients{transport=\"sse\"}", 2)
        .await;
    daemon
        .wait_metric("esplora_http_clients{transport=\"ws\"}", 2)
        .await;

    // The clients that read get to the last value, as deltas or, if they
    // fell behind, from a fresh snapshot. They read on their own tasks, so
    // that the WebSocket one answers pings all the while.
    let sse = tokio::spawn(async move {
        loop {
            let (_, _, event) = sse.next_event().await;
            if slider(&event) == Some(FLOOD) {
                break sse;
            }
        }
    });
    let (ws_done, ws_reached) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        while slider(&ws.next_json().await) != Some(FLOOD) {}
        let _ = ws_done.send(());
        // Reading on answers the pings that keep it connected.
        while ws.0.next().await.is_some() {}
    });
    let started = std::time::Instant::now();
    let feeding = daemon.feed_in_background((1..=FLOOD).map(|i| format!("s:{i}\n")).collect());
    let _sse = sse
        .await
        .expect("the reading SSE client should get every value");
    ws_reached
        .await
        .expect("the reading WebSocket client should get every value");
    feeding.join().unwrap();
    // Every line went through the pipeline while the stuck client read nothing.
    daemon.wait_for_lines(FLOOD as u64 + 1).await;
    eprintln!("flood of {FLOOD} lines through in {:?}", started.elapsed());
    // Had the stuck clients' events been queued for them, the flood alone
    // would be some 20 MB of SSE text.
    let rss_peak = memory_kb(daemon.pid(), "VmHWM");
    let sent = daemon.metric("esplora_http_events_sent_total").await;
    eprintln!(
        "peak RSS {rss_before} KiB before the flood, {rss_peak} KiB after; {sent} events sent"
    );
    assert!(
        rss_peak < rss_before + 8 * 1024,
        "the daemon grew from {rss_before} KiB to {rss_peak} KiB"
    );

    // The stuck WebSocket peer neither reads nor answers pings: dropped.
    daemon
        .wait_for("the stuck WebSocket peer to be dropped", || async {
            let dropped = daemon
                .metric("esplora_http_clients_dropped_total{transport=\"ws\",reason=\"stalled\"}")
                .await
                + daemon
                    .metric(
                        "esplora_http_clients_dropped_total{transport=\"ws\",reason=\"no_pong\"}",
                    )
                    .await;
            (dropped == 1).then_some(())
        })
        .await;
    daemon
        .wait_metric("esplora_http_clients{transport=\"ws\"}", 1)
        .await;

    // The stuck SSE client reads at last: behind the stale events its
    // socket held, a fresh snapshot of the final state.
    let mut seen = Vec::new();
    let last = format!("\"slider\":{FLOOD}}}");
    let snapshot = "event: snapshot";
    let mut buf = vec![0; 64 * 1024];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = String::from_utf8_lossy(&seen);
        if text
            .rfind(snapshot)
            .is_some_and(|at| text[at..].contains(&last))
        {
            break;
        }
        let n = tokio::time::timeout_at(deadline, stuck_sse.read(&mut buf))
            .await
            .expect("the stuck client should be sent the final state")
            .unwrap();
        assert!(n > 0, "the stream ended");
        seen.extend_from_slice(&buf[..n]);
        // Only the tail matters; keep what is read bounded.
        if seen.len() > 1 << 20 {
            seen.drain(..seen.len() - (1 << 16));
        }
    }
    let resynced = daemon
        .metric("esplora_http_clients_resynced_total{transport=\"sse\"}")
        .await;
    assert!(resynced >= 1, "the stuck client's resync should be counted");
    eprintln!("SSE clients resynced: {resynced}");
}
