//! The MQTT sink through the real binary against a real Mosquitto, with an
//! MQTT client (rumqttc) subscribed to everything on the other side: the
//! state and per-field topics rebuilt, availability and the Last Will, a
//! broker outage, credentials, Home Assistant discovery, and commands to a
//! board on a real pty.

use std::time::Duration;

use crate::common::mosquitto::{Messages, Mosquitto, Received, Watcher};
use crate::common::pty::Port;
use crate::common::{Daemon, data, messy_final_state};
use nix::sys::signal::Signal;
use serde_json::{Map, Value};

const PREFIX: &str = "esplora-test/bench";

/// A config file with an `[mqtt]` section for `broker`, plus `extra` keys.
struct Setup {
    dir: tempfile::TempDir,
    config: String,
}

impl Setup {
    fn new(broker: &Mosquitto, extra: &str) -> Setup {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("bridge.toml");
        std::fs::write(
            &path,
            format!(
                "[mqtt]\nurl = \"{}\"\ntopic_prefix = \"{PREFIX}\"\n{extra}",
                broker.url()
            ),
        )
        .expect("the config file should be writable");
        Setup {
            config: path.display().to_string(),
            dir,
        }
    }
}

fn topic(name: &str) -> String {
    format!("{PREFIX}/{name}")
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

/// The fields as rebuilt from the per-field topics.
fn fields(messages: &Messages) -> Value {
    let mut values = Map::new();
    for (name, payload) in messages.under(&format!("{PREFIX}/")) {
        if !["state", "availability"].contains(&name.as_str()) && !name.contains('/') {
            values.insert(name, json(&payload));
        }
    }
    Value::Object(values)
}

fn availability(messages: &Messages) -> Option<&str> {
    messages.latest(&topic("availability"))
}

/// Waits until the daemon has published a state.
async fn wait_state(watcher: &Watcher) {
    watcher
        .wait_for("a state", |messages| {
            messages.latest(&topic("state")).map(|_| ())
        })
        .await;
}

/// Waits until the daemon's availability topic says `state`.
async fn wait_availability(watcher: &Watcher, what: &str, state: &str) {
    watcher
        .wait_for(what, |messages| {
            (availability(messages) == Some(state)).then_some(())
        })
        .await;
}

#[tokio::test]
async fn a_replayed_capture_is_rebuilt_from_the_state_topic_and_the_field_topics() {
    let broker = Mosquitto::start(None).await;
    let watcher = Watcher::connect(broker.port, None).await;
    let setup = Setup::new(&broker, "per_field_topics = true\n");
    let input = format!("file:{}", data("esplora-messy-sample.log").display());
    let daemon = Daemon::start(&[
        "--config",
        &setup.config,
        "--input",
        &input,
        "--replay-rate",
        "400",
    ]);
    let latest = daemon
        .wait_for("the input to end", || async {
            let latest = daemon.get_json("/api/latest").await;
            (latest["board"] == "disconnected" && latest["values"] == messy_final_state())
                .then_some(latest)
        })
        .await;
    watcher
        .wait_for("the state topic to equal /api/latest", |messages| {
            let state = json(messages.latest(&topic("state"))?);
            (state == latest).then_some(())
        })
        .await;
    watcher
        .wait_for("the field topics to rebuild the final state", |messages| {
            (fields(messages) == messy_final_state()).then_some(())
        })
        .await;
    wait_availability(
        &watcher,
        "availability offline once the input ended",
        "offline",
    )
    .await;
    // Every state message was whole.
    watcher.with(|messages| {
        for message in messages.all.iter().filter(|m| m.topic == topic("state")) {
            let state = json(&message.payload);
            assert_eq!(
                state["values"].as_object().map(Map::len),
                Some(11),
                "{state}"
            );
        }
    });
    // They are retained: a client that comes later gets the same at once.
    let late = Watcher::connect(broker.port, None).await;
    late.wait_for("the retained state, fields and availability", |messages| {
        let state = messages.latest(&topic("state")).map(json)?;
        (state == latest
            && fields(messages) == messy_final_state()
            && availability(messages) == Some("offline"))
        .then_some(())
    })
    .await;
    late.with(|messages| assert!(messages.all.iter().all(|m| m.retain)));
    let text = daemon.get_text("/metrics").await;
    assert!(text.contains("esplora_mqtt_up 1"), "{text}");
}

#[tokio::test]
async fn over_tls_the_broker_is_checked_against_the_ca_file() {
    let broker = Mosquitto::start_tls().await;
    let watcher = Watcher::connect(broker.port, None).await;
    let (tls_port, ca) = broker.tls.clone().expect("a TLS listener");
    let dir = tempfile::tempdir().unwrap();
    let config = |ca_file: &std::path::Path| {
        let path = dir.path().join("bridge.toml");
        std::fs::write(
            &path,
            format!(
                "[mqtt]\nurl = \"mqtts://localhost:{tls_port}\"\nca_file = \"{}\"\ntopic_prefix = \"{PREFIX}\"\n",
                ca_file.display()
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let daemon = Daemon::start(&["--config", &config(&ca), "--input", "demo"]);
    watcher
        .wait_for("a state over TLS", |messages| {
            messages.latest(&topic("state")).map(|_| ())
        })
        .await;
    drop(daemon);

    // A CA that did not sign the broker's certificate: no connection.
    let other = tempfile::tempdir().unwrap();
    let stranger = Mosquitto::start_tls().await;
    let (_, stranger_ca) = stranger.tls.clone().unwrap();
    std::fs::copy(&stranger_ca, other.path().join("ca.pem")).unwrap();
    let daemon = Daemon::start(&[
        "--config",
        &config(&other.path().join("ca.pem")),
        "--input",
        "demo",
    ]);
    daemon
        .wait_for("the TLS failure to be logged", || async {
            daemon
                .log()
                .iter()
                .any(|line| line.contains("no MQTT broker connection") && line.contains("TLS"))
                .then_some(())
        })
        .await;
    assert_eq!(daemon.metric("esplora_mqtt_up").await, 0);
}

#[tokio::test]
async fn the_last_will_says_offline_when_the_daemon_is_killed() {
    let broker = Mosquitto::start(None).await;
    let watcher = Watcher::connect(broker.port, None).await;
    let setup = Setup::new(&broker, "");
    let mut daemon = Daemon::start(&["--config", &setup.config, "--input", "demo"]);
    wait_availability(&watcher, "availability online", "online").await;
    daemon.stop(Signal::SIGKILL, Duration::from_secs(5));
    wait_availability(&watcher, "the Last Will, offline", "offline").await;
}

#[tokio::test]
async fn an_unplugged_board_is_offline_and_a_replugged_one_online_again() {
    let broker = Mosquitto::start(None).await;
    let watcher = Watcher::connect(broker.port, None).await;
    let setup = Setup::new(&broker, "");
    let port = Port::new();
    let mut board = port.plug_in();
    let _daemon = Daemon::start(&["--config", &setup.config, "--input", &port.input()]);
    board.send("s:0\ns:1\n");
    watcher
        .wait_for("a state and availability online", |messages| {
            (availability(messages) == Some("online") && messages.latest(&topic("state")).is_some())
                .then_some(())
        })
        .await;
    board.unplug();
    wait_availability(&watcher, "availability offline", "offline").await;
    let mut board = port.plug_in();
    board.send("s:5\ns:6\n");
    wait_availability(&watcher, "availability online again", "online").await;
}

#[tokio::test]
async fn a_broker_outage_leaves_local_clients_alone_and_the_whole_state_comes_back() {
    let mut broker = Mosquitto::start(None).await;
    let watcher = Watcher::connect(broker.port, None).await;
    let setup = Setup::new(&broker, "");
    let daemon = Daemon::start(&["--config", &setup.config, "--input", "demo"]);
    wait_state(&watcher).await;
    drop(watcher);
    broker.stop();
    let seq = |latest: Value| latest["seq"].as_u64().expect("a seq");
    let down_at = seq(daemon.get_json("/api/latest").await);
    daemon
        .wait_for(
            "/api/latest to move on while the broker is down",
            || async { (seq(daemon.get_json("/api/latest").await) > down_at + 10).then_some(()) },
        )
        .await;
    daemon
        .wait_for("the sink to notice", || async {
            (daemon.metric("esplora_mqtt_up").await == 0).then_some(())
        })
        .await;

    broker.restart().await;
    // A fresh broker without persistence: whatever arrives was sent after
    // the reconnect.
    let watcher = Watcher::connect(broker.port, None).await;
    let state = watcher
        .wait_for("a state after the outage", |messages| {
            messages.latest(&topic("state")).map(json)
        })
        .await;
    assert!(state["seq"].as_u64() > Some(down_at + 10), "{state}");
    assert_eq!(
        state["values"].as_object().map(Map::len),
        Some(11),
        "{state}"
    );
    wait_availability(&watcher, "availability online", "online").await;
    let log = daemon.log().join("\n");
    assert!(log.contains("connected to the MQTT broker again"), "{log}");
}

#[tokio::test]
async fn wrong_credentials_are_logged_once_and_no_password_is_ever_printed() {
    let broker = Mosquitto::start(Some(("bridge", "right-password-9d2"))).await;
    let wrong = "wrong-password-71c";
    let setup = Setup::new(
        &broker,
        "username = \"bridge\"\npassword_file = \"mqtt-password\"\n",
    );
    std::fs::write(setup.dir.path().join("mqtt-password"), format!("{wrong}\n")).unwrap();
    // At trace level, so that a password printed anywhere would show.
    let start_traced = || {
        Daemon::start_with(
            &["--config", &setup.config, "--input", "demo"],
            |command| {
                command
                    .env("RUST_LOG", "trace")
                    .current_dir(setup.dir.path());
            },
            None,
        )
    };
    let daemon = start_traced();
    let refused = daemon
        .wait_for("the refusal to be logged", || async {
            let log = daemon.log();
            let refused: Vec<String> = log
                .into_iter()
                .filter(|line| line.contains("refused the credentials"))
                .collect();
            (!refused.is_empty()).then_some(refused)
        })
        .await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("ERROR"), "{}", refused[0]);
    assert_eq!(daemon.get_json("/api/latest").await["board"], "connected");
    assert!(
        daemon.log().iter().all(|line| !line.contains(wrong)),
        "the password was logged"
    );
    drop(daemon);

    // The right one gets in, and is not printed either.
    std::fs::write(
        setup.dir.path().join("mqtt-password"),
        "right-password-9d2\n",
    )
    .unwrap();
    let daemon = start_traced();
    let watcher = Watcher::connect(broker.port, Some(("bridge", "right-password-9d2"))).await;
    wait_state(&watcher).await;
    assert!(
        daemon
            .log()
            .iter()
            .all(|line| !line.contains("right-password-9d2")),
        "the password was logged"
    );
}

#[tokio::test]
async fn home_assistant_discovery_is_sent_and_sent_again_when_it_comes_online() {
    let broker = Mosquitto::start(None).await;
    let watcher = Watcher::connect(broker.port, None).await;
    let setup = Setup::new(&broker, "homeassistant = true\n");
    let _daemon = Daemon::start(&[
        "--config",
        &setup.config,
        "--input",
        "demo",
        "--enable-commands",
    ]);
    let configs = watcher
        .wait_for("a discovery config per field", |messages| {
            let configs: Vec<(String, Value)> = messages
                .all
                .iter()
                .filter(|m| m.topic.starts_with("homeassistant/") && m.topic.ends_with("/config"))
                .map(|m| (m.topic.clone(), json(&m.payload)))
                .collect();
            // Ten sensors, five buttons from the bitmask, the LED and a beep.
            (configs.len() >= 17).then_some(configs)
        })
        .await;
    let sensors = configs
        .iter()
        .filter(|(topic, _)| topic.starts_with("homeassistant/sensor/"))
        .count();
    let buttons = configs
        .iter()
        .filter(|(topic, _)| topic.starts_with("homeassistant/binary_sensor/"))
        .count();
    assert_eq!((sensors, buttons), (10, 5), "{configs:#?}");
    let light = configs
        .iter()
        .find(|(topic, _)| topic.starts_with("homeassistant/light/"))
        .map(|(_, config)| config)
        .expect("the LED as a light");
    assert_eq!(light["rgb_command_topic"], topic("set/led"));
    assert!(
        configs
            .iter()
            .any(|(topic, _)| topic.starts_with("homeassistant/button/"))
    );
    let (slider_topic, slider) = configs
        .iter()
        .find(|(topic, _)| topic.ends_with("/slider/config"))
        .expect("a config for the slider");
    assert_eq!(slider["state_topic"], topic("state"));
    assert_eq!(slider["availability_topic"], topic("availability"));
    assert_eq!(slider["state_class"], "measurement");
    // Units come from the field descriptions (built in, or [fields."NAME"]).
    let temperature = configs
        .iter()
        .find(|(topic, _)| topic.ends_with("/temperature/config"))
        .map(|(_, config)| config)
        .expect("a config for the temperature");
    assert_eq!(temperature["unit_of_measurement"], "°C");
    assert!(slider["unique_id"].is_string() && slider["device"]["identifiers"].is_array());

    watcher.publish("homeassistant/status", "online").await;
    let slider_topic = slider_topic.clone();
    watcher
        .wait_for("the discovery again", |messages| {
            (messages.count(&slider_topic) >= 2).then_some(())
        })
        .await;
}

// The board's `read_line` blocks its thread: the watcher's event loop needs
// another one to send the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt_command_reaches_the_board_and_a_bad_one_gets_an_error() {
    let broker = Mosquitto::start(None).await;
    let watcher = Watcher::connect(broker.port, None).await;
    let setup = Setup::new(&broker, "");
    let port = Port::new();
    let mut board = port.plug_in();
    let daemon = Daemon::start(&[
        "--config",
        &setup.config,
        "--input",
        &port.input(),
        "--enable-commands",
    ]);
    // Once the daemon has the port in raw mode: before, the terminal would
    // echo these lines back, and they would read as the daemon's.
    daemon.wait_board("connected").await;
    board.send("s:0\ns:1\n");
    wait_state(&watcher).await;

    watcher.publish(&topic("set/led"), "[0,32,255]").await;
    assert_eq!(board.read_line(), "led:0,32,255");
    let result = |n: usize| {
        move |messages: &Messages| {
            let results: Vec<&Received> = messages
                .all
                .iter()
                .filter(|m| m.topic == topic("command/result"))
                .collect();
            results.get(n).map(|m| json(&m.payload))
        }
    };
    let ok = watcher.wait_for("the LED's result", result(0)).await;
    assert_eq!(
        ok,
        serde_json::json!({"ok": true, "command": "led:0,32,255"})
    );

    watcher
        .publish(&topic("set/tone"), r#"{"hz":440,"ms":99999}"#)
        .await;
    let bad = watcher.wait_for("the bad tone's result", result(1)).await;
    assert_eq!(bad["ok"], false);
    assert!(bad["error"].as_str().unwrap().contains("ms takes"), "{bad}");
    assert!(board.pending().is_empty(), "nothing should reach the board");
    assert_eq!(
        daemon
            .metric("esplora_mqtt_commands_total{outcome=\"invalid\"}")
            .await,
        1
    );
}

#[tokio::test]
async fn with_commands_disabled_an_mqtt_command_is_refused() {
    let broker = Mosquitto::start(None).await;
    let watcher = Watcher::connect(broker.port, None).await;
    let setup = Setup::new(&broker, "");
    let _daemon = Daemon::start(&["--config", &setup.config, "--input", "demo"]);
    wait_state(&watcher).await;
    watcher.publish(&topic("set/led"), "[1,2,3]").await;
    let refused = watcher
        .wait_for("the result", |messages| {
            messages.latest(&topic("command/result")).map(json)
        })
        .await;
    assert_eq!(refused["ok"], false);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("commands are disabled"),
        "{refused}"
    );
}
