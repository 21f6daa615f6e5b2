//! The relay through the real binary against a real sockudo (a
//! Pusher-compatible server), with a Pusher-protocol WebSocket subscriber
//! on the other side: delivery and rebuilt state, the flush at exit, a
//! wrong secret, sockudo's rate limiter, sockudo going away and coming
//! back, private channels with `POST /pusher/auth`, the daily budget, and
//! the secret file.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::process::Command;
use std::time::Instant;

use crate::common::pusher::{Mirror, Subscriber};
use crate::common::sockudo::{KEY, RateLimit, SECRET, Sockudo};
use crate::common::{Daemon, binary, data, messy_final_state, metric_sum};
use serde_json::Value;

/// A config file with a `[relay]` section, and its secret file beside it.
struct Setup {
    dir: tempfile::TempDir,
    config: String,
}

impl Setup {
    /// `[relay]` pointing at `url`, its secret in a file of `mode`, with
    /// `extra` keys appended to the section.
    fn new(url: &str, secret: &str, mode: u32, extra: &str) -> Setup {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let secret_path = dir.path().join("relay-secret");
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&secret_path)
            .and_then(|mut file| writeln!(file, "{secret}"))
            .and_then(|()| {
                std::fs::set_permissions(&secret_path, std::fs::Permissions::from_mode(mode))
            })
            .expect("the secret file should be writable");
        let config = format!(
            "[relay]\nurl = \"{url}\"\napp_id = \"{}\"\nkey = \"{KEY}\"\nsecret_file = \"{}\"\n{extra}",
            crate::common::sockudo::APP_ID,
            secret_path.display()
        );
        let path = dir.path().join("bridge.toml");
        std::fs::write(&path, config).expect("the config file should be writable");
        Setup {
            config: path.display().to_string(),
            dir,
        }
    }

    fn config(&self) -> &str {
        &self.config
    }

    /// A daemon with this config replaying the messy capture at `rate`.
    fn replay_messy(&self, rate: &str) -> Daemon {
        Daemon::start(&[
            "--config",
            self.config(),
            "--input",
            &messy_input(),
            "--replay-rate",
            rate,
        ])
    }
}

fn messy_input() -> String {
    format!("file:{}", data("esplora-messy-sample.log").display())
}

fn at_final_state(mirror: &Mirror) -> bool {
    mirror.board.as_deref() == Some("disconnected")
        && Value::Object(mirror.values.clone()) == messy_final_state()
}

async fn subscribed(sockudo: &Sockudo, channel: &str) -> Subscriber {
    let mut subscriber = Subscriber::connect(&sockudo.ws_url()).await;
    subscriber.subscribe(channel, None).await;
    subscriber
}

/// Every relayed event carries the whole state (a snapshot with values:
/// none is sent before the first reading), and `seq` never goes back. (A
/// publish whose answer was lost, as when sockudo restarts, is sent again
/// with the state as it is then, which may be the same one: a subscriber
/// that applies snapshots is not affected.)
fn assert_every_event_is_the_whole_state_and_seq_never_goes_back(mirror: &Mirror) {
    for event in &mirror.events {
        assert_eq!(event["type"], "snapshot", "a relayed event: {event}");
        assert!(
            event["values"]
                .as_object()
                .is_some_and(|values| !values.is_empty()),
            "a relayed event without values: {event}"
        );
    }
    let seqs = mirror.seqs();
    assert!(
        seqs.windows(2).all(|pair| pair[0] <= pair[1]),
        "seq must not go back: {seqs:?}"
    );
}

