//! Pusher's cap on an event's `data` (10 KB): an event over it is split by
//! fields into several that fit, and a field that fits in none is refused.
//!
//! A board's dozen fields encode to a few hundred bytes, so splitting only
//! ever happens to the state of a board that keeps inventing field names.
//! The first part keeps the event's kind and the rest are deltas with the
//! same `seq`: a subscriber that applies them in order, as it applies
//! everything, ends with the whole state.

use std::sync::Arc;

use crate::hub::{Event, EventKind};
use crate::transform::Values;

/// Pusher's limit on an event's `data`, in bytes.
pub const MAX_DATA: usize = 10 * 1024;

/// What [`fit`] made of an event.
#[derive(Debug)]
pub struct Fitted {
    /// The events to send, in order: the event itself when it fits.
    pub events: Vec<Arc<Event>>,
    /// Fields that did not fit even alone, and are not sent.
    pub refused: usize,
}

/// Splits `event` into events whose JSON is at most `limit` bytes.
pub fn fit(event: Arc<Event>, limit: usize) -> Fitted {
    if event.json.len() <= limit {
        return Fitted {
            events: vec![event],
            refused: 0,
        };
    }
    // Greedy by each field's own JSON size; the envelope (type, seq, ts_ms,
    // board) is measured once from an event without fields.
    let envelope = Event::new(
        event.seq,
        event.kind,
        event.ts_ms,
        event.board,
        Values::new(),
    );
    let room = limit.saturating_sub(envelope.json.len());
    let mut parts = Vec::new();
    let mut part = Values::new();
    let mut used = 0;
    for (name, value) in event.values.iter() {
        // "name":value, with its comma.
        let size = name.len() + value.to_string().len() + 4;
        if used + size > room && !part.is_empty() {
            parts.push(std::mem::take(&mut part));
            used = 0;
        }
        part.set(name, value);
        used += size;
    }
    parts.push(part);

    let mut fitted = Fitted {
        events: Vec::new(),
        refused: 0,
    };
    for values in parts {
        let kind = if fitted.events.is_empty() {
            event.kind
        } else {
            EventKind::Delta
        };
        let count = values.len();
        let part = Event::new(event.seq, kind, event.ts_ms, event.board, values);
        if part.json.len() <= limit {
            fitted.events.push(Arc::new(part));
        } else {
            fitted.refused += count;
        }
    }
    fitted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Board;
    use crate::transform::Name;

    fn event(kind: EventKind, fields: usize) -> Arc<Event> {
        let mut values = Values::new();
        for i in 0..fields {
            values.set(
                Name::from(format!("field_{i:04}").as_str()),
                i64::try_from(i).unwrap(),
            );
        }
        Arc::new(Event::new(7, kind, 1_000, Board::Connected, values))
    }

    #[test]
    fn an_event_that_fits_is_left_alone() {
        let small = event(EventKind::Delta, 11);
        let fitted = fit(Arc::clone(&small), MAX_DATA);
        assert_eq!(fitted.refused, 0);
        assert_eq!(fitted.events.len(), 1);
        assert!(Arc::ptr_eq(&fitted.events[0], &small));
    }

    #[test]
    fn a_big_snapshot_becomes_a_snapshot_then_deltas_that_rebuild_it() {
        let big = event(EventKind::Snapshot, 1000);
        assert!(big.json.len() > MAX_DATA);
        let fitted = fit(Arc::clone(&big), MAX_DATA);
        assert_eq!(fitted.refused, 0);
        assert!(fitted.events.len() >= 2);
        assert_eq!(fitted.events[0].kind, EventKind::Snapshot);
        let mut rebuilt = Values::new();
        for part in &fitted.events {
            assert!(part.json.len() <= MAX_DATA, "{} bytes", part.json.len());
            assert_eq!(part.seq, 7);
            rebuilt.merge(&part.values);
        }
        assert!(
            fitted.events[1..]
                .iter()
                .all(|e| e.kind == EventKind::Delta)
        );
        assert_eq!(rebuilt, big.values);
    }

    #[test]
    fn decimals_and_integers_split_and_rebuild_unchanged() {
        let mut values = Values::new();
        for i in 0..600u32 {
            let name = Name::from(format!("temp_{i:03}").as_str());
            if i % 2 == 0 {
                values.set(name, f64::from(i) + 0.25);
            } else {
                values.set(name, i64::from(i) * 1_000_000_007);
            }
        }
        let big = Arc::new(Event::new(
            9,
            EventKind::Snapshot,
            1,
            Board::Connected,
            values,
        ));
        assert!(big.json.len() > MAX_DATA);
        let fitted = fit(Arc::clone(&big), MAX_DATA);
        assert_eq!(fitted.refused, 0);
        let mut rebuilt = serde_json::Map::new();
        for part in &fitted.events {
            assert!(part.json.len() <= MAX_DATA, "{} bytes", part.json.len());
            let json: serde_json::Value = serde_json::from_slice(&part.json).unwrap();
            rebuilt.extend(json["values"].as_object().unwrap().clone());
        }
        let whole: serde_json::Value = serde_json::from_slice(&big.json).unwrap();
        assert_eq!(serde_json::Value::Object(rebuilt), whole["values"]);
        assert_eq!(whole["values"]["temp_000"].as_f64(), Some(0.25));
        assert!(whole["values"]["temp_001"].is_i64());
    }

    #[test]
    fn a_field_too_big_for_any_event_is_refused() {
        let mut values = Values::new();
        values.set(Name::from("ok"), 1);
        values.set(Name::from("x".repeat(200).as_str()), 2);
        let odd = Arc::new(Event::new(3, EventKind::Delta, 1, Board::Connected, values));
        let fitted = fit(odd, 150);
        assert_eq!(fitted.refused, 1);
        assert_eq!(fitted.events.len(), 1);
        assert_eq!(
            fitted.events[0].values.get("ok"),
            Some(esplora_parser::Number::Int(1))
        );
    }
}
