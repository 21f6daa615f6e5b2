//! The hub owns the published state and fans it out to local clients.
//!
//! Every event gets the next `seq`, is encoded to JSON once, kept in a
//! bounded history ring (for `Last-Event-ID` and long-poll resume), and sent
//! on a [`broadcast`] channel whose receivers are the consumers: the HTTP
//! fan-out's shards (one receiver for many streaming clients), long polls
//! and the sinks. The broadcast ring is each receiver's queue: a receiver
//! that falls too far behind sees `Lagged` rather than slowing the sender,
//! and its clients are resynced with a fresh snapshot. One mutex guards
//! seq, state and history together so that a client's start and its
//! receiver always agree on where it starts.
//!
//! # Seq across restarts
//!
//! `seq` rises by one for every event, and a client resumes after the last
//! one it got. A position from an earlier run of the daemon must not be
//! taken as one of this run (it would get this run's deltas on top of
//! stale values), so the first seq of a run is the time the run started,
//! in microseconds since the Unix epoch (about 1.8e15 today, well inside
//! the 2^53 that a JavaScript number holds exactly). An earlier run's
//! positions are then all below this run's first seq, and a position below
//! the history, like one above the latest seq (never published), is
//! answered with a snapshot. That holds as long as a run publishes fewer
//! than one event per microsecond on average (it publishes at most a few
//! thousand a second), and the wall clock does not step back between two
//! runs by more than the earlier run lasted. Clients see a plain integer
//! and need nothing new.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::metrics::Metrics;
use crate::transform::Values;

/// How many events a client may fall behind before it is resynced.
const CLIENT_QUEUE: usize = 256;

/// Whether a board is feeding the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Board {
    Connected,
    Disconnected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Snapshot,
    Delta,
    Status,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Snapshot => "snapshot",
            EventKind::Delta => "delta",
            EventKind::Status => "status",
        }
    }
}

/// One event, encoded once and shared by every client that sends it.
#[derive(Debug)]
pub struct Event {
    pub seq: u64,
    pub kind: EventKind,
    pub ts_ms: u64,
    /// The board's state as of this event.
    pub board: Board,
    /// The fields the event carries, decoded, for a sink that merges events
    /// rather than forwarding their JSON: the changed ones for a delta,
    /// every one for a snapshot, none for a status.
    pub values: Values,
    pub json: Bytes,
}

impl Event {
    /// An event, encoded to the interface's JSON.
    pub fn new(seq: u64, kind: EventKind, ts_ms: u64, board: Board, values: Values) -> Self {
        let json = to_json(&Wire {
            kind,
            seq,
            ts_ms,
            board: matches!(kind, EventKind::Snapshot | EventKind::Status).then_some(board),
            values: (kind != EventKind::Status).then_some(&values),
        });
        Event {
            seq,
            kind,
            ts_ms,
            board,
            values,
            json,
        }
    }
}

/// The JSON shape of an event, as the interface defines it.
#[derive(Serialize)]
struct Wire<'a> {
    #[serde(rename = "type")]
    kind: EventKind,
    seq: u64,
    ts_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    board: Option<Board>,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<&'a Values>,
}

/// The JSON shape of `GET /api/latest`.
#[derive(Serialize)]
struct Latest<'a> {
    seq: u64,
    ts_ms: u64,
    board: Board,
    values: &'a Values,
}

struct State {
    /// The seq of the last event published; before the first, the one
    /// before it (see "Seq across restarts").
    seq: u64,
    /// When the last event was published, in ms since the Unix epoch.
    ts_ms: u64,
    board: Board,
    /// Every field as last published.
    values: Values,
    history: VecDeque<Arc<Event>>,
}

impl State {
    /// The whole state as an event, with the seq of the last one published.
    fn snapshot(&self) -> Arc<Event> {
        Arc::new(Event::new(
            self.seq,
            EventKind::Snapshot,
            now_ms(),
            self.board,
            self.values.clone(),
        ))
    }

    /// What a streaming client starts with: every event after `since`
    /// while the history holds them all, else (and with no `since`) a fresh
    /// snapshot.
    fn start(&self, since: Option<u64>) -> Vec<Arc<Event>> {
        since
            .and_then(|seq| self.since(seq))
            .unwrap_or_else(|| vec![self.snapshot()])
    }

    fn since(&self, seq: u64) -> Option<Vec<Arc<Event>>> {
        if seq >= self.seq {
            return (seq == self.seq).then(Vec::new);
        }
        let oldest = self.history.front()?.seq;
        if seq + 1 < oldest {
            return None;
        }
        let skip = usize::try_from(seq + 1 - oldest).ok()?;
        Some(self.history.iter().skip(skip).cloned().collect())
    }
}

