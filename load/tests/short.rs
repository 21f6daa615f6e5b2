//! The load tool in its short mode, against the real daemon: 20 SSE and 20
//! WebSocket clients for 3 s at 100 Hz, every event received.
//!
//! The daemon is the `esplora-bridge` binary beside the tool, which
//! `cargo test --workspace` builds (the bridge's own tests need it).

use std::path::Path;
use std::process::Command;

#[test]
fn a_short_run_delivers_every_event_to_every_client() {
    let tool = Path::new(env!("CARGO_BIN_EXE_esplora-load"));
    let daemon = tool.with_file_name("esplora-bridge");
    assert!(
        daemon.exists(),
        "{} is missing: build it first (cargo build -p esplora-bridge)",
        daemon.display()
    );
    let output = Command::new(tool)
        .args([
            "--sse",
            "20",
            "--ws",
            "20",
            "--secs",
            "3",
            "--rate-hz",
            "100",
        ])
        .output()
        .expect("the load tool should start");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the load tool failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    for transport in ["sse", "ws"] {
        let expected = format!("{transport}: clients 20/20 (failed 0); events 6000/6000 (lost 0,");
        assert!(
            stdout.contains(&expected),
            "no {expected:?} in the report:\n{stdout}"
        );
    }
    assert!(stdout.contains("board: 300 lines at 100 Hz"), "{stdout}");
}
