//! [`Names`]: which JSON name each board key is published under.
//!
//! The board speaks in one-letter keys (`s:512,x:3`); browsers and the relay
//! get readable names (`"slider":512,"accel_x":3`). The defaults below cover
//! the Esplora and the sketch; `[names]` overrides them or adds keys, and any
//! other key is published under its own name. Only the overrides are stored,
//! so two `Names` compare equal exactly when they publish the same names.

use std::collections::BTreeMap;

use serde::de::{Deserialize, Deserializer};

use crate::fields;

/// Board key -> JSON name, for every key the Esplora sketch sends (`n`, the
/// line counter, is not a reading and is never published). Sorted by key,
/// for `binary_search_by_key`.
const DEFAULTS: [(&str, &str); 11] = [
    ("b", "buttons"),
    ("j", "joystick_x"),
    ("k", "joystick_y"),
    ("l", "light"),
    ("m", "microphone"),
    ("s", "slider"),
    ("t", "temperature"),
    ("u", "user"),
    ("x", "accel_x"),
    ("y", "accel_y"),
    ("z", "accel_z"),
];

/// The key -> JSON name mapping: the defaults (`s` -> `slider`, `x` ->
/// `accel_x`, `y` -> `accel_y`, `z` -> `accel_z`, `j` -> `joystick_x`, `k` ->
/// `joystick_y`, `l` -> `light`, `m` -> `microphone`, `t` -> `temperature`,
/// `u` -> `user`, `b` -> `buttons`) with the `[names]` overrides on top.
///
/// In the file, keys are labels as the parser reads them (1 to 32 bytes of
/// UTF-8 with no separator, `:`, `*` or control character) and names are
/// non-empty; two keys may not share a name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Names(BTreeMap<String, String>);

impl Names {
    /// The JSON name of a board key; a key with no mapping keeps its own name.
    pub fn name_of<'a>(&'a self, key: &'a str) -> &'a str {
        if let Some(name) = self.0.get(key) {
            return name;
        }
        match DEFAULTS.binary_search_by_key(&key, |(short, _)| short) {
            Ok(index) => DEFAULTS[index].1,
            Err(_) => key,
        }
    }

    /// Every key with a mapping (default or configured) and its name.
    pub(crate) fn mapped(&self) -> impl Iterator<Item = (&str, &str)> {
        let defaults = DEFAULTS
            .iter()
            .map(|(key, _)| *key)
            .filter(|key| !self.0.contains_key(*key));
        let configured = self.0.keys().map(String::as_str);
        defaults
            .chain(configured)
            .map(|key| (key, self.name_of(key)))
    }

    /// Checks that no two keys are published under one name (the later would
    /// silently overwrite the earlier in every event). Returns the configured
    /// key to blame and why.
    pub(crate) fn find_clash(&self) -> Option<(&str, String)> {
        self.0.iter().find_map(|(key, name)| {
            let other = self
                .mapped()
                .find(|(other, other_name)| other != key && other_name == name)?;
            Some((
                key.as_str(),
                format!(
                    "keys `{key}` and `{}` would both be published as {name:?}",
                    other.0
                ),
            ))
        })
    }
}

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = BTreeMap::<Key, Name>::deserialize(deserializer)?;
        let mut names = Names::default();
        for (Key(key), Name(name)) in table {
            // An override equal to the default is dropped, so that equality
            // means "publishes the same names".
            if names.name_of(&key) != name {
                names.0.insert(key, name);
            }
        }
        Ok(names)
    }
}

/// A `[names]` key; a newtype so that a bad one is reported at the key.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fields::parse_str(deserializer, "a board key", |text| {
            if esplora_parser::is_label(text) {
                Ok(Key(text.to_owned()))
            } else {
                Err(format!(
                    "invalid board key {text:?}: expected a label of 1 to 32 bytes with no space, tab, `,`, `:`, `*` or control character"
                ))
            }
        })
    }
}

/// A `[names]` value; a newtype so that a bad one is reported at the value.
struct Name(String);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fields::parse_str(deserializer, "a JSON field name string", |text| {
            if text.is_empty() {
                Err("a JSON field name must not be empty")
            } else {
                Ok(Name(text.to_owned()))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sorted_for_binary_search() {
        assert!(DEFAULTS.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }

    #[test]
    fn unknown_keys_keep_their_own_name() {
        let names = Names::default();
        assert_eq!(names.name_of("s"), "slider");
        assert_eq!(names.name_of("b"), "buttons");
        assert_eq!(names.name_of("q"), "q");
    }
}