#[tokio::test]
async fn a_replayed_capture_reaches_a_pusher_subscriber_who_rebuilds_its_final_state() {
    let sockudo = Sockudo::start(None).await;
    let mut subscriber = subscribed(&sockudo, "esplora").await;
    let setup = Setup::new(&sockudo.url(), SECRET, 0o600, "");
    let started = Instant::now();
    // About five seconds of readings, so that the relay's rate shows.
    let daemon = setup.replay_messy("400");
    subscriber
        .wait_until("the capture's final state", at_final_state)
        .await;
    let elapsed = started.elapsed();
    assert_every_event_is_the_whole_state_and_seq_never_goes_back(&subscriber.mirror);

    let received = subscriber.mirror.events.len() as u64;
    let text = daemon
        .wait_for("the relay to count what the subscriber got", || async {
            let text = daemon.get_text("/metrics").await;
            (metric_sum(&text, "esplora_relay_events_published_total") == received).then_some(text)
        })
        .await;
    let hub_events = metric_sum(&text, "esplora_events_published_total");
    let requests = metric_sum(&text, "esplora_relay_requests_total");
    assert_eq!(
        metric_sum(
            &text,
            "esplora_relay_requests_total{outcome=\"ok\",status=\"200\"}"
        ),
        requests,
        "every request should have succeeded:\n{text}"
    );
    assert_eq!(metric_sum(&text, "esplora_relay_up"), 1);
    // The relay merges: fewer events than the hub published, and no more
    // than one every 100 ms (its default 10 Hz), besides what goes out
    // regardless of the rate: the board's last status and the change
    // flushed ahead of it.
    assert!(
        received < hub_events,
        "relayed {received} of {hub_events} events"
    );
    let allowed = 10.0 * elapsed.as_secs_f64() + 4.0;
    assert!(
        received as f64 <= allowed,
        "{received} events relayed in {elapsed:?}: more than 10 a second"
    );
    let batches: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("esplora_relay_batch_size"))
        .collect();
    eprintln!(
        "measured against sockudo: {received} events relayed in {elapsed:.2?} ({:.1}/s), \
         {requests} requests, {hub_events} hub events; batch sizes: {batches:?}",
        received as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::test]
async fn a_late_subscriber_of_a_cache_channel_gets_the_whole_state_at_once() {
    let sockudo = Sockudo::start(None).await;
    let setup = Setup::new(
        &sockudo.url(),
        SECRET,
        0o600,
        "channel = \"cache-esplora\"\n",
    );
    // The whole capture at once; the daemon then serves its final state.
    let daemon = setup.replay_messy("max");
    let final_seq = daemon
        .wait_for(
            "the input to end and the relay to send its state",
            || async {
                let latest = daemon.get_json("/api/latest").await;
                let text = daemon.get_text("/metrics").await;
                let relayed = metric_sum(&text, "esplora_relay_events_published_total");
                (latest["board"] == "disconnected"
                    && relayed > 0
                    && metric_sum(&text, "esplora_relay_up") == 1)
                    .then_some(latest["seq"].clone())
            },
        )
        .await;
    // Nothing is published from here on: what the subscriber gets is the
    // channel's cached last event.
    let published = daemon.metric("esplora_relay_events_published_total").await;
    let mut late = subscribed(&sockudo, "cache-esplora").await;
    let first = late.next_event().await;
    assert_eq!(first["type"], "snapshot", "{first}");
    assert_eq!(first["seq"], final_seq, "{first}");
    assert_eq!(first["board"], "disconnected", "{first}");
    assert_eq!(first["values"], messy_final_state(), "{first}");
    assert_eq!(
        daemon.metric("esplora_relay_events_published_total").await,
        published,
        "the relay published again; the test proves nothing"
    );
}

#[tokio::test]
async fn a_subscriber_that_joins_mid_stream_has_the_whole_state_from_its_first_event() {
    let sockudo = Sockudo::start(None).await;
    let setup = Setup::new(&sockudo.url(), SECRET, 0o600, "");
    let daemon = Daemon::start(&["--config", setup.config(), "--input", "demo"]);
    daemon
        .wait_for("a few relayed events", || async {
            (daemon.metric("esplora_relay_events_published_total").await >= 5).then_some(())
        })
        .await;
    let mut late = subscribed(&sockudo, "esplora").await;
    late.wait_until("three relayed events", |mirror| mirror.events.len() >= 3)
        .await;
    assert_eq!(
        late.mirror.events[0]["values"]
            .as_object()
            .map(serde_json::Map::len),
        Some(11)
    );
    assert_every_event_is_the_whole_state_and_seq_never_goes_back(&late.mirror);
}

