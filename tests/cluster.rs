//! The relay past one machine: two real sockudo nodes sharing a real Redis
//! (Debian's `redis-server`) through sockudo's redis adapter, the bridge
//! publishing with `[relay] url = [node A, node B]`, and a Pusher-protocol
//! subscriber on node B. Events published to A reach the subscriber on B
//! (cross-node delivery); A is killed mid-run and publishing goes on
//! through B, until the subscriber has the capture's final state.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Instant;

use serde_json::Value;

use crate::common::pusher::{Mirror, Subscriber};
use crate::common::redis::Redis;
use crate::common::sockudo::{APP_ID, KEY, SECRET, Sockudo};
use crate::common::{Daemon, data, messy_final_state, metric_sum};

fn at_final_state(mirror: &Mirror) -> bool {
    mirror.board.as_deref() == Some("disconnected")
        && Value::Object(mirror.values.clone()) == messy_final_state()
}

/// A config whose `[relay] url` lists `urls`, in order; its secret in a
/// file beside it.
fn relay_config(dir: &tempfile::TempDir, urls: &[String]) -> String {
    let secret = dir.path().join("relay-secret");
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret)
        .and_then(|mut file| writeln!(file, "{SECRET}"))
        .expect("the secret file should be writable");
    let list = urls
        .iter()
        .map(|url| format!("\"{url}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[relay]\nurl = [{list}]\napp_id = \"{APP_ID}\"\nkey = \"{KEY}\"\nsecret_file = \"{}\"\n",
            secret.display()
        ),
    )
    .expect("the config file should be writable");
    config.display().to_string()
}

#[tokio::test]
async fn publishing_to_node_a_reaches_node_b_and_goes_on_through_b_when_a_is_killed() {
    let redis = Redis::start().await;
    let mut node_a = Sockudo::start_node(redis.port()).await;
    let node_b = Sockudo::start_node(redis.port()).await;
    let mut subscriber = Subscriber::connect(&node_b.ws_url()).await;
    subscriber.subscribe("esplora", None).await;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = relay_config(&dir, &[node_a.url(), node_b.url()]);
    // About seven seconds of readings: A is killed well before the end.
    let daemon = Daemon::start(&[
        "--config",
        &config,
        "--input",
        &format!("file:{}", data("esplora-messy-sample.log").display()),
        "--replay-rate",
        "300",
    ]);

    // Cross-node: the relay sends only to A while A answers, and the
    // subscriber is on B.
    subscriber
        .wait_until("ten events published to node A, on node B", |mirror| {
            mirror.events.len() >= 10
        })
        .await;
    assert!(
        !at_final_state(&subscriber.mirror),
        "the replay ended before node A could be killed"
    );
    let text = daemon.get_text("/metrics").await;
    assert_eq!(
        metric_sum(&text, "esplora_relay_requests_total"),
        metric_sum(
            &text,
            "esplora_relay_requests_total{outcome=\"ok\",status=\"200\"}"
        ),
        "node A should have taken every request so far:\n{text}\nnode A's log:\n{}\nnode B's log:\n{}",
        node_a.log(),
        node_b.log()
    );
    assert_eq!(metric_sum(&text, "esplora_relay_node"), 0, "{text}");

    node_a.stop();
    let killed = Instant::now();
    let before_kill = subscriber.mirror.events.len();
    subscriber.next_event().await;
    let gap = killed.elapsed();
    subscriber
        .wait_until("the capture's final state through node B", at_final_state)
        .await;
    let seqs = subscriber.mirror.seqs();
    assert!(
        seqs.windows(2).all(|pair| pair[0] <= pair[1]),
        "seq must not go back: {seqs:?}"
    );
    let text = daemon.get_text("/metrics").await;
    assert!(
        metric_sum(
            &text,
            "esplora_relay_requests_total{outcome=\"retry\",status=\"0\"}"
        ) >= 1,
        "a request to the killed node A should have failed:\n{text}"
    );
    assert_eq!(
        metric_sum(&text, "esplora_relay_node"),
        1,
        "the relay should have moved on to node B:\n{text}"
    );
    let latest = daemon.get_json("/api/latest").await;
    assert_eq!(latest["values"], messy_final_state());
    eprintln!(
        "cluster: {} events reached the subscriber on node B, {} of them after node A was \
         killed; the first through B came {gap:.2?} after the kill",
        subscriber.mirror.events.len(),
        subscriber.mirror.events.len() - before_kill
    );
    drop(redis);
}
