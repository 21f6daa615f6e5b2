//! A real pseudo terminal stands in for the board: lines written to it reach
//! `/api/latest`; closing it is a disconnect; a new one under the same path
//! is picked up again without a restart, and waiting costs no CPU.

use std::time::Duration;

use crate::common::pty::Port;
use crate::common::{Daemon, cpu_seconds};

#[tokio::test]
async fn a_pty_board_comes_goes_and_comes_back() {
    let port = Port::new();
    let mut board = port.plug_in();
    let input = port.input();
    let daemon = Daemon::start(&["--input", &input, "--max-rate-hz", "0"]);
    daemon.wait_board("connected").await;

    // The first line after a connect may be partial, so it is discarded.
    board.send("z:1,n:7\r\ns:10,x:20,n:8\r\ns:11,x:-3,n:10*40\n");
    daemon.wait_slider(11).await;
    let latest = daemon.get_json("/api/latest").await;
    assert_eq!(
        latest["values"],
        serde_json::json!({"slider": 11, "accel_x": -3})
    );
    assert_eq!(
        daemon
            .metric("esplora_lines_rejected_total{reason=\"partial\"}")
            .await,
        1
    );
    assert_eq!(
        daemon.metric("esplora_lines_lost_total").await,
        1,
        "n jumped from 8 to 10"
    );

    board.unplug();
    daemon.wait_board("disconnected").await;
    assert!(
        daemon
            .log()
            .iter()
            .any(|l| l.contains("board disconnected"))
    );

    // While the board is away the daemon retries with backoff, not a busy loop.
    let pid = daemon.pid();
    let before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_seconds(pid) - before;
    assert!(
        used < 0.5,
        "the daemon used {used:.2} s of CPU in 2 s while the board was away"
    );

    let mut board = port.plug_in();
    daemon.wait_board("connected").await;
    board.send("s:0\ns:42,x:1\n");
    daemon.wait_slider(42).await;
    assert_eq!(daemon.metric("esplora_board_connects_total").await, 2);
}
