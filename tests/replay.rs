//! Replaying captures through the real binary: from a file and from stdin,
//! raw and timed, and with `--exit-at-eof`.

use crate::common::{Daemon, data, messy_final_state};

const MESSY_LINES: u64 = 2033;

async fn assert_messy_sample_replayed(daemon: &Daemon) {
    daemon.wait_for_lines(MESSY_LINES).await;
    assert_eq!(daemon.metric("esplora_lines_accepted_total").await, 2000);
    assert_eq!(daemon.metric("esplora_lines_rejected_total").await, 33);
    let latest = daemon
        .wait_for("the replay's end to be published", || async {
            let latest = daemon.get_json("/api/latest").await;
            (latest["board"] == "disconnected").then_some(latest)
        })
        .await;
    assert_eq!(latest["values"], messy_final_state());
    assert!(latest["seq"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_file_replay_ends_in_the_documented_state() {
    let path = data("esplora-messy-sample.log");
    let input = format!("file:{}", path.display());
    let daemon = Daemon::start(&["--input", &input, "--replay-rate", "max"]);
    assert_messy_sample_replayed(&daemon).await;
    let metrics = daemon.get_text("/metrics").await;
    for reason in [
        "too_long",
        "bad_number",
        "mixed_fields",
        "syntax",
        "bad_checksum",
        "key_too_long",
        "out_of_range",
    ] {
        assert!(
            metrics.contains(&format!(
                "esplora_lines_rejected_total{{reason=\"{reason}\"}}"
            )),
            "no rejection counted as {reason}:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn a_stdin_replay_ends_in_the_documented_state() {
    let capture = std::fs::read(data("esplora-messy-sample.log")).unwrap();
    let daemon = Daemon::start_with(
        &["--input", "-", "--replay-rate", "max"],
        |_| {},
        Some(capture),
    );
    assert_messy_sample_replayed(&daemon).await;
}

#[tokio::test]
async fn exit_at_eof_publishes_everything_then_exits_zero() {
    let path = data("esplora-100hz-60s.log");
    let input = format!("file:{}", path.display());
    // A slow publish rate makes the last delta wait in the throttle: it must
    // still go out before the exit.
    let mut daemon = Daemon::start(&[
        "--input",
        &input,
        "--replay-rate",
        "max",
        "--max-rate-hz",
        "2",
        "--exit-at-eof",
    ]);
    let status = daemon.wait_exit();
    assert!(status.success(), "exit status {status}");
    let log = daemon.log().join("\n");
    assert!(
        log.contains("lines=6000"),
        "the replay should report 6000 lines: {log}"
    );
}

#[tokio::test]
async fn a_recorded_capture_replays_with_its_timing() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.log");
    let source = format!("file:{}", data("esplora-messy-sample.log").display());
    let status = std::process::Command::new(crate::common::binary())
        .args([
            "record",
            "--input",
            &source,
            "--replay-rate",
            "max",
            "--output",
        ])
        .arg(&capture)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read(&capture).unwrap();
    assert!(text.starts_with(b"# esplora-bridge capture v1\n"));
    // Lines the framer dropped (the over-long ones) cannot be recorded.
    let recorded = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
        - 1;
    assert_eq!(recorded, 2031, "every framed line is recorded");

    let input = format!("file:{}", capture.display());
    let daemon = Daemon::start(&["--input", &input]);
    daemon.wait_for_lines(recorded as u64).await;
    let latest = daemon.get_json("/api/latest").await;
    assert_eq!(latest["values"], messy_final_state());
}
