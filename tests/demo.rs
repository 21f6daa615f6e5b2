//! The demo board through the real binary: readings arrive and move, and
//! keyframes are published on time.

use crate::common::Daemon;

#[tokio::test]
async fn the_demo_board_moves_and_keyframes_are_published() {
    let daemon = Daemon::start(&["--input", "demo", "--keyframe-secs", "1"]);
    let first = daemon
        .wait_for("the first demo readings", || async {
            let latest = daemon.get_json("/api/latest").await;
            (latest["values"].as_object().is_some_and(|v| v.len() == 11)).then_some(latest)
        })
        .await;
    assert_eq!(first["board"], "connected");
    daemon
        .wait_for("the slider to move", || async {
            let latest = daemon.get_json("/api/latest").await;
            (latest["values"]["slider"] != first["values"]["slider"]).then_some(())
        })
        .await;
    daemon
        .wait_for("a keyframe snapshot", || async {
            (daemon
                .metric("esplora_events_published_total{type=\"snapshot\"}")
                .await
                >= 1)
                .then_some(())
        })
        .await;
    assert_eq!(
        daemon.metric("esplora_lines_rejected_total").await,
        0,
        "the demo board sends only good lines"
    );
    assert_eq!(daemon.metric("esplora_lines_lost_total").await, 0);
}
