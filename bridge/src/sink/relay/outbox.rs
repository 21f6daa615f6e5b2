//! The relay's own view of the published state, and the bounded queue of
//! events waiting to be sent: a plain state machine, no I/O, time passed in.
//!
//! The relay does not forward the hub's deltas one for one: it keeps a
//! mirror of the state (values, board, the latest `seq`) and runs the
//! deltas through its own [`Throttle`] at the relay's rate, so what goes out
//! is at most `max_rate_hz` deltas a second, each the merge of everything
//! since the last, latest value winning. A relayed event's `seq` is that of
//! the latest hub event it includes, so a subscriber sees `seq` rise with
//! gaps.
//!
//! Snapshots win over deltas whenever there is a choice, because the
//! mirror makes any delta redundant next to a snapshot:
//!
//! - a hub keyframe (or a resync) does not add an event: it turns the next
//!   event the throttle lets out into a snapshot, which under a tight rate
//!   or budget means keyframes are what gets sent;
//! - queueing a snapshot drops whatever is queued before it;
//! - a full queue is replaced by one snapshot of the mirror;
//! - a snapshot still queued with events behind it (the relay was failing
//!   or slow) is replaced by a fresh one when it is taken.
//!
//! Status events are rare and not throttled: the pending delta goes out
//! first, then the status, so the order of the hub is kept. The first
//! event after a (re)start is always a snapshot, a status included: a
//! subscriber can rebuild the state from the first event it gets after the
//! relay (or the daemon) came back. Everything dropped is counted, by
//! reason.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::split::{self, MAX_DATA};
use crate::hub::{Board, Event, EventKind};
use crate::metrics::Metrics;
use crate::transform::Values;
use crate::transform::throttle::Throttle;

pub struct Outbox {
    /// Every field as last published by the hub.
    values: Values,
    board: Board,
    /// The hub `seq` and time the mirror is at.
    seq: u64,
    ts_ms: u64,
    throttle: Throttle,
    /// The next event out is a snapshot of the mirror.
    keyframe: bool,
    queue: VecDeque<Arc<Event>>,
    capacity: usize,
    metrics: Arc<Metrics>,
}

impl Outbox {
    /// An empty outbox sending at most `max_rate_hz` deltas a second and
    /// queueing at most `capacity` events.
    pub fn new(max_rate_hz: f64, capacity: usize, metrics: Arc<Metrics>) -> Self {
        Outbox {
            values: Values::new(),
            board: Board::Disconnected,
            seq: 0,
            ts_ms: 0,
            throttle: Throttle::new(max_rate_hz),
            keyframe: true,
            queue: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
            metrics,
        }
    }

    /// Changes the rate from the next event on (the budget varies it).
    pub fn set_rate(&mut self, max_rate_hz: f64) {
        self.throttle.set_rate(max_rate_hz);
    }

    /// Takes in one event of the hub.
    pub fn apply(&mut self, event: &Arc<Event>, now: Instant) {
        match event.kind {
            EventKind::Delta => {
                self.values.merge(&event.values);
                self.at(event);
                if let Some(delta) = self.throttle.push(&event.values, now) {
                    self.emit(delta);
                }
            }
            EventKind::Snapshot => {
                self.values = event.values.clone();
                self.board = event.board;
                self.at(event);
                self.keyframe(now);
            }
            EventKind::Status => {
                // What is pending happened before the status.
                self.flush(now);
                self.board = event.board;
                self.at(event);
                if std::mem::take(&mut self.keyframe) {
                    // Nothing went out since the last (re)start: a snapshot,
                    // board included, comes first.
                    self.enqueue(Arc::new(self.snapshot()));
                } else {
                    self.enqueue(Arc::clone(event));
                }
            }
        }
    }

    /// Drops everything queued (counting it under `reason`) and makes the
    /// next event out a snapshot: after a failed publish, or when the hub
    /// went on without the relay.
    pub fn resync(&mut self, reason: &'static str, now: Instant) {
        self.drop_queued(reason);
        self.keyframe(now);
    }

    /// When the throttle lets the pending event out; `None`: nothing pending.
    pub fn due(&self) -> Option<Instant> {
        self.throttle.due()
    }

    /// Lets the pending event out if it is due.
    pub fn tick(&mut self, now: Instant) {
        if self.throttle.due().is_some_and(|due| due <= now) {
            self.flush(now);
        }
    }

    /// Lets the pending event out now, whatever the rate: at the end.
    pub fn flush(&mut self, now: Instant) {
        if let Some(delta) = self.throttle.flush(now) {
            self.emit(delta);
        }
    }

