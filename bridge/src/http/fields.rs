//! `GET /api/fields`: how each field is described, for the page to lay
//! itself out, and whether the page may offer the board's controls.
//!
//! The answer is built once at start from the config (the Esplora's
//! built-in descriptions with `[fields."NAME"]` over them) and the input,
//! since none of them changes while the daemon runs:
//!
//! ```json
//! {"fields":{"temp_C":{"label":"Temperature","unit":"°C","min":-10,"max":50,"decimals":1}},"commands":false}
//! ```
//!
//! `commands` is true when a command can reach a board: commands are
//! enabled and the input is a serial board (see [`Commands`]).
//!
//! [`Commands`]: crate::command::Commands
//!
//! A key that is not set is left out. Bounds keep the config's kind: an
//! integer stays a JSON integer. Deadbands are the daemon's business and
//! are not shown.

use bytes::Bytes;
use esplora_config::{Config, FieldConfig};
use esplora_parser::Number;
use serde_json::{Map, Value};

/// The body of `/api/fields` for `config`, with commands reaching a board
/// or not.
pub fn body(config: &Config, commands: bool) -> Bytes {
    let fields: Map<String, Value> = config
        .field_descriptions()
        .into_iter()
        .map(|(name, field)| (name, describe(&field)))
        .collect();
    let mut root = Map::new();
    root.insert("fields".to_owned(), Value::Object(fields));
    root.insert("commands".to_owned(), Value::Bool(commands));
    Bytes::from(Value::Object(root).to_string())
}

fn describe(field: &FieldConfig) -> Value {
    let mut out = Map::new();
    if let Some(label) = &field.label {
        out.insert("label".to_owned(), Value::from(label.as_str()));
    }
    if let Some(unit) = &field.unit {
        out.insert("unit".to_owned(), Value::from(unit.as_str()));
    }
    if let Some(min) = field.min {
        out.insert("min".to_owned(), number(min));
    }
    if let Some(max) = field.max {
        out.insert("max".to_owned(), number(max));
    }
    if let Some(decimals) = field.decimals {
        out.insert("decimals".to_owned(), Value::from(decimals));
    }
    Value::Object(out)
}

/// A bound as JSON; the config only holds finite decimals, so `from_f64`
/// always gives a number (`null` would only stand for a NaN).
fn number(value: Number) -> Value {
    match value {
        Number::Int(value) => Value::from(value),
        Number::Float(value) => Value::from(value),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    #[test]
    fn built_in_and_configured_fields_with_unset_keys_left_out() {
        let text = "[fields.\"temp_C\"]\nlabel = \"Temperature\"\nunit = \"°C\"\nmin = -10\nmax = 50\ndecimals = 1\ndeadband = 0.1\n[fields.light]\nmax = 100.5\n[fields.\"hum_%\"]\n";
        let config = Config::from_toml(text, Path::new("t.toml")).unwrap();
        let json: Value = serde_json::from_slice(&body(&config, true)).unwrap();
        assert_eq!(json["commands"], true);
        let fields = &json["fields"];
        assert_eq!(
            fields["temp_C"],
            json!({"label":"Temperature","unit":"°C","min":-10,"max":50,"decimals":1})
        );
        // 50 is a JSON integer, not 50.0.
        assert!(fields["temp_C"]["max"].is_i64());
        assert_eq!(
            fields["light"],
            json!({"label":"Light","min":0,"max":100.5,"decimals":0})
        );
        assert_eq!(fields["hum_%"], json!({}));
        assert_eq!(
            fields["accel_x"],
            json!({"label":"Accel X","unit":"g/160","decimals":0})
        );
        assert_eq!(fields.as_object().map(Map::len), Some(13));
    }
}
