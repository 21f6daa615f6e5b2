//! Configuration through the real binary: a bad config stops start-up with
//! the file, line and key named; the environment overrides the file and the
//! command line overrides both; the shipped example is valid.

use std::process::Command;

use crate::common::{Daemon, binary};

fn check_config(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, text).unwrap();
    let output = Command::new(binary())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (
        output.status.success(),
        stderr.replace(&path.display().to_string(), "FILE"),
    )
}

#[test]
fn the_shipped_example_config_is_valid() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../systemd/esplora-bridge.toml"
    );
    let output = Command::new(binary())
        .args(["check-config", example])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).ends_with(": ok\n"));
}

#[test]
fn a_bad_config_names_the_file_the_line_and_the_key() {
    let cases = [
        (
            "[http]\nlisten = \"127.0.0.1:1\"\nhistroy = 5\n",
            "FILE:3",
            "histroy",
        ),
        (
            "[input]\nspec = \"demo\"\n\n[http]\nhistory = \"many\"\n",
            "FILE:5",
            "http.history",
        ),
        ("[http]\nlisten = \"nope\"\n", "FILE:2", "http.listen"),
        ("[input]\nreplay_rate = 0\n", "FILE:2", "input.replay_rate"),
        (
            "[relay]\napp_id = \"a\"\nkey = \"k\"\nsecret = \"s\"\nurl = [\"http://a\", \"http://a\"]\n",
            "FILE:5",
            "relay.url",
        ),
    ];
    for (text, place, key) in cases {
        let (ok, stderr) = check_config(text);
        assert!(!ok, "{text:?} should be refused");
        assert!(
            stderr.contains(place),
            "{text:?}: the error should name {place}: {stderr}"
        );
        assert!(
            stderr.contains(key),
            "{text:?}: the error should name {key}: {stderr}"
        );
    }
}

#[test]
fn the_daemon_refuses_to_start_on_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, "[transform]\nkeyframe_secs = -1\n").unwrap();
    let output = Command::new(binary())
        .args(["--input", "demo", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(":2:") && stderr.contains("transform.keyframe_secs"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("listening"),
        "nothing should start: {stderr}"
    );
}

#[tokio::test]
async fn command_line_beats_environment_beats_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    std::fs::write(
        &path,
        "[http]\nhistory = 3\n[transform]\nkeyframe_secs = 5\n[names]\ns = \"from_file\"\n",
    )
    .unwrap();
    let config = path.display().to_string();
    let capture = crate::common::data("esplora-100hz-60s.log");
    let input = format!("file:{}", capture.display());
    let daemon = Daemon::start_with(
        &["--config", &config, "--input", &input],
        |command| {
            // The command line's input beats the environment's demo; the
            // environment's replay rate applies, since the line gives none.
            command
                .env("ESPLORA_BRIDGE_INPUT", "demo")
                .env("ESPLORA_BRIDGE_REPLAY_RATE", "max");
        },
        None,
    );
    daemon.wait_for_lines(6000).await;
    let latest = daemon.get_json("/api/latest").await;
    assert!(
        latest["values"].get("from_file").is_some(),
        "the file's [names] apply: {latest}"
    );
    assert!(
        daemon.log().iter().any(|l| l.contains("input=file:")),
        "the command line's input wins"
    );
}