    /// Takes up to `max` queued events, oldest first. A snapshot with
    /// events queued behind it (what a failure or a full queue leaves) is
    /// first replaced by a fresh one: the mirror says the same in one event.
    pub fn take(&mut self, max: usize, now: Instant) -> Vec<Arc<Event>> {
        let backlog = self.queue.len() > 1;
        if backlog
            && self
                .queue
                .front()
                .is_some_and(|e| e.kind == EventKind::Snapshot)
        {
            // The pending delta is in the mirror too; flushing it also
            // restarts the rate's interval from this event.
            self.throttle.flush(now);
            self.keyframe = false;
            self.enqueue(Arc::new(self.snapshot()));
        }
        let n = max.min(self.queue.len());
        self.queue.drain(..n).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Drops everything queued, counting it under `reason`.
    pub fn drop_queued(&mut self, reason: &'static str) {
        self.metrics.relay_dropped(reason, self.queue.len());
        self.queue.clear();
    }

    fn at(&mut self, event: &Event) {
        self.seq = event.seq;
        self.ts_ms = event.ts_ms;
    }

    /// Makes the next event out a snapshot, and puts the whole state through
    /// the throttle so that it goes out at the rate like any other.
    fn keyframe(&mut self, now: Instant) {
        self.keyframe = true;
        let values = self.values.clone();
        if let Some(delta) = self.throttle.push(&values, now) {
            self.emit(delta);
        }
    }

    fn emit(&mut self, delta: Values) {
        let event = if std::mem::take(&mut self.keyframe) {
            self.snapshot()
        } else {
            Event::new(self.seq, EventKind::Delta, self.ts_ms, self.board, delta)
        };
        self.enqueue(Arc::new(event));
    }

    fn snapshot(&self) -> Event {
        Event::new(
            self.seq,
            EventKind::Snapshot,
            self.ts_ms,
            self.board,
            self.values.clone(),
        )
    }

    fn enqueue(&mut self, event: Arc<Event>) {
        if event.kind == EventKind::Snapshot {
            self.drop_queued("superseded");
        } else if self.queue.len() == self.capacity {
            // The mirror already includes this event: one snapshot stands
            // for everything queued.
            self.drop_queued("queue_full");
            self.enqueue(Arc::new(self.snapshot()));
            return;
        }
        let fitted = split::fit(event, MAX_DATA);
        if fitted.events.len() > 1 {
            self.metrics.relay_split();
        }
        self.metrics.relay_dropped("too_large", fitted.refused);
        self.queue.extend(fitted.events);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn delta(seq: u64, pairs: &[(&str, i64)]) -> Arc<Event> {
        Arc::new(Event::new(
            seq,
            EventKind::Delta,
            seq * 10,
            Board::Connected,
            Values::of(pairs),
        ))
    }

    fn snapshot(seq: u64, pairs: &[(&str, i64)]) -> Arc<Event> {
        Arc::new(Event::new(
            seq,
            EventKind::Snapshot,
            seq * 10,
            Board::Connected,
            Values::of(pairs),
        ))
    }

    fn status(seq: u64, board: Board) -> Arc<Event> {
        Arc::new(Event::new(
            seq,
            EventKind::Status,
            seq * 10,
            board,
            Values::new(),
        ))
    }

    fn outbox(capacity: usize) -> Outbox {
        Outbox::new(10.0, capacity, Arc::new(Metrics::new()))
    }

    fn summary(events: &[Arc<Event>]) -> Vec<(EventKind, u64, Values)> {
        events
            .iter()
            .map(|e| (e.kind, e.seq, e.values.clone()))
            .collect()
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn starts_with_a_snapshot_then_merges_deltas_at_its_rate() {
        let mut out = outbox(16);
        let t = Instant::now();
        out.apply(&snapshot(1, &[("a", 1), ("b", 1)]), t);
        out.apply(&delta(2, &[("a", 2)]), t + MS);
        out.apply(&delta(3, &[("a", 3), ("b", 2)]), t + 2 * MS);
        assert_eq!(out.due(), Some(t + 100 * MS));
        out.tick(t + 50 * MS);
        assert_eq!(
            summary(&out.take(10, t + 1000 * MS)),
            [(EventKind::Snapshot, 1, Values::of(&[("a", 1), ("b", 1)]))]
        );
        out.tick(t + 100 * MS);
        assert_eq!(
            summary(&out.take(10, t + 1000 * MS)),
            [(EventKind::Delta, 3, Values::of(&[("a", 3), ("b", 2)]))]
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_keyframe_turns_the_pending_delta_into_a_snapshot() {
        let mut out = outbox(16);
        let t = Instant::now();
        out.apply(&snapshot(1, &[("a", 1)]), t);
        out.take(10, t + 1000 * MS);
        out.apply(&delta(2, &[("b", 5)]), t + MS);
        out.apply(&snapshot(3, &[("a", 1), ("b", 5)]), t + 2 * MS);
        out.apply(&delta(4, &[("a", 9)]), t + 3 * MS);
        out.tick(t + 100 * MS);
        assert_eq!(
            summary(&out.take(10, t + 1000 * MS)),
            [(EventKind::Snapshot, 4, Values::of(&[("a", 9), ("b", 5)]))]
        );
    }

    #[test]
    fn a_status_goes_out_at_once_after_what_was_pending() {
        let mut out = outbox(16);
        let t = Instant::now();
        out.apply(&snapshot(1, &[("a", 1)]), t);
        out.take(10, t);
        out.apply(&delta(2, &[("a", 2)]), t + MS);
        out.apply(&status(3, Board::Disconnected), t + 2 * MS);
        let sent = out.take(10, t + 2 * MS);
        assert_eq!(
            sent.iter().map(|e| (e.kind, e.seq)).collect::<Vec<_>>(),
            [(EventKind::Delta, 2), (EventKind::Status, 3)]
        );
        assert_eq!(sent[1].board, Board::Disconnected);
        assert_eq!(out.due(), None);
    }

    #[test]
    fn a_status_before_anything_else_goes_out_as_a_snapshot() {
        let mut out = outbox(16);
        let t = Instant::now();
        out.apply(&snapshot(0, &[]), t);
        out.apply(&status(1, Board::Connected), t);
        let sent = out.take(10, t);
        assert_eq!(summary(&sent), [(EventKind::Snapshot, 1, Values::new())]);
        assert_eq!(sent[0].board, Board::Connected);
        out.apply(&delta(2, &[("a", 1)]), t + MS);
        assert_eq!(
            summary(&out.take(10, t + MS)),
            [(EventKind::Delta, 2, Values::of(&[("a", 1)]))]
        );
    }

    #[test]
    fn a_full_queue_becomes_one_snapshot_and_the_drops_are_counted() {
        let metrics = Arc::new(Metrics::new());
        let mut out = Outbox::new(1000.0, 3, Arc::clone(&metrics));
        let t = Instant::now();
        out.apply(&snapshot(1, &[("a", 0)]), t);
        // The fourth event finds three queued.
        for seq in 2..=4 {
            out.apply(&delta(seq, &[("a", seq as i64)]), t + 10 * seq as u32 * MS);
        }
        assert_eq!(
            summary(&out.take(10, t + 1000 * MS)),
            [(EventKind::Snapshot, 4, Values::of(&[("a", 4)]))]
        );
        let text = metrics.encode();
        assert!(
            text.contains("esplora_relay_events_dropped_total{reason=\"queue_full\"} 3"),
            "{text}"
        );
    }

    #[test]
    fn a_resync_drops_the_queue_and_sends_the_whole_state_next() {
        let metrics = Arc::new(Metrics::new());
        let mut out = Outbox::new(10.0, 16, Arc::clone(&metrics));
        let t = Instant::now();
        out.apply(&snapshot(1, &[("a", 1), ("b", 1)]), t);
        out.apply(&delta(2, &[("a", 2)]), t + MS);
        out.tick(t + 100 * MS);
        out.apply(&delta(3, &[("b", 3)]), t + 101 * MS);
        out.resync("failed", t + 150 * MS);
        assert!(out.is_empty());
        out.tick(t + 200 * MS);
        assert_eq!(
            summary(&out.take(10, t + 1000 * MS)),
            [(EventKind::Snapshot, 3, Values::of(&[("a", 2), ("b", 3)]))]
        );
        assert!(
            metrics
                .encode()
                .contains("esplora_relay_events_dropped_total{reason=\"failed\"} 2")
        );
    }

    #[test]
    fn flush_lets_the_trailing_delta_out_regardless_of_the_rate() {
        let mut out = outbox(16);
        let t = Instant::now();
        out.apply(&snapshot(1, &[("a", 1)]), t);
        out.take(10, t);
        out.apply(&delta(2, &[("a", 2)]), t + MS);
        out.flush(t + 2 * MS);
        assert_eq!(
            summary(&out.take(10, t + 2 * MS)),
            [(EventKind::Delta, 2, Values::of(&[("a", 2)]))]
        );
        assert_eq!(out.due(), None);
    }

    #[test]
    fn a_snapshot_with_a_backlog_behind_it_is_sent_fresh_instead() {
        let metrics = Arc::new(Metrics::new());
        let mut out = Outbox::new(10.0, 16, Arc::clone(&metrics));
        let t = Instant::now();
        out.apply(&snapshot(1, &[("a", 1), ("b", 1)]), t);
        out.apply(&delta(2, &[("a", 2)]), t + 100 * MS);
        out.apply(&delta(3, &[("b", 3)]), t + 200 * MS);
        out.apply(&delta(4, &[("a", 4)]), t + 250 * MS);
        assert_eq!(
            summary(&out.take(10, t + 260 * MS)),
            [(EventKind::Snapshot, 4, Values::of(&[("a", 4), ("b", 3)]))]
        );
        assert!(
            metrics
                .encode()
                .contains("esplora_relay_events_dropped_total{reason=\"superseded\"} 3")
        );
        // The rate's interval starts again from the fresh snapshot.
        out.apply(&delta(5, &[("a", 5)]), t + 300 * MS);
        assert_eq!(out.due(), Some(t + 360 * MS));
    }
}
