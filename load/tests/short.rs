//! The load tool in its short mode, against the real daemon: 20 SSE and 20
//! WebSocket clients for 3 s at 100 Hz, every event received; and its
//! comparison with the floor server, shorter still, with a few idle clients
//! held besides.
//!
//! The daemon is the `esplora-bridge` binary beside the tool, which
//! `cargo test --workspace` builds (the bridge's own tests need it); the
//! floor is this crate's `esplora-floor`.

use std::path::Path;
use std::process::Command;

/// Runs the tool with `args`, beside the daemon; its report, once it has
/// succeeded.
fn load_tool(args: &[&str]) -> String {
    let tool = Path::new(env!("CARGO_BIN_EXE_esplora-load"));
    let daemon = tool.with_file_name("esplora-bridge");
    assert!(
        daemon.exists(),
        "{} is missing: build it first (cargo build -p esplora-bridge)",
        daemon.display()
    );
    let output = Command::new(tool)
        .args(args)
        .arg("--floor")
        .arg(env!("CARGO_BIN_EXE_esplora-floor"))
        .output()
        .expect("the load tool should start");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the load tool failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout.into_owned()
}

#[test]
fn a_short_run_delivers_every_event_to_every_client() {
    let stdout = load_tool(&[
        "--sse",
        "20",
        "--ws",
        "20",
        "--secs",
        "3",
        "--rate-hz",
        "100",
    ]);
    for transport in ["sse", "ws"] {
        let expected = format!("{transport}: clients 20/20 (failed 0); events 6000/6000 (lost 0,");
        assert!(
            stdout.contains(&expected),
            "no {expected:?} in the report:\n{stdout}"
        );
    }
    assert!(stdout.contains("board: 300 lines at 100 Hz"), "{stdout}");
}

#[test]
fn the_floor_delivers_the_same_events_and_the_comparison_is_printed() {
    let stdout = load_tool(&[
        "--compare-floor",
        "--scenario",
        "10+10@100x1",
        "--idle",
        "10",
    ]);
    let runs: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("sse: ") || line.starts_with("ws: "))
        .collect();
    assert_eq!(runs.len(), 4, "two runs of two transports:\n{stdout}");
    for run in runs {
        assert!(
            run.contains("clients 10/10 (failed 0); events 1000/1000 (lost 0,"),
            "{run}\n{stdout}"
        );
    }
    let held: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("idle: 10/10 clients connected"))
        .collect();
    assert_eq!(
        held.len(),
        2,
        "both servers held the idle clients:\n{stdout}"
    );
    assert!(
        stdout.contains("| 10 SSE + 10 WS, 100 Hz, 1 s, 10 idle (median of 1) |"),
        "{stdout}"
    );
    assert!(stdout.contains("| | **bridge / floor** |"), "{stdout}");
}
