//! A real pseudo terminal stands in for the board: lines written to it reach
//! `/api/latest`; closing it is a disconnect; a new one under the same path
//! is picked up again without a restart, and waiting costs no CPU.

mod common;

use std::time::Duration;

use common::{Board, Daemon};

async fn wait_board(daemon: &Daemon, state: &str) {
    daemon
        .wait_for(&format!("board {state}"), || async {
            (daemon.get_json("/api/latest").await["board"] == state).then_some(())
        })
        .await;
}

async fn wait_slider(daemon: &Daemon, slider: i64) {
    daemon
        .wait_for(&format!("slider {slider}"), || async {
            (daemon.get_json("/api/latest").await["values"]["slider"] == slider).then_some(())
        })
        .await;
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

#[tokio::test]
async fn a_pty_board_comes_goes_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("esplora");
    let mut board = Board::plug_in(&link);
    let input = format!("serial:{}", link.display());
    let daemon = Daemon::start(&["--input", &input, "--max-rate-hz", "0"]);
    wait_board(&daemon, "connected").await;

    // The first line after a connect may be partial, so it is discarded.
    board.send("z:1,n:7\r\ns:10,x:20,n:8\r\ns:11,x:-3,n:10*40\n");
    wait_slider(&daemon, 11).await;
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

    board.unplug(&link);
    wait_board(&daemon, "disconnected").await;
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

    let mut board = Board::plug_in(&link);
    wait_board(&daemon, "connected").await;
    board.send("s:0\ns:42,x:1\n");
    wait_slider(&daemon, 42).await;
    assert_eq!(daemon.metric("esplora_board_connects_total").await, 2);
}
