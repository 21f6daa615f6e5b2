//! The relay's loop as a state machine: what to do next, given what just
//! happened. [`Machine::step`] is a plain function of its input and a
//! [`Clock`] (no I/O, no clock of its own), so the tests drive it through
//! failures, backoffs and shutdowns with made-up times.
//!
//! ```text
//!            update ready                 Published
//!   Idle ───────────────────▶ Sending ─────────────────▶ Idle
//!     ▲                          │ Retry / Rejected
//!     │      backoff over        ▼
//!     └──────────────────── BackingOff { until }
//!
//!   any of them ── Stopped ──▶ Draining { deadline } ──▶ Done
//! ```
//!
//! Draining keeps sending (after any backoff) until nothing is held, or
//! until the deadline, when what is left is dropped and counted.
//!
//! Every relayed event carries the whole state (a snapshot): Pusher counts
//! messages, not bytes, so a delta saves nothing, and a subscriber that
//! joins mid-stream (or reads a `cache-` channel's last event) has the
//! state at once. An update over Pusher's 10 KB is split into a snapshot
//! and deltas ([`split`](super::split)), sent at most [`MAX_BATCH`] to a
//! request.
//!
//! With several nodes (`[relay] url` a list), the machine says which one
//! each request goes to: the current one, until it fails with no answer, a
//! timeout or a 5xx, when the next in the list becomes current (round to
//! the first after the last). A 429 or another 4xx is the app's doing, not
//! the node's, and does not move it.
//!
//! Under a daily budget the channel's subscribers are counted every
//! [`COUNT_EVERY`], because each delivery costs a message; nothing is sent
//! before the first count.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{debug, error, info, warn};

use super::budget::Budget;
use super::client::{Backoff, MAX_BATCH, Outcome};
use super::metrics::{self, Dropped, Metrics};
use super::split::{self, MAX_DATA};
use crate::hub::{Event, EventKind};
use crate::sink::outbox::{Outbox, Update};

/// How often the subscriber count is asked for, under a budget.
pub const COUNT_EVERY: Duration = Duration::from_secs(30);
/// Subscribers assumed when the server does not say.
const ASSUMED_SUBSCRIBERS: u64 = 1;

/// The time, as the machine is told it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: Instant,
    /// Seconds since the Unix epoch: the budget's day is a UTC day.
    pub unix_secs: u64,
}

impl Clock {
    pub fn now() -> Clock {
        Clock {
            now: Instant::now(),
            unix_secs: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
        }
    }
}

/// What just happened.
#[derive(Debug)]
pub enum Input {
    /// An event of the hub.
    Hub(Arc<Event>),
    /// The relay fell `missed` events behind the hub; `snapshot` is where
    /// it starts again.
    Resynced { missed: u64, snapshot: Arc<Event> },
    /// Shutdown: send what is held until `deadline`.
    Stopped { deadline: Instant },
    /// The request in flight is answered.
    Sent(Outcome),
    /// The subscriber count is answered (`None`: the server does not say).
    Counted(Option<u64>),
    /// A time the last step asked to be woken at has come.
    Tick,
}

/// Where the relay is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Nothing in flight: sends as soon as there is something to send.
    Idle,
    /// A publish request is in flight.
    Sending,
    /// A publish failed: nothing goes out before `until`.
    BackingOff { until: Instant },
    /// Stopping: sending what is held (after `until`, if backing off)
    /// until `deadline`.
    Draining {
        deadline: Instant,
        sending: bool,
        until: Option<Instant>,
    },
    /// Nothing left to do.
    Done,
}

/// What the runner must do after a step.
#[derive(Debug, Default)]
pub struct Actions {
    /// Send this request (the machine is then [`State::Sending`]).
    pub publish: Option<Vec<Arc<Event>>>,
    /// Ask for the channel's subscriber count.
    pub count: bool,
    /// Step again with [`Input::Tick`] at this time, if nothing else
    /// happens first.
    pub wake: Option<Instant>,
    /// The relay has finished.
    pub done: bool,
    /// The node (index into `[relay] url`) the request and the count go to.
    pub node: usize,
}

