//! Where the MQTT sink publishes, and what: the topic names under the
//! prefix, the device's name, and the state's payloads. Pure functions.

use serde::Serialize;

use crate::hub::Board;
use crate::sink::outbox::Update;
use crate::transform::Values;

/// The topics under one prefix.
#[derive(Debug, Clone)]
pub struct Topics {
    pub prefix: String,
    /// `<prefix>/state`: the `/api/latest` JSON, retained.
    pub state: String,
    /// `<prefix>/availability`: `online` or `offline`, retained; also the
    /// Last Will.
    pub availability: String,
    pub set_led: String,
    pub set_tone: String,
    /// `<prefix>/command/result`: how each command went.
    pub result: String,
}

/// Home Assistant's birth topic, and its `online` message.
pub const HA_STATUS: &str = "homeassistant/status";

impl Topics {
    pub fn new(prefix: &str) -> Topics {
        Topics {
            prefix: prefix.to_owned(),
            state: format!("{prefix}/state"),
            availability: format!("{prefix}/availability"),
            set_led: format!("{prefix}/set/led"),
            set_tone: format!("{prefix}/set/tone"),
            result: format!("{prefix}/command/result"),
        }
    }

    /// `<prefix>/<field>`, for a field whose name is a single topic level.
    pub fn field(&self, name: &str) -> Option<String> {
        topic_level(name).then(|| format!("{}/{name}", self.prefix))
    }
}

/// Whether `name` can be one topic level (and a discovery object id).
pub fn topic_level(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '+', '#', '\0'])
}

/// This machine's name as a topic level and an id: the host name, with
/// anything but letters, digits, `-` and `_` made `_`.
pub fn device_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let id: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() {
        "esplora".to_owned()
    } else {
        id
    }
}

/// The body of `<prefix>/state`: the shape of `GET /api/latest`.
#[derive(Serialize)]
struct State<'a> {
    seq: u64,
    ts_ms: u64,
    board: Board,
    values: &'a Values,
}

pub fn state_payload(update: &Update) -> Vec<u8> {
    // A struct of numbers and a map of numbers always serialises.
    serde_json::to_vec(&State {
        seq: update.seq,
        ts_ms: update.ts_ms,
        board: update.board,
        values: &update.values,
    })
    .unwrap_or_default()
}

pub fn availability(board: Board) -> &'static str {
    match board {
        Board::Connected => "online",
        Board::Disconnected => "offline",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_under_a_prefix() {
        let topics = Topics::new("esplora-bridge/kitchen");
        assert_eq!(topics.state, "esplora-bridge/kitchen/state");
        assert_eq!(topics.set_led, "esplora-bridge/kitchen/set/led");
        assert_eq!(
            topics.field("slider").as_deref(),
            Some("esplora-bridge/kitchen/slider")
        );
        assert_eq!(topics.field("a/b"), None);
        assert_eq!(topics.field("a#"), None);
    }

    #[test]
    fn the_state_payload_is_the_latest_json() {
        let update = Update {
            seq: 7,
            ts_ms: 1000,
            board: Board::Connected,
            values: Values::of(&[("slider", 5)]),
            changed: Values::new(),
            full: false,
        };
        assert_eq!(
            String::from_utf8(state_payload(&update)).unwrap(),
            r#"{"seq":7,"ts_ms":1000,"board":"connected","values":{"slider":5}}"#
        );
    }
}
