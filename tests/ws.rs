//! `GET /ws` through the real binary with a tokio-tungstenite client: a
//! snapshot first, then deltas; `?since=` resume; bad frames answered with
//! error frames on a connection that stays usable; oversized frames closed
//! with 1009; pings, and a peer that never answers them dropped.

use std::io::{Read, Write};

use crate::common::{Daemon, WAIT};
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn keepalive_config(dir: &tempfile::TempDir) -> String {
    let config = dir.path().join("bridge.toml");
    std::fs::write(&config, "[http]\nkeepalive_secs = 1\n").unwrap();
    config.display().to_string()
}

#[tokio::test]
async fn a_new_client_gets_a_snapshot_then_deltas_and_since_resumes() {
    let daemon = Daemon::start_fed(&["--max-rate-hz", "0"]);
    daemon.feed("s:1,l:700\n");
    let seq = daemon.wait_slider(1).await;

    let mut ws = daemon.websocket("/ws").await;
    let snapshot = ws.next_json().await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["seq"], seq);
    assert_eq!(snapshot["board"], "connected");
    assert_eq!(snapshot["values"], json!({"slider": 1, "light": 700}));
    daemon.feed("s:2\n");
    let delta = ws.next_json().await;
    assert_eq!(
        (delta["type"].as_str(), delta["seq"].as_u64()),
        (Some("delta"), Some(seq + 1))
    );
    assert_eq!(delta["values"], json!({"slider": 2}));
    drop(ws);

    daemon.feed("s:3\ns:4,l:701\n");
    daemon.wait_slider(4).await;
    let mut ws = daemon.websocket(&format!("/ws?since={}", seq + 1)).await;
    let missed = [ws.next_json().await, ws.next_json().await];
    assert_eq!(
        missed.map(|event| (event["seq"].as_u64().unwrap(), event["values"].clone())),
        [
            (seq + 2, json!({"slider": 3})),
            (seq + 3, json!({"slider": 4, "light": 701}))
        ]
    );
    daemon.feed("s:5\n");
    assert_eq!(
        ws.next_json().await["seq"],
        seq + 4,
        "then live events follow"
    );

    // Outside the history: a fresh snapshot.
    let mut ws = daemon.websocket("/ws?since=100000").await;
    let snapshot = ws.next_json().await;
    assert_eq!(
        (snapshot["type"].as_str(), snapshot["seq"].as_u64()),
        (Some("snapshot"), Some(seq + 4))
    );

    let response = daemon
        .http
        .get(daemon.url("/ws?since=soon"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("since must be a whole number")
    );
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_connection_stays_usable() {
    let daemon = Daemon::start_fed(&["--max-rate-hz", "0"]);
    daemon.feed("s:1\n");
    daemon.wait_slider(1).await;
    let mut ws = daemon.websocket("/ws").await;
    assert_eq!(ws.next_json().await["type"], "snapshot");

    let cases = [
        ("not json", "bad frame"),
        (
            r#"{"type":"subscribe","channel":"x"}"#,
            "unknown variant `subscribe`",
        ),
        (
            r#"{"type":"command","led":[0,0,256]}"#,
            "led takes [red, green, blue], each 0 to 255",
        ),
        (
            r#"{"type":"command","tone":440,"ms":0}"#,
            "ms takes 1 to 10000",
        ),
        (r#"{"type":"command","tone":440}"#, "tone needs ms"),
        // Valid, but commands are disabled by default.
        (
            r#"{"type":"command","led":[0,32,0]}"#,
            "commands are disabled",
        ),
    ];
    for (frame, expected) in cases {
        ws.send_text(frame).await;
        let reply = ws.next_reply().await;
        assert_eq!(reply["type"], "error", "{frame}: {reply}");
        let error = reply["error"].as_str().unwrap();
        assert!(error.contains(expected), "{frame}: {error}");
    }
    ws.0.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert!(
        ws.next_reply().await["error"]
            .as_str()
            .unwrap()
            .contains("binary frames")
    );

    daemon.feed("s:2\n");
    let delta = ws.next_json().await;
    assert_eq!(
        delta["values"],
        json!({"slider": 2}),
        "still served after bad frames"
    );
    assert_eq!(
        daemon
            .metric("esplora_commands_total{outcome=\"invalid\"}")
            .await,
        5
    );
    assert_eq!(
        daemon
            .metric("esplora_commands_total{outcome=\"disabled\"}")
            .await,
        1
    );
}

#[tokio::test]
async fn commands_to_a_demo_board_are_refused_for_want_of_a_board() {
    let daemon = Daemon::start(&["--input", "demo", "--enable-commands"]);
    let mut ws = daemon.websocket("/ws").await;
    ws.expect_error(
        r#"{"type":"command","tone":440,"ms":100}"#,
        "no board to send it to",
    )
    .await;
}

#[tokio::test]
async fn a_frame_over_64_kb_closes_the_connection_with_1009() {
    let daemon = Daemon::start_fed(&["--max-rate-hz", "0"]);
    let mut ws = daemon.websocket("/ws").await;
    ws.send_text(&format!(
        r#"{{"type":"command","pad":"{}"}}"#,
        "x".repeat(64 * 1024)
    ))
    .await;
    let close = loop {
        match ws.next_message().await {
            Some(Message::Close(close)) => break close,
            Some(_) => {}
            None => panic!("the connection ended without a close frame"),
        }
    };
    assert_eq!(close.map(|frame| frame.code), Some(CloseCode::Size));
    daemon
        .wait_metric(
            "esplora_http_clients_dropped_total{transport=\"ws\",reason=\"too_large\"}",
            1,
        )
        .await;

    // A frame just under the limit is only a bad frame.
    let mut ws = daemon.websocket("/ws").await;
    ws.send_text(&format!(
        r#"{{"type":"command","pad":"{}"}}"#,
        "x".repeat(60 * 1024)
    ))
    .await;
    assert!(
        ws.next_reply().await["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `pad`")
    );
}

#[tokio::test]
async fn pings_keep_a_live_client_and_a_silent_peer_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_fed(&["--config", &keepalive_config(&dir)]);
    daemon.feed("s:1\n");
    daemon.wait_slider(1).await;

    // A peer that completes the handshake and then neither reads nor writes,
    // like a laptop whose lid was closed.
    let addr = daemon.base.trim_start_matches("http://").to_owned();
    let mut silent = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        silent,
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    silent.set_read_timeout(Some(WAIT)).unwrap();
    let mut head = [0u8; 12];
    silent.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");

    let mut live = daemon.websocket("/ws").await;
    daemon
        .wait_metric("esplora_http_clients{transport=\"ws\"}", 2)
        .await;
    // The live client sees pings (tungstenite answers them for it).
    let mut pings = 0;
    while pings < 2 {
        if let Some(Message::Ping(_)) = live.next_message().await {
            pings += 1;
        }
    }
    daemon
        .wait_metric(
            "esplora_http_clients_dropped_total{transport=\"ws\",reason=\"no_pong\"}",
            1,
        )
        .await;
    assert_eq!(
        daemon
            .metric("esplora_http_clients{transport=\"ws\"}")
            .await,
        1
    );

    // The live client, which answered every ping, is still served.
    daemon.feed("s:2\n");
    let delta = loop {
        let frame = live.next_json().await;
        if frame["type"] == "delta" {
            break frame;
        }
    };
    assert_eq!(delta["values"], json!({"slider": 2}));
    drop(silent);
}
