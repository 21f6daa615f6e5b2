//! A sink's outbox: its own mirror of the published state, its throttle,
//! and the one update waiting to go out. A plain state machine: no I/O,
//! time passed in.
//!
//! Sinks publish *state*, not the hub's event stream: a Pusher message or
//! an MQTT publish costs the same whether it carries one field or all of
//! them, and a subscriber that joins late (or a retained topic) must show
//! the whole state at once. So the outbox keeps a mirror (values, board,
//! the latest `seq`) and hands out [`Update`]s, each the whole state plus
//! the fields changed since the last one:
//!
//! - **Latest state wins, bounded.** At most one update waits. What the
//!   throttle lets out while the sink is busy (a request in flight, a
//!   broker down) is merged into it, so a slow destination gets the latest
//!   state rather than a backlog; how many updates were merged away is
//!   counted ([`Outbox::superseded`]).
//! - **At the sink's rate.** Changes go through a
//!   [`Throttle`](crate::transform::throttle::Throttle) at `max_rate_hz`:
//!   changes that come too soon wait, merged, for the next interval, and
//!   the trailing value is never lost. A board status change is not
//!   throttled: it goes out at once, after what was pending.
//! - **A full update after an outage.** After a (re)start, a hub keyframe,
//!   a resync or a failure ([`Outbox::resync`]), the next update is marked
//!   [`Update::full`]: its `changed` is every field, so a sink that
//!   publishes per field republishes them all.
//! - **Nothing before a reading.** No update is handed out while the
//!   mirror has no values: a subscriber's first message always has data.

use std::time::Instant;

use crate::hub::{Board, Event, EventKind};
use crate::transform::Values;
use crate::transform::throttle::Throttle;

/// One publish's worth of state.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The `seq` and time of the latest hub event included.
    pub seq: u64,
    pub ts_ms: u64,
    pub board: Board,
    /// Every field.
    pub values: Values,
    /// The fields changed since the last update (every field when `full`).
    pub changed: Values,
    /// The first update since a (re)start, a keyframe or a failure.
    pub full: bool,
}

pub struct Outbox {
    seq: u64,
    ts_ms: u64,
    board: Board,
    /// Every field as last published by the hub.
    values: Values,
    throttle: Throttle,
    /// What the throttle let out since the last update was taken.
    changed: Values,
    /// An update is waiting to be taken.
    ready: bool,
    /// The next update is full.
    full: bool,
    superseded: u64,
}

impl Outbox {
    /// An empty outbox letting out at most `max_rate_hz` updates a second
    /// (0: no limit).
    pub fn new(max_rate_hz: f64) -> Self {
        Outbox {
            seq: 0,
            ts_ms: 0,
            board: Board::Disconnected,
            values: Values::new(),
            throttle: Throttle::new(max_rate_hz),
            changed: Values::new(),
            ready: false,
            full: true,
            superseded: 0,
        }
    }

    /// Changes the rate from the next update on (a budget varies it).
    pub fn set_rate(&mut self, max_rate_hz: f64) {
        self.throttle.set_rate(max_rate_hz);
    }

    /// Takes in one event of the hub.
    pub fn apply(&mut self, event: &Event, now: Instant) {
        self.seq = event.seq;
        self.ts_ms = event.ts_ms;
        match event.kind {
            EventKind::Delta => {
                self.values.merge(&event.values);
                if let Some(delta) = self.throttle.push(&event.values, now) {
                    self.emit(&delta);
                }
            }
            EventKind::Snapshot => {
                self.values = event.values.clone();
                self.board = event.board;
                self.resync(now);
            }
            EventKind::Status => {
                // What is pending happened before the status.
                self.flush(now);
                self.board = event.board;
                self.emit(&Values::new());
            }
        }
    }

    /// Makes the next update full, and puts the whole state through the
    /// throttle so that it goes out at the rate like any other: at start,
    /// on a keyframe, after falling behind or after a failed publish.
    pub fn resync(&mut self, now: Instant) {
        self.full = true;
        let values = self.values.clone();
        match self.throttle.push(&values, now) {
            Some(delta) => self.emit(&delta),
            // A status alone (no values yet) still has to go out.
            None if self.throttle.due().is_none() => self.emit(&Values::new()),
            None => {}
        }
    }

    /// When the throttle lets the pending changes out; `None`: nothing
    /// pending.
    pub fn due(&self) -> Option<Instant> {
        self.throttle.due()
    }

    /// Lets the pending changes out if they are due.
    pub fn tick(&mut self, now: Instant) {
        if self.throttle.due().is_some_and(|due| due <= now) {
            self.flush(now);
        }
    }

    /// Lets the pending changes out now, whatever the rate: at the end.
    pub fn flush(&mut self, now: Instant) {
        if let Some(delta) = self.throttle.flush(now) {
            self.emit(&delta);
        }
    }

    /// The board's state as of the latest event, whether or not an update
    /// is waiting.
    pub fn board(&self) -> Board {
        self.board
    }

    /// Whether an update is waiting (and there is a reading to send).
    pub fn ready(&self) -> bool {
        self.ready && !self.values.is_empty()
    }

    /// The waiting update, if any.
    pub fn take(&mut self) -> Option<Update> {
        if !self.ready() {
            return None;
        }
        self.ready = false;
        let full = std::mem::take(&mut self.full);
        let changed = std::mem::take(&mut self.changed);
        Some(Update {
            seq: self.seq,
            ts_ms: self.ts_ms,
            board: self.board,
            values: self.values.clone(),
            changed: if full { self.values.clone() } else { changed },
            full,
        })
    }