/// When the subscribers are counted next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    /// No budget: never.
    Off,
    At(Instant),
    Asking,
}

/// What was logged, so that a condition is logged when it starts, not on
/// every request.
#[derive(Debug, Default)]
struct Logged {
    /// The last publish succeeded.
    up: bool,
    /// The status of the last rejection logged.
    rejected: Option<u16>,
    /// The budget was found spent.
    spent: bool,
}

pub struct Machine {
    state: State,
    outbox: Outbox,
    /// Parts of an update that did not fit in one request, not yet sent.
    parts: VecDeque<Arc<Event>>,
    /// The kinds of the events in flight.
    in_flight: Vec<EventKind>,
    max_rate_hz: f64,
    budget: Option<Budget>,
    /// The channel's subscribers as last reported; `None` until asked.
    subscribers: Option<u64>,
    count: Count,
    backoff: Backoff,
    logged: Logged,
    metrics: Metrics,
    /// How many nodes there are (at least one), and the current one.
    nodes: usize,
    node: usize,
}

impl Machine {
    /// A relay at `max_rate_hz`, under `daily_budget` messages a day if
    /// any, to `nodes` nodes tried in order.
    pub fn new(
        max_rate_hz: f64,
        daily_budget: Option<u64>,
        nodes: usize,
        metrics: Metrics,
        clock: Clock,
    ) -> Machine {
        metrics.budget_remaining(daily_budget);
        Machine {
            state: State::Idle,
            outbox: Outbox::new(max_rate_hz),
            parts: VecDeque::new(),
            in_flight: Vec::new(),
            max_rate_hz,
            budget: daily_budget.map(|daily| Budget::new(daily, clock.unix_secs)),
            subscribers: None,
            count: if daily_budget.is_some() {
                Count::At(clock.now)
            } else {
                Count::Off
            },
            backoff: Backoff::default(),
            logged: Logged::default(),
            metrics,
            nodes: nodes.max(1),
            node: 0,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The node requests go to.
    pub fn node(&self) -> usize {
        self.node
    }

    /// Takes in what happened; says what to do next.
    pub fn step(&mut self, input: Input, clock: Clock) -> Actions {
        let mut actions = self.decide(input, clock);
        actions.node = self.node;
        actions
    }

    fn decide(&mut self, input: Input, clock: Clock) -> Actions {
        let now = clock.now;
        let mut actions = Actions::default();
        self.update_rate(clock);

        match input {
            Input::Hub(event) => self.outbox.apply(&event, now),
            Input::Resynced { missed, snapshot } => {
                warn!("the relay fell {missed} events behind the hub; resyncing from a snapshot");
                self.metrics.dropped(Dropped::lagged, missed);
                self.outbox.apply(&snapshot, now);
            }
            Input::Stopped { deadline } => {
                self.outbox.flush(now);
                self.state = match self.state {
                    State::Idle => State::Draining {
                        deadline,
                        sending: false,
                        until: None,
                    },
                    State::Sending => State::Draining {
                        deadline,
                        sending: true,
                        until: None,
                    },
                    State::BackingOff { until } => State::Draining {
                        deadline,
                        sending: false,
                        until: Some(until),
                    },
                    state @ (State::Draining { .. } | State::Done) => state,
                };
            }
            Input::Sent(outcome) => {
                let retry = self.settle(outcome, clock);
                self.state = match self.state {
                    State::Draining { deadline, .. } => State::Draining {
                        deadline,
                        sending: false,
                        until: retry,
                    },
                    _ => retry.map_or(State::Idle, |until| State::BackingOff { until }),
                };
            }
            Input::Counted(answer) => {
                self.counted(answer, clock);
                self.count = Count::At(now + COUNT_EVERY);
            }
            Input::Tick => {}
        }

        self.outbox.tick(now);
        self.metrics
            .dropped(Dropped::superseded, self.outbox.superseded());
        match &mut self.state {
            State::BackingOff { until } if *until <= now => self.state = State::Idle,
            State::Draining { deadline, .. } if *deadline <= now => {
                let held =
                    self.in_flight.len() + self.parts.len() + usize::from(self.outbox.discard());
                self.metrics.dropped(Dropped::shutdown, held as u64);
                self.parts.clear();
                warn!("the relay did not get everything out before its shutdown deadline");
                self.state = State::Done;
            }
            State::Draining { until, .. } if until.is_some_and(|until| until <= now) => {
                *until = None;
            }
            _ => {}
        }
        if self.state == State::Done {
            actions.done = true;
            return actions;
        }

        if let Count::At(at) = self.count
            && at <= now
            && !matches!(self.state, State::Draining { .. })
        {
            self.count = Count::Asking;
            actions.count = true;
        }

        let free = matches!(
            self.state,
            State::Idle
                | State::Draining {
                    sending: false,
                    until: None,
                    ..
                }
        );
        if free && let Some(batch) = self.next_batch(clock) {
            self.in_flight = batch.iter().map(|event| event.kind).collect();
            self.state = match self.state {
                State::Draining { deadline, .. } => State::Draining {
                    deadline,
                    sending: true,
                    until: None,
                },
                _ => State::Sending,
            };
            actions.publish = Some(batch);
        }

        if let State::Draining { sending: false, .. } = self.state
            && !self.holds()
        {
            self.state = State::Done;
            actions.done = true;
            return actions;
        }

        actions.wake = [
            self.outbox.due(),
            match self.state {
                State::BackingOff { until } => Some(until),
                State::Draining {
                    deadline, until, ..
                } => Some(until.map_or(deadline, |until| until.min(deadline))),
                _ => None,
            },
            match self.count {
                Count::At(at) if !matches!(self.state, State::Draining { .. }) => Some(at),
                _ => None,
            },
        ]
        .into_iter()
        .flatten()
        .min();
        actions
    }

    /// Whether anything is waiting to be sent.
    fn holds(&self) -> bool {
        !self.parts.is_empty() || self.outbox.ready()
    }

    /// What an event costs against the budget: the publish and a delivery
    /// to each subscriber.
    fn cost(&self) -> u64 {
        1 + self.subscribers.unwrap_or(ASSUMED_SUBSCRIBERS)
    }

    fn update_rate(&mut self, clock: Clock) {
        let cost = self.cost();
        let rate = match &mut self.budget {
            Some(budget) => self.max_rate_hz.min(budget.rate(clock.unix_secs, cost)),
            None => self.max_rate_hz,
        };
        self.outbox.set_rate(rate);
    }

    /// The next request: up to [`MAX_BATCH`] events of the update being
    /// sent, no more than the budget affords. Under a budget nothing goes
    /// out before the first count; a spent budget drops what is held, and
    /// the next event, once the budget renews at midnight UTC, carries the
    /// state.
    fn next_batch(&mut self, clock: Clock) -> Option<Vec<Arc<Event>>> {
        if !self.holds() || (self.budget.is_some() && self.subscribers.is_none()) {
            return None;
        }
        let cost = self.cost();
        let affordable = match &mut self.budget {
            Some(budget) => budget.affordable(clock.unix_secs, cost),
            None => u64::MAX,
        };
        if affordable == 0 {
            if !self.logged.spent {
                warn!("the daily message budget is spent; relaying again after midnight UTC");
                self.logged.spent = true;
            }
            let held = self.parts.len() + usize::from(self.outbox.discard());
            self.metrics.dropped(Dropped::budget, held as u64);
            self.parts.clear();
            self.outbox.resync(clock.now);
            return None;
        }
        self.logged.spent = false;
        if self.parts.is_empty() {
            let update = self.outbox.take()?;
            self.parts = self.fit(&update);
        }
        let n = MAX_BATCH
            .min(usize::try_from(affordable).unwrap_or(MAX_BATCH))
            .min(self.parts.len());
        (n > 0).then(|| self.parts.drain(..n).collect())
    }

    /// An update as the events that carry it: one snapshot, or a snapshot
    /// then deltas when it is over Pusher's limit.
    fn fit(&self, update: &Update) -> VecDeque<Arc<Event>> {
        let snapshot = Arc::new(Event::new(
            update.seq,
            EventKind::Snapshot,
            update.ts_ms,
            update.board,
            update.values.clone(),
        ));
        let fitted = split::fit(snapshot, MAX_DATA);
        if fitted.events.len() > 1 {
            self.metrics.split();
        }
        self.metrics
            .dropped(Dropped::too_large, fitted.refused as u64);
        fitted.events.into()
    }

    /// Records what became of the request in flight; returns when to try
    /// again after a failure.
    fn settle(&mut self, outcome: Outcome, clock: Clock) -> Option<Instant> {
        let sent = std::mem::take(&mut self.in_flight);
        match outcome {
            Outcome::Published { status } => {
                self.metrics.request(metrics::Outcome::ok, status);
                self.metrics.published(sent.iter().copied());
                let cost = self.cost();
                if let Some(budget) = &mut self.budget {
                    budget.spend(clock.unix_secs, sent.len() as u64 * cost);
                    self.metrics
                        .budget_remaining(Some(budget.remaining(clock.unix_secs)));
                }
                self.backoff.reset();
                self.logged.rejected = None;
                if !self.logged.up {
                    info!("the relay accepts events");
                }
                self.set_up(true);
                None
            }
            Outcome::Retry {
                status,
                after,
                reason,
            } => {
                self.metrics.request(metrics::Outcome::retry, status);
                self.metrics.retry();
                if self.nodes > 1 && (status == 0 || status >= 500) {
                    let failed = self.node;
                    self.node = (self.node + 1) % self.nodes;
                    self.metrics.node(self.node);
                    if self.logged.up {
                        warn!("relay node {failed} failed; moving to node {}", self.node);
                    } else {
                        debug!("relay node {failed} failed; moving to node {}", self.node);
                    }
                }
                self.metrics
                    .dropped(Dropped::failed, (sent.len() + self.parts.len()) as u64);
                self.parts.clear();
                self.outbox.resync(clock.now);
                let wait = self.backoff.next(after);
                if self.logged.up {
                    warn!(
                        "the relay failed ({reason}); sending the whole state in {wait:.1?}, \
                         backing off while it fails"
                    );
                } else {
                    debug!("the relay failed again ({reason}); next try in {wait:.1?}");
                }
                self.set_up(false);
                Some(clock.now + wait)
            }
            Outcome::Rejected { status, body } => {
                self.metrics.request(metrics::Outcome::rejected, status);
                self.metrics
                    .dropped(Dropped::rejected, (sent.len() + self.parts.len()) as u64);
                self.parts.clear();
                if self.logged.rejected != Some(status) {
                    error!(
                        status,
                        answer = %body,
                        events = sent.len(),
                        "the relay rejected a publish; not retrying it \
                         (logged once until a publish succeeds)"
                    );
                    self.logged.rejected = Some(status);
                }
                self.outbox.resync(clock.now);
                self.set_up(false);
                Some(clock.now + self.backoff.next(None))
            }
        }
    }

    fn set_up(&mut self, up: bool) {
        self.logged.up = up;
        self.metrics.up(up);
    }

    fn counted(&mut self, answer: Option<u64>, clock: Clock) {
        if answer.is_none() && self.subscribers.is_none() {
            debug!(
                "the relay does not report the channel's subscription_count; \
                 assuming {ASSUMED_SUBSCRIBERS} subscriber"
            );
        }
        let subscribers = answer.unwrap_or(ASSUMED_SUBSCRIBERS);
        self.subscribers = Some(subscribers);
        self.metrics.subscribers(subscribers);
        if let Some(budget) = &mut self.budget {
            // Also where a new day's budget shows, when nothing is sent.
            self.metrics
                .budget_remaining(Some(budget.remaining(clock.unix_secs)));
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::*;
    use crate::hub::Board;
    use crate::transform::{Name, Values};

    const MS: Duration = Duration::from_millis(1);
    /// 2026-11-25 12:00:00 UTC.
    const NOON: u64 = 1_795_608_000;

    /// A machine, its metrics' registry, and a clock the test moves.
    struct Run {
        machine: Machine,
        registry: Registry,
        start: Instant,
        now: Instant,
    }

    impl Run {
        fn new(max_rate_hz: f64, budget: Option<u64>) -> Run {
            Run::with_nodes(max_rate_hz, budget, 1)
        }

        fn with_nodes(max_rate_hz: f64, budget: Option<u64>, nodes: usize) -> Run {
            let mut registry = Registry::with_prefix("esplora_relay");
            let metrics = Metrics::register(&mut registry);
            let start = Instant::now();
            let machine = Machine::new(max_rate_hz, budget, nodes, metrics, clock(start, start));
            Run {
                machine,
                registry,
                start,
                now: start,
            }
        }

        fn at(&mut self, ms: u64) -> &mut Self {
            self.now = self.start + ms as u32 * MS;
            self
        }

        fn step(&mut self, input: Input) -> Actions {
            self.machine.step(input, clock(self.start, self.now))
        }

        fn metrics(&self) -> String {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &self.registry).unwrap();
            text
        }
    }

    fn clock(start: Instant, now: Instant) -> Clock {
        Clock {
            now,
            unix_secs: NOON + (now - start).as_secs(),
        }
    }

    fn event(seq: u64, kind: EventKind, board: Board, pairs: &[(&str, i64)]) -> Input {
        let values = pairs
            .iter()
            .fold(Values::new(), |mut values, (name, value)| {
                values.set(Name::from(*name), *value);
                values
            });
        Input::Hub(Arc::new(Event::new(seq, kind, seq, board, values)))
    }

    fn delta(seq: u64, pairs: &[(&str, i64)]) -> Input {
        event(seq, EventKind::Delta, Board::Connected, pairs)
    }

    fn sent(actions: &Actions) -> Vec<(EventKind, u64, String)> {
        actions
            .publish
            .as_ref()
            .expect("a request")
            .iter()
            .map(|e| {
                let json: serde_json::Value = serde_json::from_slice(&e.json).unwrap();
                (e.kind, e.seq, json["values"].to_string())
            })
            .collect()
    }

    fn ok() -> Input {
        Input::Sent(Outcome::Published { status: 200 })
    }

    #[test]
    fn nothing_is_sent_before_a_reading_then_every_event_is_the_whole_state() {
        let mut run = Run::new(10.0, None);
        let first = run.step(event(0, EventKind::Snapshot, Board::Disconnected, &[]));
        assert!(first.publish.is_none());
        let status = run.step(event(1, EventKind::Status, Board::Connected, &[]));
        assert!(status.publish.is_none(), "no empty snapshot");
        assert_eq!(run.machine.state(), State::Idle);

        let actions = run.at(5).step(delta(2, &[("a", 1), ("b", 1)]));
        assert_eq!(
            sent(&actions),
            [(EventKind::Snapshot, 2, r#"{"a":1,"b":1}"#.to_owned())]
        );
        assert_eq!(run.machine.state(), State::Sending);
        run.at(20).step(ok());
        assert_eq!(run.machine.state(), State::Idle);
        // A delta of one field goes out as the whole state, at the rate.
        let held = run.at(30).step(delta(3, &[("a", 2)]));
        assert!(held.publish.is_none());
        assert_eq!(held.wake, Some(run.start + 105 * MS));
        let actions = run.at(105).step(Input::Tick);
        assert_eq!(
            sent(&actions),
            [(EventKind::Snapshot, 3, r#"{"a":2,"b":1}"#.to_owned())]
        );
    }

    #[test]
    fn while_a_request_is_in_flight_the_latest_state_wins() {
        let mut run = Run::new(0.0, None);
        run.step(event(1, EventKind::Snapshot, Board::Connected, &[("a", 0)]));
        for seq in 2..=6 {
            let actions = run.at(seq).step(delta(seq, &[("a", seq as i64)]));
            assert!(actions.publish.is_none(), "one request at a time");
        }
        let actions = run.at(10).step(ok());
        assert_eq!(
            sent(&actions),
            [(EventKind::Snapshot, 6, r#"{"a":6}"#.to_owned())]
        );
        assert!(
            run.metrics()
                .contains(r#"esplora_relay_events_dropped_total{reason="superseded"} 4"#),
            "{}",
            run.metrics()
        );
    }

    #[test]
    fn a_failure_backs_off_then_sends_the_state_as_it_is_by_then() {
        let mut run = Run::new(0.0, None);
        run.step(event(1, EventKind::Snapshot, Board::Connected, &[("a", 1)]));
        let failed = run.at(10).step(Input::Sent(Outcome::Retry {
            status: 503,
            after: Some(Duration::from_secs(2)),
            reason: "down".to_owned(),
        }));
        let until = run.start + 2010 * MS;
        assert_eq!(run.machine.state(), State::BackingOff { until });
        assert_eq!(failed.wake, Some(until));
        let during = run.at(500).step(delta(2, &[("a", 2)]));
        assert!(during.publish.is_none());
        let actions = run.at(2010).step(Input::Tick);
        assert_eq!(
            sent(&actions),
            [(EventKind::Snapshot, 2, r#"{"a":2}"#.to_owned())]
        );
        let text = run.metrics();
        assert!(text.contains(r#"esplora_relay_requests_total{outcome="retry",status="503"} 1"#));
        assert!(text.contains(r#"esplora_relay_events_dropped_total{reason="failed"} 1"#));
        assert!(text.contains("esplora_relay_up 0"));
        run.at(2020).step(ok());
        assert!(run.metrics().contains("esplora_relay_up 1"));
    }

    #[test]
    fn draining_waits_for_the_request_in_flight_then_sends_what_is_held() {
        let mut run = Run::new(10.0, None);
        run.step(event(1, EventKind::Snapshot, Board::Connected, &[("a", 1)]));
        run.at(10).step(delta(2, &[("a", 2)]));
        let deadline = run.start + 1000 * MS;
        let stopping = run.at(20).step(Input::Stopped { deadline });
        assert!(stopping.publish.is_none(), "one request at a time");
        assert!(!stopping.done);
        let actions = run.at(30).step(ok());
        assert_eq!(
            sent(&actions),
            [(EventKind::Snapshot, 2, r#"{"a":2}"#.to_owned())],
            "the pending change goes out regardless of the rate"
        );
        assert!(!actions.done);
        assert!(run.at(40).step(ok()).done);
        assert_eq!(run.machine.state(), State::Done);
    }

    #[test]
    fn at_the_deadline_what_is_left_is_dropped_and_counted() {
        let mut run = Run::new(10.0, None);
        run.step(event(1, EventKind::Snapshot, Board::Connected, &[("a", 1)]));
        let deadline = run.start + 1000 * MS;
        let stopping = run.at(20).step(Input::Stopped { deadline });
        assert_eq!(stopping.wake, Some(deadline));
        let actions = run.at(1000).step(Input::Tick);
        assert!(actions.done);
        assert!(
            run.metrics()
                .contains(r#"esplora_relay_events_dropped_total{reason="shutdown"} 1"#)
        );
    }

    #[test]
    fn stopping_with_nothing_held_is_done_at_once() {
        let mut run = Run::new(10.0, None);
        run.step(event(0, EventKind::Snapshot, Board::Disconnected, &[]));
        let deadline = run.start + 1000 * MS;
        let actions = run.at(5).step(Input::Stopped { deadline });
        assert!(actions.done);
    }

    #[test]
    fn under_a_budget_nothing_is_sent_before_the_subscribers_are_counted() {
        let mut run = Run::new(1000.0, Some(1_000_000));
        let first = run.step(event(1, EventKind::Snapshot, Board::Connected, &[("a", 1)]));
        assert!(first.count);
        assert!(first.publish.is_none());
        let counted = run.at(10).step(Input::Counted(Some(3)));
        assert_eq!(sent(&counted).len(), 1);
        assert_eq!(counted.wake, Some(run.start + 10 * MS + COUNT_EVERY));
        run.at(20).step(ok());
        let text = run.metrics();
        assert!(text.contains("esplora_relay_subscribers 3"), "{text}");
        // One publish and three deliveries.
        assert!(
            text.contains("esplora_relay_budget_remaining 999996"),
            "{text}"
        );
    }

    #[test]
    fn a_spent_budget_drops_what_is_held() {
        // One subscriber: an event costs two messages, and two are left.
        let mut run = Run::new(1000.0, Some(2));
        run.step(event(1, EventKind::Snapshot, Board::Connected, &[("a", 1)]));
        let counted = run.at(10).step(Input::Counted(Some(1)));
        assert!(counted.publish.is_some());
        run.at(20).step(ok());
        // The spread-out rate holds a delta back (until midnight, when the
        // budget renews), but a status is not throttled.
        let held = run.at(30).step(delta(2, &[("a", 2)]));
        assert!(held.publish.is_none());
        let spent = run
            .at(40)
            .step(event(3, EventKind::Status, Board::Disconnected, &[]));
        assert!(spent.publish.is_none());
        assert!(
            run.metrics()
                .contains(r#"esplora_relay_events_dropped_total{reason="budget"} 1"#),
            "{}",
            run.metrics()
        );
    }

    fn retry(status: u16) -> Input {
        Input::Sent(Outcome::Retry {
            status,
            after: None,
            reason: "down".to_owned(),
        })
    }

    #[test]
    fn a_failing_node_hands_over_to_the_next_after_the_backoff() {
        let mut run = Run::with_nodes(0.0, None, 3);
        let first = run.step(event(1, EventKind::Snapshot, Board::Connected, &[("a", 1)]));
        assert_eq!((first.node, sent(&first).len()), (0, 1));
        run.at(10).step(ok());

        // A 429 or another 4xx is not the node's fault: it stays.
        run.at(20).step(delta(2, &[("a", 2)]));
        let limited = run.at(30).step(Input::Sent(Outcome::Retry {
            status: 429,
            after: None,
            reason: "slow down".to_owned(),
        }));
        assert_eq!(limited.node, 0);
        let rejected = run.at(300).step(Input::Tick);
        assert_eq!(rejected.node, 0);
        run.at(310).step(Input::Sent(Outcome::Rejected {
            status: 403,
            body: String::new(),
        }));
        assert_eq!(run.machine.node(), 0);
        let again = run.at(1000).step(Input::Tick);
        assert_eq!((again.node, sent(&again).len()), (0, 1));
        run.at(1010).step(ok());

        // No answer: the next node, after the (reset) backoff, with the
        // state as it is by then.
        run.at(1020).step(delta(3, &[("a", 3)]));
        let failed = run.at(1030).step(retry(0));
        let failed_at = run.start + 1030 * MS;
        // The first backoff is drawn from the upper half of `FIRST`.
        let until = failed.wake.expect("a wake-up at the backoff's end");
        assert!(until >= failed_at + Backoff::FIRST / 2 && until <= failed_at + Backoff::FIRST);
        assert_eq!(run.machine.state(), State::BackingOff { until });
        assert_eq!(failed.node, 1);
        assert!(failed.publish.is_none(), "the backoff holds");
        run.at(1100).step(delta(4, &[("a", 4)]));
        let moved = run.at(1030 + 250).step(Input::Tick);
        assert_eq!(moved.node, 1);
        assert_eq!(
            sent(&moved),
            [(EventKind::Snapshot, 4, r#"{"a":4}"#.to_owned())]
        );
        run.at(1300).step(ok());

        // A node that answers stays current; a 5xx moves on, and past
        // the last node the first is tried again.
        run.at(1400).step(delta(5, &[("a", 5)]));
        assert_eq!(run.at(1410).step(retry(503)).node, 2);
        let third = run.at(2000).step(Input::Tick);
        assert_eq!((third.node, sent(&third).len()), (2, 1));
        assert!(run.metrics().contains("esplora_relay_node 2"));
        assert_eq!(run.at(2010).step(retry(502)).node, 0);
        let round = run.at(5000).step(Input::Tick);
        assert_eq!((round.node, sent(&round).len()), (0, 1));
        run.at(5010).step(ok());
        assert_eq!(run.machine.node(), 0);
    }

    #[test]
    fn one_node_is_retried_where_it_is() {
        let mut run = Run::new(0.0, None);
        run.step(event(1, EventKind::Snapshot, Board::Connected, &[("a", 1)]));
        assert_eq!(run.at(10).step(retry(0)).node, 0);
        let again = run.at(1000).step(Input::Tick);
        assert_eq!((again.node, sent(&again).len()), (0, 1));
    }
}
