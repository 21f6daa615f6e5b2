//! [`Values`]: named readings, as they travel from the transforms to the hub.
//!
//! Each value is a [`Number`], so that an integer the board sent is an
//! integer in every event (`512`, never `512.0`) and a decimal keeps its
//! point (`41.0`), on every transport and in the relay's events.

use std::sync::Arc;

use esplora_parser::Number;
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Field name → value, in the order the fields first appeared.
///
/// A board sends about a dozen fields, so a vector with a linear search beats
/// a map here, and it keeps the board's field order in the JSON for free.
/// Names are shared `Arc<str>`s: the diff interns each one once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Values(Vec<(Arc<str>, Number)>);

impl Values {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets one field, replacing its old value or appending it.
    pub fn set(&mut self, name: &Arc<str>, value: impl Into<Number>) {
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((Arc::clone(name), value)),
        }
    }

    /// Appends a field that is known not to be here yet: the diff's fast
    /// path, which knows every name it emits is distinct.
    pub(super) fn push_new(&mut self, name: &Arc<str>, value: Number) {
        debug_assert!(self.get(name).is_none(), "{name} is already set");
        self.0.push((Arc::clone(name), value));
    }

    /// Applies every field of `other` on top of these.
    pub fn merge(&mut self, other: &Values) {
        for (name, value) in &other.0 {
            self.set(name, *value);
        }
    }

    pub fn get(&self, name: &str) -> Option<Number> {
        self.0.iter().find(|(n, _)| &**n == name).map(|(_, v)| *v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Number)> {
        self.0.iter().map(|(n, v)| (&**n, *v))
    }

    /// As [`Values::iter`], with the shared names, for keeping them.
    pub fn named(&self) -> impl Iterator<Item = (&Arc<str>, Number)> {
        self.0.iter().map(|(n, v)| (n, *v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Values from literal pairs, for tests.
    #[cfg(test)]
    pub(crate) fn of(pairs: &[(&str, i64)]) -> Values {
        let mut values = Values::new();
        for (name, value) in pairs {
            values.set(&Arc::from(*name), *value);
        }
        values
    }
}

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            match value {
                Number::Int(value) => map.serialize_entry(&**name, value)?,
                Number::Float(value) => map.serialize_entry(&**name, value)?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_in_place_and_merge_overlays() {
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        let mut values = Values::new();
        values.set(&a, 1);
        values.set(&b, 2);
        values.set(&a, 3);
        let mut later = Values::new();
        later.set(&c, 4);
        later.set(&b, 5);
        values.merge(&later);
        assert_eq!(
            serde_json::to_string(&values).unwrap(),
            r#"{"a":3,"b":5,"c":4}"#
        );
        assert_eq!(values.get("b"), Some(Number::Int(5)));
        assert_eq!(values.get("zz"), None);
    }

    #[test]
    fn integers_stay_integers_and_decimals_keep_their_point() {
        let mut values = Values::new();
        values.set(&Arc::from("light"), 512);
        values.set(&Arc::from("temp_C"), 23.5);
        values.set(&Arc::from("hum_%"), 41.0);
        values.set(&Arc::from("big"), i64::MAX);
        assert_eq!(
            serde_json::to_string(&values).unwrap(),
            r#"{"light":512,"temp_C":23.5,"hum_%":41.0,"big":9223372036854775807}"#
        );
    }
}