pub struct Hub {
    state: Mutex<State>,
    history_len: usize,
    tx: broadcast::Sender<Arc<Event>>,
    metrics: Arc<Metrics>,
}

/// What a new client starts from: the state as of `snapshot.seq`, and a
/// receiver for every event after it.
pub struct Subscription {
    pub snapshot: Arc<Event>,
    pub events: broadcast::Receiver<Arc<Event>>,
}

/// What a streaming client is sent: `first`, then what `events` receives.
pub struct Follow {
    pub first: Vec<Arc<Event>>,
    pub events: broadcast::Receiver<Arc<Event>>,
}

impl Hub {
    /// A hub that keeps the last `history_len` events for resume, and whose
    /// first event's seq is now, in microseconds since the Unix epoch.
    pub fn new(history_len: usize, metrics: Arc<Metrics>) -> Self {
        let (tx, _) = broadcast::channel(CLIENT_QUEUE);
        Hub {
            state: Mutex::new(State {
                seq: first_seq() - 1,
                ts_ms: 0,
                board: Board::Disconnected,
                values: Values::new(),
                history: VecDeque::with_capacity(history_len.min(4096)),
            }),
            history_len: history_len.max(1),
            tx,
            metrics,
        }
    }

    /// Publishes the fields that changed. An empty delta publishes nothing.
    pub fn publish_delta(&self, delta: &Values) {
        if delta.is_empty() {
            return;
        }
        let mut state = self.lock();
        state.values.merge(delta);
        self.publish(&mut state, EventKind::Delta, delta.clone());
    }

    /// Publishes the whole state: the keyframe that lets a late subscriber of
    /// the relay, or a reader of the history, start from scratch.
    pub fn publish_snapshot(&self) {
        let mut state = self.lock();
        let values = state.values.clone();
        self.publish(&mut state, EventKind::Snapshot, values);
    }

    /// Records the board's state, publishing a status event when it changed.
    pub fn set_board(&self, board: Board) {
        let mut state = self.lock();
        if state.board != board {
            state.board = board;
            self.publish(&mut state, EventKind::Status, Values::new());
        }
    }

    /// The body of `GET /api/latest`.
    pub fn latest_json(&self) -> Bytes {
        let state = self.lock();
        to_json(&Latest {
            seq: state.seq,
            ts_ms: state.ts_ms,
            board: state.board,
            values: &state.values,
        })
    }

    /// A snapshot of the current state and a receiver for what follows it.
    pub fn subscribe(&self) -> Subscription {
        let state = self.lock();
        Subscription {
            snapshot: state.snapshot(),
            events: self.tx.subscribe(),
        }
    }

    /// Where a streaming client starts: after `since` when every event
    /// after it is still in the history, else (and for a new client, with
    /// no `since`) from a fresh snapshot. Taken under the one lock, so that
    /// nothing is published between the events it starts with and the
    /// receiver's first.
    pub fn follow(&self, since: Option<u64>) -> Follow {
        let state = self.lock();
        Follow {
            first: state.start(since),
            events: self.tx.subscribe(),
        }
    }

    /// What [`Hub::follow`] starts with, for a client that shares a
    /// receiver taken earlier (see [`Hub::receiver`]): it skips what that
    /// receiver gives at or below the last of these events' seqs (`since`
    /// itself when there are none).
    pub fn start(&self, since: Option<u64>) -> Vec<Arc<Event>> {
        self.lock().start(since)
    }