#[tokio::test]
async fn exit_at_eof_waits_until_the_relay_has_sent_the_last_state() {
    let sockudo = Sockudo::start(None).await;
    let mut subscriber = subscribed(&sockudo, "esplora").await;
    let setup = Setup::new(&sockudo.url(), SECRET, 0o600, "");
    // At full speed the replay is over within one relay interval: the last
    // state is still pending in the relay when the input ends.
    let mut daemon = Daemon::start(&[
        "--config",
        setup.config(),
        "--input",
        &messy_input(),
        "--replay-rate",
        "max",
        "--exit-at-eof",
    ]);
    let status = daemon.wait_exit();
    assert!(status.success(), "exit status {status}");
    subscriber
        .wait_until("the capture's final state", at_final_state)
        .await;
    assert_every_event_is_the_whole_state_and_seq_never_goes_back(&subscriber.mirror);
}

#[tokio::test]
async fn a_wrong_secret_is_counted_and_logged_once_and_the_secret_never() {
    let sockudo = Sockudo::start(None).await;
    let wrong = "not-the-secret-4f1c";
    let setup = Setup::new(&sockudo.url(), wrong, 0o600, "");
    let daemon = Daemon::start_with(
        &["--config", setup.config(), "--input", "demo"],
        |command| {
            command.env("RUST_LOG", "trace");
        },
        None,
    );
    let rejected = "esplora_relay_requests_total{outcome=\"rejected\",status=\"401\"}";
    daemon
        .wait_for("three publishes rejected with 401", || async {
            (daemon.metric(rejected).await >= 3).then_some(())
        })
        .await;
    assert_eq!(
        daemon.metric("esplora_relay_events_published_total").await,
        0
    );
    assert_eq!(daemon.metric("esplora_relay_up").await, 0);
    assert!(
        daemon
            .metric("esplora_relay_events_dropped_total{reason=\"rejected\"}")
            .await
            >= 3
    );
    let log = daemon.log();
    let logged: Vec<&String> = log
        .iter()
        .filter(|line| line.contains("the relay rejected a publish"))
        .collect();
    assert_eq!(logged.len(), 1, "logged once: {logged:?}");
    assert!(
        logged[0].contains("ERROR") && logged[0].contains("status=401"),
        "{}",
        logged[0]
    );
    assert!(
        logged[0].contains("answer=") && !logged[0].contains("answer= "),
        "the answer's body should be logged: {}",
        logged[0]
    );
    assert!(
        log.iter().all(|line| !line.contains(wrong)),
        "the secret was logged"
    );
    // Local clients are served as ever.
    let latest = daemon.get_json("/api/latest").await;
    assert_eq!(latest["board"], "connected");
}

#[tokio::test]
async fn under_sockudos_rate_limit_the_relay_backs_off_and_still_delivers_the_final_state() {
    let sockudo = Sockudo::start(Some(RateLimit {
        max_requests: 5,
        window_seconds: 2,
    }))
    .await;
    let mut subscriber = subscribed(&sockudo, "esplora").await;
    let setup = Setup::new(&sockudo.url(), SECRET, 0o600, "");
    let daemon = setup.replay_messy("400");
    subscriber
        .wait_until("the capture's final state", at_final_state)
        .await;
    // The subscriber may have the event before the relay has the answer.
    let text = daemon
        .wait_for("the relay to see its publish accepted", || async {
            let text = daemon.get_text("/metrics").await;
            (metric_sum(&text, "esplora_relay_up") == 1).then_some(text)
        })
        .await;
    let too_many = metric_sum(
        &text,
        "esplora_relay_requests_total{outcome=\"retry\",status=\"429\"}",
    );
    assert!(too_many >= 1, "sockudo should have answered 429:\n{text}");
    assert!(metric_sum(&text, "esplora_relay_retries_total") >= too_many);
    assert!(
        metric_sum(
            &text,
            "esplora_relay_events_dropped_total{reason=\"failed\"}"
        ) >= 1
    );
    let log = daemon.log().join("\n");
    assert!(log.contains("429 Too Many Requests"), "{log}");
}

