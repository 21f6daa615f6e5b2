//! Any Arduino sketch written for the Serial Plotter, through the real
//! binary: the plotter-format captures in `tests/data/` replayed from a
//! file, from stdin and over a real pty end in exactly their documented
//! `/api/latest`, integers stay JSON integers and decimals keep their
//! point, `/metrics` counts every rejected line by reason and every `nan`,
//! and `/api/fields` describes the configured fields.

use std::io::Write;

use serde_json::{Value, json};

use crate::common::pty::Port;
use crate::common::{Daemon, data, metric_sum};

/// `tests/data/plotter-3-fields.log`: lines in it, and what they give.
const THREE_FIELDS_LINES: u64 = 1218;
const THREE_FIELDS_ACCEPTED: u64 = 1202;

/// Each rejected line of the capture, by reason: one debug print, fault
/// and limit of each kind (see tests/data/README.md).
const THREE_FIELDS_REJECTED: [(&str, u64); 11] = [
    ("bad_number", 5),
    ("duplicate_key", 1),
    ("mixed_fields", 1),
    ("out_of_range", 2),
    ("not_utf8", 1),
    ("key_too_long", 1),
    ("too_long", 1),
    ("bad_label", 1),
    ("too_many_fields_in_line", 1),
    ("empty", 1),
    ("syntax", 1),
];

/// The final state, as JSON text: the last line's `temp_C` was `nan`, so
/// the one before it stands; `40.00` is a decimal and stays one.
const THREE_FIELDS_FINAL: &str = r#"{"temp_C":24.25,"hum_%":40.0,"light":498}"#;

async fn wait_replayed(daemon: &Daemon, lines: u64) -> Value {
    daemon.wait_for_lines(lines).await;
    daemon
        .wait_for("the replay's end to be published", || async {
            let latest = daemon.get_json("/api/latest").await;
            (latest["board"] == "disconnected").then_some(latest)
        })
        .await
}

async fn assert_three_fields_counted(daemon: &Daemon) {
    assert_eq!(
        daemon.metric("esplora_lines_accepted_total").await,
        THREE_FIELDS_ACCEPTED
    );
    let metrics = daemon.get_text("/metrics").await;
    for (reason, count) in THREE_FIELDS_REJECTED {
        let sample = format!("esplora_lines_rejected_total{{reason=\"{reason}\"}}");
        assert_eq!(metric_sum(&metrics, &sample), count, "{reason}:\n{metrics}");
    }
    let rejected: u64 = THREE_FIELDS_REJECTED.iter().map(|(_, count)| count).sum();
    assert_eq!(
        metric_sum(&metrics, "esplora_lines_rejected_total"),
        rejected,
        "{metrics}"
    );
    for (word, count) in [("nan", 4), ("inf", 1), ("-inf", 1), ("ovf", 1)] {
        let sample = format!("esplora_values_skipped_total{{value=\"{word}\"}}");
        assert_eq!(metric_sum(&metrics, &sample), count, "{metrics}");
    }
}

/// `/api/latest` as text holds the values exactly, and as JSON keeps
/// their kinds.
async fn assert_three_fields_final(daemon: &Daemon) {
    let text = daemon.get_text("/api/latest").await;
    assert!(
        text.contains(&format!("\"values\":{THREE_FIELDS_FINAL}")),
        "{text}"
    );
    let latest: Value = serde_json::from_str(&text).unwrap();
    assert!(latest["values"]["light"].is_i64(), "{latest}");
    assert!(latest["values"]["hum_%"].is_f64(), "{latest}");
}

#[tokio::test]
async fn a_file_replay_of_a_plotter_sketch_ends_in_the_documented_state() {
    let input = format!("file:{}", data("plotter-3-fields.log").display());
    let daemon = Daemon::start(&["--input", &input, "--replay-rate", "max"]);
    wait_replayed(&daemon, THREE_FIELDS_LINES).await;
    assert_three_fields_final(&daemon).await;
    assert_three_fields_counted(&daemon).await;
}

#[tokio::test]
async fn bare_values_are_named_value_n() {
    let capture = std::fs::read(data("plotter-bare.log")).unwrap();
    let daemon = Daemon::start_with(
        &["--input", "-", "--replay-rate", "max"],
        |_| {},
        Some(capture),
    );
    let latest = wait_replayed(&daemon, 303).await;
    assert_eq!(
        latest["values"],
        json!({"value 1": 24.5, "value 2": 40.0, "value 3": 498})
    );
    assert_eq!(daemon.metric("esplora_lines_accepted_total").await, 302);
    assert_eq!(
        daemon
            .metric("esplora_lines_rejected_total{reason=\"bad_number\"}")
            .await,
        1
    );
    assert_eq!(
        daemon
            .metric("esplora_values_skipped_total{value=\"nan\"}")
            .await,
        2
    );
}

#[tokio::test]
async fn a_plotter_sketch_over_a_pty_ends_in_the_documented_state() {
    let port = Port::new();
    let board = port.plug_in();
    let input = port.input();
    let daemon = Daemon::start(&["--input", &input, "--max-rate-hz", "0"]);
    daemon.wait_board("connected").await;

    // A lone line end first: the daemon drops what precedes the first one
    // after a connect, and a bare `\r\n` is not counted as a partial line.
    let capture = std::fs::read(data("plotter-3-fields.log")).unwrap();
    let mut writer = board.writer();
    let feeder = std::thread::spawn(move || {
        writer.write_all(b"\r\n")?;
        writer.write_all(&capture)?;
        writer.flush()
    });
    daemon.wait_for_lines(THREE_FIELDS_LINES).await;
    feeder
        .join()
        .expect("the feeder thread")
        .expect("the capture written to the pty");
    daemon
        .wait_for("the last value to be published", || async {
            (daemon.get_json("/api/latest").await["values"]["light"] == 498).then_some(())
        })
        .await;
    assert_three_fields_final(&daemon).await;
    assert_three_fields_counted(&daemon).await;
}

#[tokio::test]
async fn api_fields_describes_the_esplora_and_the_configured_fields() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        "[fields.\"temp_C\"]\nlabel = \"Temperature\"\nunit = \"°C\"\nmin = -10\nmax = 50\ndeadband = 0.1\ndecimals = 1\n\n[fields.light]\nmax = 900\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let daemon = Daemon::start(&["--config", &config, "--input", "demo"]);
    let fields = daemon.get_json("/api/fields").await;
    assert_eq!(
        fields["fields"]["temp_C"],
        json!({"label": "Temperature", "unit": "°C", "min": -10, "max": 50, "decimals": 1})
    );
    assert!(fields["fields"]["temp_C"]["min"].is_i64());
    assert_eq!(
        fields["fields"]["light"],
        json!({"label": "Light", "min": 0, "max": 900, "decimals": 0})
    );
    assert_eq!(fields["fields"]["slider"]["label"], "Slider");
}
