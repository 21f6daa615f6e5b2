//! The diff stage: which fields of a reading are worth publishing.
//!
//! A field is passed on when it moved by more than its deadband since the
//! value last passed on, so a noisy sensor does not republish its jitter but
//! a slow drift still shows up once it adds up. With deadband 0 every change
//! goes through, which is what makes the final published state equal the
//! last accepted line. A value that turns from integer to decimal or back
//! (`5` then `5.0`) is passed on whatever the deadband, so that the JSON
//! always shows what the board last sent. The diff also names fields for
//! JSON, interning each name once.

use std::collections::BTreeMap;

use esplora_config::Names;
use esplora_parser::Number;

use super::{Name, Values};

/// Distinct fields a board may introduce. Keys come from the board, so
/// without a cap a board sending random keys would grow the state forever.
pub const MAX_FIELDS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the line would raise the number of distinct fields above {MAX_FIELDS}")]
pub struct TooManyFields;

impl TooManyFields {
    /// The metrics label, in the same vocabulary as the parser's reasons.
    pub fn reason(&self) -> &'static str {
        "too_many_fields"
    }
}

struct Field {
    key: Box<str>,
    name: Name,
    deadband: f64,
    /// Deadband 0: every change is passed on.
    exact: bool,
    /// The value last passed on; `None` until the field is first seen.
    passed: Option<Number>,
}

impl Field {
    /// Adds `value` to `changes` if it moved far enough from the value last
    /// passed on; `names_unique` says whether it can be appended without a
    /// search.
    fn pass(&mut self, value: Number, names_unique: bool, changes: &mut Values) {
        let moved = match (self.passed, value) {
            // The board's usual case, without converting to f64.
            (Some(Number::Int(passed)), Number::Int(value)) if self.exact => passed != value,
            (Some(passed), value) => moved(passed, value, self.deadband),
            (None, _) => true,
        };
        if moved {
            self.passed = Some(value);
            if names_unique {
                changes.push_new(self.name, value);
            } else {
                changes.set(self.name, value);
            }
        }
    }
}

pub struct Diff {
    fields: Vec<Field>,
    /// Whether every field has a name of its own. Two keys can share a name
    /// (a board key `slider` beside `s`, which is published as `slider`);
    /// until that happens, a line's changes need no search for duplicates.
    names_unique: bool,
    names: Names,
    deadbands: BTreeMap<String, f64>,
}

impl Diff {
    /// `deadbands` is keyed by JSON name, as the config's `[fields."NAME"]`.
    pub fn new(names: Names, deadbands: BTreeMap<String, f64>) -> Self {
        Diff {
            fields: Vec::new(),
            names_unique: true,
            names,
            deadbands,
        }
    }

    /// Adds to `changes` every field of the reading that moved by more than
    /// its deadband. A reading that would bring in too many new fields is
    /// refused whole, so that no half of it is published.
    pub fn apply(
        &mut self,
        reading: &[(&str, Number)],
        changes: &mut Values,
    ) -> Result<(), TooManyFields> {
        // A board sends the same keys in the same order on every line, so
        // field `i` of the reading is nearly always tracked field `i`: one
        // comparison instead of a search, and no new fields to count.
        let same_layout = reading.len() <= self.fields.len()
            && reading
                .iter()
                .zip(&self.fields)
                .all(|((key, _), field)| *key == &*field.key);
        let names_unique = self.names_unique;
        if same_layout {
            for (&(_, value), field) in reading.iter().zip(&mut self.fields) {
                field.pass(value, names_unique, changes);
            }
            return Ok(());
        }
        let new = reading
            .iter()
            .filter(|(key, _)| self.position(key).is_none())
            .count();
        if self.fields.len() + new > MAX_FIELDS {
            return Err(TooManyFields);
        }
        for &(key, value) in reading {
            let index = match self.position(key) {
                Some(index) => index,
                None => self.add(key),
            };
            let names_unique = self.names_unique;
            self.fields[index].pass(value, names_unique, changes);
        }
        Ok(())
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.fields.iter().position(|f| &*f.key == key)
    }

    fn add(&mut self, key: &str) -> usize {
        let name = self.names.name_of(key);
        self.names_unique &= self.fields.iter().all(|field| &*field.name != name);
        let deadband = self.deadbands.get(name).copied().unwrap_or(0.0);
        self.fields.push(Field {
            key: key.into(),
            deadband,
            exact: deadband == 0.0,
            name: Name::from(name),
            passed: None,
        });
        self.fields.len() - 1
    }
}