#[tokio::test]
async fn when_sockudo_stops_local_clients_keep_going_and_publishing_resumes_with_a_snapshot() {
    let mut sockudo = Sockudo::start(None).await;
    let mut before = subscribed(&sockudo, "esplora").await;
    let setup = Setup::new(&sockudo.url(), SECRET, 0o600, "");
    let daemon = Daemon::start(&["--config", setup.config(), "--input", "demo"]);
    before
        .wait_until("three relayed events", |mirror| mirror.events.len() >= 3)
        .await;
    drop(before);

    sockudo.stop();
    // Six failures in a row put the next attempt 2.5 to 5 s away: time
    // enough to start sockudo again and subscribe before it.
    daemon
        .wait_for("the relay to fail six times in a row", || async {
            (daemon.metric("esplora_relay_retries_total").await >= 6).then_some(())
        })
        .await;
    assert_eq!(daemon.metric("esplora_relay_up").await, 0);
    let seq = |latest: Value| latest["seq"].as_u64().expect("a seq");
    let down_at = seq(daemon.get_json("/api/latest").await);
    daemon
        .wait_for("/api/latest to move on while the relay is down", || async {
            (seq(daemon.get_json("/api/latest").await) > down_at + 10).then_some(())
        })
        .await;

    sockudo.restart().await;
    let mut after = subscribed(&sockudo, "esplora").await;
    let first = after.next_event().await;
    assert_eq!(first["type"], "snapshot", "{first}");
    assert_eq!(first["board"], "connected");
    assert_eq!(
        first["values"].as_object().map(serde_json::Map::len),
        Some(11),
        "{first}"
    );
    assert!(first["seq"].as_u64() > Some(down_at));
    after
        .wait_until("three more relayed events", |mirror| {
            mirror.events.len() >= 4
        })
        .await;
    assert_every_event_is_the_whole_state_and_seq_never_goes_back(&after.mirror);
    daemon
        .wait_for("the relay to be up again", || async {
            (daemon.metric("esplora_relay_up").await == 1).then_some(())
        })
        .await;
}