    /// Drops the waiting update (the sink gave up on sending it); returns
    /// whether there was one.
    pub fn discard(&mut self) -> bool {
        std::mem::take(&mut self.ready) && !self.values.is_empty()
    }

    /// Updates merged into a later one before they were taken, since the
    /// last call.
    pub fn superseded(&mut self) -> u64 {
        std::mem::take(&mut self.superseded)
    }

    fn emit(&mut self, delta: &Values) {
        if self.ready && !self.values.is_empty() {
            self.superseded += 1;
        }
        self.changed.merge(delta);
        self.ready = true;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn delta(seq: u64, pairs: &[(&str, i64)]) -> Event {
        Event::new(
            seq,
            EventKind::Delta,
            seq * 10,
            Board::Connected,
            Values::of(pairs),
        )
    }

    fn snapshot(seq: u64, board: Board, pairs: &[(&str, i64)]) -> Event {
        Event::new(seq, EventKind::Snapshot, seq * 10, board, Values::of(pairs))
    }

    fn status(seq: u64, board: Board) -> Event {
        Event::new(seq, EventKind::Status, seq * 10, board, Values::new())
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn nothing_goes_out_before_a_reading() {
        let mut out = Outbox::new(10.0);
        let t = Instant::now();
        out.apply(&snapshot(0, Board::Disconnected, &[]), t);
        out.apply(&status(1, Board::Connected), t + MS);
        assert!(!out.ready());
        assert_eq!(out.take(), None);
        out.apply(&delta(2, &[("a", 1)]), t + 2 * MS);
        let update = out.take().expect("an update once there is a reading");
        assert_eq!(update.seq, 2);
        assert_eq!(update.board, Board::Connected);
        assert_eq!(update.values, Values::of(&[("a", 1)]));
        assert!(update.full);
    }

    #[test]
    fn every_update_carries_the_whole_state_and_what_changed() {
        let mut out = Outbox::new(10.0);
        let t = Instant::now();
        out.apply(&snapshot(1, Board::Connected, &[("a", 1), ("b", 1)]), t);
        let first = out.take().unwrap();
        assert!(first.full);
        assert_eq!(first.changed, Values::of(&[("a", 1), ("b", 1)]));
        out.apply(&delta(2, &[("a", 2)]), t + MS);
        out.apply(&delta(3, &[("a", 3)]), t + 2 * MS);
        assert_eq!(out.take(), None, "the rate holds them back");
        assert_eq!(out.due(), Some(t + 100 * MS));
        out.tick(t + 100 * MS);
        let next = out.take().unwrap();
        assert_eq!(next.seq, 3);
        assert!(!next.full);
        assert_eq!(next.values, Values::of(&[("a", 3), ("b", 1)]));
        assert_eq!(next.changed, Values::of(&[("a", 3)]));
    }

    #[test]
    fn while_the_sink_is_busy_the_latest_state_wins() {
        let mut out = Outbox::new(0.0);
        let t = Instant::now();
        out.apply(&snapshot(1, Board::Connected, &[("a", 1), ("b", 1)]), t);
        out.take();
        for seq in 2..=5 {
            out.apply(&delta(seq, &[("a", seq as i64)]), t);
        }
        out.apply(&delta(6, &[("b", 6)]), t);
        let update = out.take().unwrap();
        assert_eq!(update.seq, 6);
        assert_eq!(update.changed, Values::of(&[("a", 5), ("b", 6)]));
        assert_eq!(out.superseded(), 4);
        assert_eq!(out.superseded(), 0);
    }

    #[test]
    fn a_status_goes_out_at_once_with_what_was_pending() {
        let mut out = Outbox::new(10.0);
        let t = Instant::now();
        out.apply(&snapshot(1, Board::Connected, &[("a", 1)]), t);
        out.take();
        out.apply(&delta(2, &[("a", 2)]), t + MS);
        out.apply(&status(3, Board::Disconnected), t + 2 * MS);
        let update = out.take().unwrap();
        assert_eq!(
            (update.seq, update.board, update.values),
            (3, Board::Disconnected, Values::of(&[("a", 2)]))
        );
        assert_eq!(out.due(), None);
    }

    #[test]
    fn after_a_resync_the_next_update_is_full_and_goes_out_at_the_rate() {
        let mut out = Outbox::new(10.0);
        let t = Instant::now();
        out.apply(&snapshot(1, Board::Connected, &[("a", 1), ("b", 1)]), t);
        out.take();
        out.apply(&delta(2, &[("a", 2)]), t + 50 * MS);
        out.resync(t + 60 * MS);
        assert_eq!(out.take(), None);
        out.tick(t + 100 * MS);
        let update = out.take().unwrap();
        assert!(update.full);
        assert_eq!(update.changed, Values::of(&[("a", 2), ("b", 1)]));
    }

    #[test]
    fn flush_lets_the_trailing_changes_out_regardless_of_the_rate() {
        let mut out = Outbox::new(10.0);
        let t = Instant::now();
        out.apply(&snapshot(1, Board::Connected, &[("a", 1)]), t);
        out.take();
        out.apply(&delta(2, &[("a", 2)]), t + MS);
        out.flush(t + 2 * MS);
        assert_eq!(out.take().unwrap().values, Values::of(&[("a", 2)]));
        assert_eq!(out.due(), None);
        assert!(!out.discard());
    }
}