/// Whether `value` is far enough from `passed` to be passed on.
fn moved(passed: Number, value: Number, deadband: f64) -> bool {
    match (passed, value) {
        // The board's usual case, exact up to 2^53 apart.
        (Number::Int(passed), Number::Int(value)) => passed.abs_diff(value) as f64 > deadband,
        _ => !passed.same_kind(value) || passed.distance(value) > deadband,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(deadbands: &[(&str, f64)]) -> Diff {
        let deadbands = deadbands.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Diff::new(Names::default(), deadbands)
    }

    fn apply(diff: &mut Diff, reading: &[(&str, i64)]) -> String {
        let reading: Vec<(&str, Number)> = reading
            .iter()
            .map(|&(key, value)| (key, Number::Int(value)))
            .collect();
        apply_numbers(diff, &reading)
    }

    fn apply_numbers(diff: &mut Diff, reading: &[(&str, Number)]) -> String {
        let mut changes = Values::new();
        diff.apply(reading, &mut changes).unwrap();
        serde_json::to_string(&changes).unwrap()
    }

    #[test]
    fn names_fields_and_passes_only_changes() {
        let mut d = diff(&[]);
        assert_eq!(
            apply(&mut d, &[("s", 1), ("x", 2), ("q", 3)]),
            r#"{"slider":1,"accel_x":2,"q":3}"#
        );
        assert_eq!(
            apply(&mut d, &[("s", 1), ("x", 5), ("q", 3)]),
            r#"{"accel_x":5}"#
        );
        assert_eq!(apply(&mut d, &[("s", 1), ("x", 5), ("q", 3)]), "{}");
    }

    #[test]
    fn deadband_holds_back_jitter_but_not_drift() {
        let mut d = diff(&[("accel_x", 2.0)]);
        assert_eq!(apply(&mut d, &[("x", 10)]), r#"{"accel_x":10}"#);
        assert_eq!(apply(&mut d, &[("x", 12)]), "{}");
        assert_eq!(apply(&mut d, &[("x", 8)]), "{}");
        // Measured from 10, the value last passed on, not from 8.
        assert_eq!(apply(&mut d, &[("x", 13)]), r#"{"accel_x":13}"#);
        assert_eq!(
            apply(&mut d, &[("x", i64::MIN)]),
            r#"{"accel_x":-9223372036854775808}"#
        );
    }

    #[test]
    fn decimal_deadbands_measure_decimals_and_integers() {
        let mut d = diff(&[("temp_C", 0.1), ("light", 2.5)]);
        let t = |value: f64| [("temp_C", Number::Float(value))];
        assert_eq!(apply_numbers(&mut d, &t(23.5)), r#"{"temp_C":23.5}"#);
        assert_eq!(apply_numbers(&mut d, &t(23.55)), "{}");
        assert_eq!(apply_numbers(&mut d, &t(23.65)), r#"{"temp_C":23.65}"#);
        assert_eq!(apply(&mut d, &[("light", 10)]), r#"{"light":10}"#);
        assert_eq!(apply(&mut d, &[("light", 12)]), "{}");
        assert_eq!(apply(&mut d, &[("light", 13)]), r#"{"light":13}"#);
    }

    #[test]
    fn a_change_of_kind_is_passed_on_whatever_the_deadband() {
        let mut d = diff(&[("q", 5.0)]);
        assert_eq!(apply(&mut d, &[("q", 5)]), r#"{"q":5}"#);
        assert_eq!(
            apply_numbers(&mut d, &[("q", Number::Float(5.0))]),
            r#"{"q":5.0}"#
        );
        assert_eq!(apply_numbers(&mut d, &[("q", Number::Float(6.0))]), "{}");
        assert_eq!(apply(&mut d, &[("q", 5)]), r#"{"q":5}"#);
    }

    #[test]
    fn two_keys_with_one_name_publish_it_once() {
        let mut d = diff(&[]);
        assert_eq!(apply(&mut d, &[("s", 1)]), r#"{"slider":1}"#);
        // The board's own key `slider` is published as `slider` too.
        assert_eq!(apply(&mut d, &[("s", 2), ("slider", 3)]), r#"{"slider":3}"#);
    }

    #[test]
    fn too_many_fields_refuses_the_whole_line() {
        let mut d = diff(&[]);
        let keys: Vec<String> = (0..MAX_FIELDS).map(|i| format!("k{i}")).collect();
        let full: Vec<(&str, i64)> = keys.iter().map(|k| (k.as_str(), 1)).collect();
        apply(&mut d, &full);
        let mut changes = Values::new();
        assert_eq!(
            d.apply(
                &[("k0", Number::Int(2)), ("extra", Number::Int(1))],
                &mut changes
            ),
            Err(TooManyFields)
        );
        assert!(changes.is_empty());
        assert_eq!(apply(&mut d, &[("k0", 2)]), r#"{"k0":2}"#);
    }
}