#[tokio::test]
async fn a_private_channel_subscriber_gets_in_with_the_daemons_channel_auth() {
    let sockudo = Sockudo::start(None).await;
    let setup = Setup::new(
        &sockudo.url(),
        SECRET,
        0o600,
        "channel = \"private-esplora\"\n",
    );
    let daemon = Daemon::start_with(
        &[
            "--config",
            setup.config(),
            "--input",
            "demo",
            "--keyframe-secs",
            "1",
        ],
        |command| {
            command.env("RUST_LOG", "trace");
        },
        None,
    );
    let auth = |socket_id: String, channel: &'static str| {
        let request = daemon.http.post(daemon.url("/pusher/auth")).form(&[
            ("socket_id", socket_id),
            ("channel_name", channel.to_owned()),
        ]);
        async move {
            let response = request.send().await.expect("/pusher/auth should answer");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.expect("a JSON answer"),
            )
        }
    };

    let mut subscriber = Subscriber::connect(&sockudo.ws_url()).await;
    let (status, answer) = auth(subscriber.socket_id.clone(), "private-esplora").await;
    assert_eq!(status, 200, "{answer}");
    let signature = answer["auth"].as_str().expect("an auth string");
    assert!(signature.starts_with(&format!("{KEY}:")), "{signature}");
    // sockudo checks the signature before it lets the subscriber in.
    subscriber
        .subscribe("private-esplora", Some(signature))
        .await;
    subscriber
        .wait_until("every field relayed", |mirror| mirror.values.len() == 11)
        .await;

    for (socket_id, channel) in [
        ("1234", "private-esplora"),
        ("1234.x", "private-esplora"),
        ("1234.1234", "esplora"),
    ] {
        let (status, answer) = auth(socket_id.to_owned(), channel).await;
        assert_eq!(status, 400, "{socket_id} {channel}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    let status = daemon
        .http
        .get(daemon.url("/pusher/auth"))
        .send()
        .await
        .expect("an answer")
        .status();
    assert_eq!(status, 405);
    assert!(
        daemon.log().iter().all(|line| !line.contains(SECRET)),
        "the secret was logged"
    );
}

#[tokio::test]
async fn pusher_auth_without_a_relay_is_not_found() {
    let daemon = Daemon::start(&["--input", "demo"]);
    let response = daemon
        .http
        .post(daemon.url("/pusher/auth"))
        .form(&[
            ("socket_id", "1234.1234"),
            ("channel_name", "private-esplora"),
        ])
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn under_a_budget_each_event_costs_a_message_per_subscriber_more() {
    let sockudo = Sockudo::start(None).await;
    let _one = subscribed(&sockudo, "esplora").await;
    let _two = subscribed(&sockudo, "esplora").await;
    let setup = Setup::new(
        &sockudo.url(),
        SECRET,
        0o600,
        "daily_message_budget = 100000000\n",
    );
    let daemon = Daemon::start(&["--config", setup.config(), "--input", "demo"]);
    daemon
        .wait_for(
            "two subscribers counted and three messages spent per event",
            || async {
                let text = daemon.get_text("/metrics").await;
                let published = metric_sum(&text, "esplora_relay_events_published_total");
                let remaining = metric_sum(&text, "esplora_relay_budget_remaining");
                let subscribers = metric_sum(&text, "esplora_relay_subscribers");
                (subscribers == 2 && published >= 5 && remaining == 100_000_000 - 3 * published)
                    .then_some(())
            },
        )
        .await;
}

#[tokio::test]
async fn a_tiny_budget_holds_the_relay_back_while_local_clients_get_everything() {
    let sockudo = Sockudo::start(None).await;
    let setup = Setup::new(&sockudo.url(), SECRET, 0o600, "daily_message_budget = 10\n");
    let daemon = Daemon::start(&[
        "--config",
        setup.config(),
        "--input",
        "demo",
        "--max-rate-hz",
        "0",
    ]);
    daemon
        .wait_for("300 events for local clients", || async {
            (daemon.metric("esplora_events_published_total").await >= 300).then_some(())
        })
        .await;
    let text = daemon.get_text("/metrics").await;
    let relayed = metric_sum(&text, "esplora_relay_events_published_total");
    // The first snapshot and delta go at once; after that, ten messages
    // spread until midnight UTC leave hours between events.
    assert!(
        (1..=3).contains(&relayed),
        "{relayed} events relayed on a budget of 10:\n{text}"
    );
    // Nobody subscribes, so an event costs only its publish.
    assert_eq!(metric_sum(&text, "esplora_relay_subscribers"), 0);
    assert_eq!(
        metric_sum(&text, "esplora_relay_budget_remaining"),
        10 - relayed
    );
}

#[test]
fn an_unreadable_secret_file_stops_start_up_naming_the_file() {
    let setup = Setup::new("http://127.0.0.1:9", SECRET, 0o600, "");
    let missing = setup.dir.path().join("relay-secret");
    std::fs::remove_file(&missing).expect("the secret file exists");
    let output = Command::new(binary())
        .args(["--config", setup.config(), "--input", "demo"])
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .expect("the daemon should run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot read the relay secret file {}",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("listening on"), "{stderr}");
}

#[tokio::test]
async fn a_world_readable_secret_file_is_warned_about() {
    let setup = Setup::new("http://127.0.0.1:9", SECRET, 0o644, "");
    let daemon = Daemon::start(&["--config", setup.config(), "--input", "demo"]);
    let log = daemon.log().join("\n");
    assert!(
        log.contains("WARN") && log.contains("is readable by every user (mode 644)"),
        "{log}"
    );
    assert!(!log.contains(SECRET), "the secret was logged");
}