    /// A receiver for every event published from now on.
    pub fn receiver(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Every event after `seq`, or `None` when some of them have already
    /// left the history, or `seq` was never published (a client of an
    /// earlier run of the daemon): the caller then needs a fresh snapshot.
    pub fn events_since(&self, seq: u64) -> Option<Vec<Arc<Event>>> {
        self.lock().since(seq)
    }

    /// Publishes an event carrying `values` (as [`Event::values`] describes).
    fn publish(&self, state: &mut MutexGuard<'_, State>, kind: EventKind, values: Values) {
        state.seq += 1;
        state.ts_ms = now_ms();
        let event = Arc::new(Event::new(
            state.seq,
            kind,
            state.ts_ms,
            state.board,
            values,
        ));
        if state.history.len() == self.history_len {
            state.history.pop_front();
        }
        state.history.push_back(Arc::clone(&event));
        // No receivers is the normal idle case, not an error.
        let _ = self.tx.send(event);
        self.metrics.event_published(kind);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-written
        // in a way that matters more than stopping would, so keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn to_json<T: Serialize>(value: &T) -> Bytes {
    // Serialising these plain structs of integers and strings cannot fail.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// The first seq of a run: its start in microseconds since the Unix epoch
/// (1 if the clock says it is before then).
fn first_seq() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| {
        u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(bytes: &Bytes) -> serde_json::Value {
        serde_json::from_slice(bytes).unwrap()
    }

    /// A hub keeping `history_len` events, and the seq before its first.
    fn hub(history_len: usize) -> (Hub, u64) {
        let hub = Hub::new(history_len, Arc::new(Metrics::new()));
        let before = json(&hub.latest_json())["seq"].as_u64().unwrap();
        (hub, before)
    }

    #[test]
    fn a_run_starts_its_seqs_at_its_start_time_in_microseconds() {
        let earlier = first_seq();
        let (hub, before) = hub(4);
        let first = before + 1;
        assert!(first >= earlier && first <= first_seq(), "{first}");
        // Exact in a JavaScript number for centuries yet.
        assert!(first < 1 << 53);
        hub.publish_delta(&Values::of(&[("a", 1)]));
        // A client of an earlier run is below the history: a snapshot.
        for earlier_position in [1, 11, before - 1] {
            assert!(hub.events_since(earlier_position).is_none());
        }
        assert_eq!(hub.events_since(before).unwrap().len(), 1);
    }

    #[test]
    fn events_carry_consecutive_seqs_across_types() {
        let (hub, before) = hub(16);
        hub.set_board(Board::Connected);
        hub.publish_delta(&Values::of(&[("slider", 1)]));
        hub.publish_delta(&Values::new());
        hub.publish_snapshot();
        hub.set_board(Board::Connected);
        let events = hub.events_since(before).unwrap();
        let seqs: Vec<u64> = events.iter().map(|e| e.seq - before).collect();
        assert_eq!(seqs, [1, 2, 3]);
        let snapshot = json(&events[2].json);
        assert_eq!(snapshot["type"], "snapshot");
        assert_eq!(snapshot["board"], "connected");
        assert_eq!(snapshot["values"]["slider"], 1);
        let delta = json(&events[1].json);
        assert_eq!(delta["type"], "delta");
        assert!(delta.get("board").is_none());
    }

    #[test]
    fn latest_reflects_every_delta() {
        let (hub, before) = hub(16);
        hub.publish_delta(&Values::of(&[("a", 1), ("b", 2)]));
        hub.publish_delta(&Values::of(&[("b", 3)]));
        let latest = json(&hub.latest_json());
        assert_eq!(latest["seq"], before + 2);
        assert_eq!(latest["board"], "disconnected");
        assert_eq!(latest["values"], serde_json::json!({"a": 1, "b": 3}));
    }

    #[test]
    fn history_is_bounded_and_resume_knows_when_it_is_too_late() {
        let (hub, b) = hub(4);
        for i in 0..10 {
            hub.publish_delta(&Values::of(&[("a", i)]));
        }
        assert_eq!(
            hub.events_since(b + 6)
                .unwrap()
                .iter()
                .map(|e| e.seq - b)
                .collect::<Vec<_>>(),
            [7, 8, 9, 10]
        );
        assert_eq!(hub.events_since(b + 10).unwrap().len(), 0);
        assert!(hub.events_since(b + 5).is_none(), "seq 6 has left the ring");
        assert!(
            hub.events_since(b + 11).is_none(),
            "seq 11 was never published"
        );
        assert!(hub.events_since(u64::MAX).is_none());
    }

    #[tokio::test]
    async fn a_follower_resumes_while_it_can_and_else_starts_afresh() {
        let (hub, b) = hub(4);
        for i in 0..6 {
            hub.publish_delta(&Values::of(&[("a", i)]));
        }
        let seqs = |follow: &Follow| follow.first.iter().map(|e| e.seq - b).collect::<Vec<_>>();
        let mut resumed = hub.follow(Some(b + 4));
        assert_eq!(seqs(&resumed), [5, 6]);
        assert_eq!(seqs(&hub.follow(Some(b + 6))), [] as [u64; 0]);
        for since in [None, Some(1), Some(b + 1), Some(b + 7)] {
            let fresh = hub.follow(since);
            assert_eq!(seqs(&fresh), [6], "since {since:?}");
            assert_eq!(fresh.first[0].kind, EventKind::Snapshot);
            assert_eq!(json(&fresh.first[0].json)["values"]["a"], 5);
        }
        hub.publish_delta(&Values::of(&[("a", 9)]));
        assert_eq!(resumed.events.recv().await.unwrap().seq, b + 7);
    }

    #[tokio::test]
    async fn a_subscriber_starts_from_its_snapshot() {
        let (hub, b) = hub(4);
        hub.publish_delta(&Values::of(&[("a", 1)]));
        let mut sub = hub.subscribe();
        hub.publish_delta(&Values::of(&[("a", 2)]));
        assert_eq!(sub.snapshot.seq, b + 1);
        assert_eq!(json(&sub.snapshot.json)["values"]["a"], 1);
        let next = sub.events.recv().await.unwrap();
        assert_eq!(next.seq, b + 2);
    }
}
