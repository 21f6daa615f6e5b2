//! Commands arriving over MQTT: `<prefix>/set/led` takes `[red, green,
//! blue]` (as the WebSocket's `led`), `<prefix>/set/tone` takes
//! `{"hz": HZ, "ms": MS}` (as the WebSocket's `tone` and `ms`). Both are
//! validated by [`Command`]'s own constructors, the ones the WebSocket
//! uses, and each gets an answer on `<prefix>/command/result`:
//! `{"ok":true,"command":LINE}` or `{"ok":false,"error":WHY}`.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::command::{Command, Refused};

/// Which command topic a message came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Led,
    Tone,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Tone {
    hz: i64,
    ms: i64,
}

/// The command a payload asks for, or why it is not one.
pub fn parse(kind: Kind, payload: &[u8]) -> Result<Command, String> {
    let command = match kind {
        Kind::Led => {
            let rgb: Vec<i64> = serde_json::from_slice(payload)
                .map_err(|error| format!("bad command: led takes [red, green, blue]: {error}"))?;
            Command::led(&rgb)
        }
        Kind::Tone => {
            let Tone { hz, ms } = serde_json::from_slice(payload).map_err(|error| {
                format!("bad command: tone takes {{\"hz\": HZ, \"ms\": MS}}: {error}")
            })?;
            Command::tone(hz, ms)
        }
    };
    command.map_err(|error| format!("bad command: {error}"))
}

/// The answer for `<prefix>/command/result`.
pub fn result(outcome: &Result<Command, String>, sent: Option<&Refused>) -> Value {
    match (outcome, sent) {
        (Ok(command), None) => json!({"ok": true, "command": command.to_string()}),
        (Ok(_), Some(refused)) => json!({"ok": false, "error": refused.to_string()}),
        (Err(error), _) => json!({"ok": false, "error": error}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_checked_as_the_websockets_commands_are() {
        assert_eq!(
            parse(Kind::Led, b"[255, 0, 10]"),
            Command::led(&[255, 0, 10]).map_err(|e| e.to_string())
        );
        assert_eq!(
            parse(Kind::Tone, br#"{"hz":440,"ms":200}"#),
            Ok(Command::Tone { hz: 440, ms: 200 })
        );
        for (kind, payload, why) in [
            (Kind::Led, &b"[256,0,0]"[..], "led takes"),
            (Kind::Led, b"[1,2]", "led takes"),
            (Kind::Led, b"on", "led takes [red, green, blue]"),
            (
                Kind::Tone,
                br#"{"hz":5,"ms":10}"#,
                "tone takes 20 to 20000 Hz",
            ),
            (Kind::Tone, br#"{"hz":440}"#, "missing field `ms`"),
            (Kind::Tone, br#"{"hz":440,"ms":1,"x":1}"#, "unknown field"),
        ] {
            let error = parse(kind, payload).unwrap_err();
            assert!(error.contains(why), "{error}");
        }
    }
}
