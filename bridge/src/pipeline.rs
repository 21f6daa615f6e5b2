//! The pipeline task: source events through the transforms into the hub.
//!
//! Every accepted change also goes to the history store ([`crate::store`]),
//! before the throttle, so that the store keeps the board's full rate.
//!
//! One task owns every transform, so the transforms need no locks and the
//! order of events is the order of lines. Its loop waits on three things:
//! the next source event, the throttle's pending delta falling due, and the
//! keyframe timer. Before a status change, and at the end of the input, the
//! throttle is flushed first, so that nothing accepted is ever left unsent.
//!
//! Whoever supervises the daemon (systemd, through [`crate::service`]) can
//! watch the pipeline from outside without a lock: a [`Heartbeat`] that the
//! loop bumps on every turn, and the [`InputState`] on a `watch` channel.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use esplora_config::Config;
use esplora_parser::Grammar;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tracing::debug;

use crate::hub::{Board, Hub};
use crate::metrics::Metrics;
use crate::source::SourceEvent;
use crate::store::{MarkKind, Recorder, now_ms};
use crate::transform::Values;
use crate::transform::diff::Diff;
use crate::transform::parse::Parse;
use crate::transform::throttle::Throttle;

/// Proof that the pipeline's loop is still turning: a counter bumped on
/// every turn. Once [`Pipeline::heartbeat`] has been asked for one, a timer
/// makes the loop turn even when no input comes, so the counter stands
/// still only when the loop itself is stuck.
#[derive(Clone, Default)]
pub struct Heartbeat(Arc<AtomicU64>);

impl Heartbeat {
    /// Turns of the loop so far. Only changes matter, never the value.
    pub fn beats(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn beat(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The input as the pipeline last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputState {
    /// Nothing has connected yet.
    Waiting,
    /// A board (or a replay) is sending; `origin` names it: the device
    /// path, the capture file, `demo board`.
    Connected { origin: String },
    /// It went away; a serial source keeps trying to get it back.
    Disconnected { origin: String, reason: String },
    /// Every source has hung up: the pipeline has stopped, for good.
    Ended,
}

pub struct Pipeline {
    parse: Parse,
    diff: Diff,
    throttle: Throttle,
    keyframe: Duration,
    /// Reused for every line, so that parsing allocates nothing per line for it.
    changes: Values,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    heartbeat: Heartbeat,
    /// How often the loop turns on its own, for the heartbeat; `None` until
    /// someone watches the heartbeat, so that an unwatched pipeline idles.
    beat_every: Option<Duration>,
    input: watch::Sender<InputState>,
    /// The history store's queue, when history is on: every accepted
    /// change goes there before the throttle, with its arrival time.
    history: Option<Recorder>,
}

impl Pipeline {
    pub fn new(config: &Config, hub: Arc<Hub>, metrics: Arc<Metrics>) -> Self {
        Pipeline {
            parse: Parse::new(
                Grammar::with_sequence_key(config.input.sequence_key.as_deref()),
                Arc::clone(&metrics),
            ),
            diff: Diff::new(config.names.clone(), deadbands(config)),
            throttle: Throttle::new(config.transform.max_rate_hz),
            keyframe: Duration::from_secs(config.transform.keyframe_secs),
            changes: Values::new(),
            hub,
            metrics,
            heartbeat: Heartbeat::default(),
            beat_every: None,
            input: watch::Sender::new(InputState::Waiting),
            history: None,
        }
    }

    /// Hands every accepted change, and the board's comings and goings, to
    /// the history store from now on.
    pub fn record_to(&mut self, recorder: Recorder) {
        self.history = Some(recorder);
    }

    /// The pipeline's heartbeat; from now on the loop turns at least
    /// `every`, input or not.
    pub fn heartbeat(&mut self, every: Duration) -> Heartbeat {
        self.beat_every = Some(every);
        self.heartbeat.clone()
    }

    /// The input's state, updated as sources connect and go away.
    pub fn input_state(&self) -> watch::Receiver<InputState> {
        self.input.subscribe()
    }

    /// Runs until every source has hung up, then publishes what is pending.
    pub async fn run(mut self, mut events: mpsc::Receiver<SourceEvent>) {
        let mut keyframes = tokio::time::interval_at(Instant::now() + self.keyframe, self.keyframe);
        keyframes.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut beats = self.beat_every.map(|every| {
            let mut beats = tokio::time::interval(every);
            beats.set_missed_tick_behavior(MissedTickBehavior::Delay);
            beats
        });
        loop {
            self.heartbeat.beat();
            let due = self.throttle.due();
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.handle(event),
                    None => break,
                },
                () = sleep_until(due), if due.is_some() => self.flush(),
                _ = keyframes.tick() => self.hub.publish_snapshot(),
                () = tick(&mut beats), if beats.is_some() => {}
            }
        }
        self.flush();
        self.input.send_replace(InputState::Ended);
        debug!("the input has ended");
    }

    fn handle(&mut self, event: SourceEvent) {
        match event {
            SourceEvent::Line(line) => {
                let Some(reading) = self.parse.line(&line) else {
                    return;
                };
                self.changes.clear();
                if let Err(error) = self.diff.apply(&reading.fields, &mut self.changes) {
                    self.parse.reject(error.reason(), &error, Some(&line));
                    return;
                }
                self.metrics.line_accepted();
                if let Some(history) = &mut self.history {
                    history.changes(now_ms(), &self.changes);
                }
                if let Some(delta) = self.throttle.push(&self.changes, std::time::Instant::now()) {
                    self.hub.publish_delta(&delta);
                }
            }
            SourceEvent::Rejected(error) => self.parse.reject(error.reason(), &error, None),
            SourceEvent::Connected { origin } => {
                self.mark(MarkKind::BoardConnected);
                self.parse.reset();
                self.metrics.board_connected(true);
                self.hub.set_board(Board::Connected);
                self.input.send_replace(InputState::Connected { origin });
            }
            SourceEvent::Disconnected { reason } => {
                self.mark(MarkKind::BoardDisconnected);
                self.flush();
                self.metrics.board_connected(false);
                self.hub.set_board(Board::Disconnected);
                let origin = match &*self.input.borrow() {
                    InputState::Connected { origin } => origin.clone(),
                    _ => String::new(),
                };
                self.input
                    .send_replace(InputState::Disconnected { origin, reason });
            }
        }
    }

    fn mark(&mut self, kind: MarkKind) {
        if let Some(history) = &mut self.history {
            history.mark(now_ms(), kind);
        }
    }

    fn flush(&mut self) {
        if let Some(delta) = self.throttle.flush(std::time::Instant::now()) {
            self.hub.publish_delta(&delta);
        }
    }
}

async fn sleep_until(due: Option<std::time::Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(due.into()).await;
    }
}

async fn tick(interval: &mut Option<Interval>) {
    if let Some(interval) = interval {
        interval.tick().await;
    }
}

/// Each described field's deadband, by JSON name.
fn deadbands(config: &Config) -> BTreeMap<String, f64> {
    config
        .field_descriptions()
        .into_iter()
        .filter_map(|(name, field)| Some((name, field.deadband?)))
        .collect()
}
