//! Commands from a WebSocket client to a board, through the real binary and
//! a real pseudo terminal standing in for the board: a valid command arrives
//! as a line in the sketch's protocol and is acked; the board's `ok:` reply
//! is not taken for a bad reading; with commands disabled, nothing reaches
//! the board and the client is told why.

use crate::common::Daemon;
use crate::common::pty::Port;

#[tokio::test]
async fn a_command_arrives_at_the_board_as_a_line_and_is_acked() {
    let port = Port::new();
    let mut board = port.plug_in();
    let input = port.input();
    let daemon = Daemon::start(&["--input", &input, "--max-rate-hz", "0", "--enable-commands"]);
    daemon.wait_board("connected").await;
    let mut ws = daemon.websocket("/ws").await;
    assert_eq!(ws.next_json().await["type"], "snapshot");

    ws.send_text(r#"{"type":"command","led":[0,32,255]}"#).await;
    assert_eq!(board.read_line(), "led:0,32,255");
    let ack = ws.next_reply().await;
    assert_eq!(
        ack,
        serde_json::json!({"type": "ack", "command": "led:0,32,255"})
    );

    ws.send_text(r#"{"type":"command","tone":440,"ms":250}"#)
        .await;
    assert_eq!(board.read_line(), "tone:440,250");
    assert_eq!(ws.next_reply().await["command"], "tone:440,250");

    // The board answers each command between its readings; the answers are
    // not readings and must not count as bad lines. (The first line after a
    // connect is dropped as partial, as always.)
    board.send("s:0\ns:1\nok:led\ns:2\nok:tone\ns:3\n");
    daemon.wait_slider(3).await;
    let rejected = daemon.metric("esplora_lines_rejected_total").await;
    let partial = daemon
        .metric("esplora_lines_rejected_total{reason=\"partial\"}")
        .await;
    assert_eq!(
        (rejected, partial),
        (1, 1),
        "only the partial line is rejected"
    );
    assert_eq!(
        daemon
            .metric("esplora_commands_total{outcome=\"sent\"}")
            .await,
        2
    );

    // An invalid command never reaches the board.
    ws.send_text(r#"{"type":"command","tone":440,"ms":99999}"#)
        .await;
    assert_eq!(ws.next_reply().await["type"], "error");
    assert!(
        board.pending().is_empty(),
        "nothing should have been written"
    );
}

#[tokio::test]
async fn with_commands_disabled_nothing_reaches_the_board() {
    let port = Port::new();
    let mut board = port.plug_in();
    let input = port.input();
    let daemon = Daemon::start(&["--input", &input]);
    daemon.wait_board("connected").await;
    let mut ws = daemon.websocket("/ws").await;

    ws.expect_error(
        r#"{"type":"command","led":[255,0,0]}"#,
        "commands are disabled",
    )
    .await;
    // An accepted command is written before it is answered, so by now it
    // would be waiting on the board's side.
    assert!(
        board.pending().is_empty(),
        "nothing should have been written"
    );
    assert_eq!(
        daemon
            .metric("esplora_commands_total{outcome=\"disabled\"}")
            .await,
        1
    );
}

#[tokio::test]
async fn a_command_while_the_board_is_away_is_refused() {
    let port = Port::new();
    let board = port.plug_in();
    let input = port.input();
    let daemon = Daemon::start(&["--input", &input, "--enable-commands"]);
    daemon.wait_board("connected").await;
    board.unplug();
    daemon.wait_board("disconnected").await;

    let mut ws = daemon.websocket("/ws").await;
    ws.expect_error(
        r#"{"type":"command","tone":880,"ms":100}"#,
        "the board is not connected",
    )
    .await;
}
