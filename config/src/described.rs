//! The built-in descriptions of the Esplora's fields, and
//! [`Config::field_descriptions`], which lays `[fields."NAME"]` over them.
//!
//! The Esplora's ranges and units are facts about its hardware, so they
//! live here once rather than in the page: the page reads them from
//! `/api/fields` like any configured field, and a config can override any
//! one key of them.

use std::collections::BTreeMap;

use esplora_parser::Number;

use crate::schema::{Config, FieldConfig};

/// A built-in description, by the Esplora's board key: named through
/// `[names]`, so a renamed field keeps its description.
struct BuiltIn {
    key: &'static str,
    label: &'static str,
    unit: Option<&'static str>,
    range: Option<(i64, i64)>,
}

/// The 10-bit analog inputs read 0 to 1023; the joystick is centred on 0.
/// The accelerometer reads about 160 per g over the same 10 bits, but a
/// board at rest moves over a few counts of it: its charts follow the data.
const BUILT_IN: [BuiltIn; 11] = [
    builtin("s", "Slider", None, Some((0, 1023))),
    builtin("l", "Light", None, Some((0, 1023))),
    builtin("m", "Microphone", None, Some((0, 1023))),
    builtin("t", "Temperature", Some("°C"), None),
    builtin("x", "Accel X", Some("g/160"), None),
    builtin("y", "Accel Y", Some("g/160"), None),
    builtin("z", "Accel Z", Some("g/160"), None),
    builtin("j", "Joystick X", None, Some((-512, 511))),
    builtin("k", "Joystick Y", None, Some((-512, 511))),
    builtin("u", "User", None, None),
    builtin("b", "Buttons", None, None),
];

const fn builtin(
    key: &'static str,
    label: &'static str,
    unit: Option<&'static str>,
    range: Option<(i64, i64)>,
) -> BuiltIn {
    BuiltIn {
        key,
        label,
        unit,
        range,
    }
}

impl BuiltIn {
    fn describe(&self) -> FieldConfig {
        FieldConfig {
            label: Some(self.label.to_owned()),
            unit: self.unit.map(str::to_owned),
            min: self.range.map(|(min, _)| Number::Int(min)),
            max: self.range.map(|(_, max)| Number::Int(max)),
            deadband: None,
            decimals: Some(0),
        }
    }
}

impl Config {
    /// Every described field by JSON name: the Esplora's built-in
    /// descriptions (named through `[names]`) with `[fields."NAME"]` laid
    /// over them key by key, and every other configured field as written.
    pub fn field_descriptions(&self) -> BTreeMap<String, FieldConfig> {
        let mut described: BTreeMap<String, FieldConfig> = BUILT_IN
            .iter()
            .map(|builtin| {
                (
                    self.names.name_of(builtin.key).to_owned(),
                    builtin.describe(),
                )
            })
            .collect();
        for (name, field) in &self.fields {
            let merged = match described.get(name) {
                Some(base) => field.over(base),
                None => field.clone(),
            };
            described.insert(name.clone(), merged);
        }
        described
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_esplora_is_described_by_default() {
        let described = Config::default().field_descriptions();
        assert_eq!(described.len(), 11);
        let slider = &described["slider"];
        assert_eq!(slider.label.as_deref(), Some("Slider"));
        assert_eq!(
            (slider.min, slider.max),
            (Some(Number::Int(0)), Some(Number::Int(1023)))
        );
        assert_eq!(described["temperature"].unit.as_deref(), Some("°C"));
        assert_eq!(described["temperature"].min, None);
    }

    #[test]
    fn the_config_overrides_key_by_key_and_adds_fields() {
        let text =
            "[names]\nt = \"temp\"\n[fields.temp]\nmin = -10.5\n[fields.\"hum_%\"]\nunit = \"%\"\n";
        let config = Config::from_toml(text, Path::new("t.toml")).unwrap();
        let described = config.field_descriptions();
        assert!(!described.contains_key("temperature"));
        let temp = &described["temp"];
        assert_eq!(temp.label.as_deref(), Some("Temperature"));
        assert_eq!(temp.unit.as_deref(), Some("°C"));
        assert_eq!(temp.min, Some(Number::Float(-10.5)));
        assert_eq!(described["hum_%"].unit.as_deref(), Some("%"));
        assert_eq!(described["hum_%"].label, None);
    }
}
