//! The pipeline task: source events through the transforms into the hub.
//!
//! One task owns every transform, so the transforms need no locks and the
//! order of events is the order of lines. Its loop waits on three things:
//! the next source event, the throttle's pending delta falling due, and the
//! keyframe timer. Before a status change, and at the end of the input, the
//! throttle is flushed first, so that nothing accepted is ever left unsent.

use std::sync::Arc;
use std::time::Duration;

use esplora_config::Config;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::debug;

use crate::hub::{Board, Hub};
use crate::metrics::Metrics;
use crate::source::SourceEvent;
use crate::transform::Values;
use crate::transform::diff::Diff;
use crate::transform::parse::Parse;
use crate::transform::throttle::Throttle;

pub struct Pipeline {
    parse: Parse,
    diff: Diff,
    throttle: Throttle,
    keyframe: Duration,
    /// Reused for every line, so that parsing allocates nothing per line for it.
    changes: Values,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
}

impl Pipeline {
    pub fn new(config: &Config, hub: Arc<Hub>, metrics: Arc<Metrics>) -> Self {
        Pipeline {
            parse: Parse::new(Arc::clone(&metrics)),
            diff: Diff::new(config.names.clone(), config.transform.deadband.clone()),
            throttle: Throttle::new(config.transform.max_rate_hz),
            keyframe: Duration::from_secs(config.transform.keyframe_secs),
            changes: Values::new(),
            hub,
            metrics,
        }
    }

    /// Runs until every source has hung up, then publishes what is pending.
    pub async fn run(mut self, mut events: mpsc::Receiver<SourceEvent>) {
        let mut keyframes = tokio::time::interval_at(Instant::now() + self.keyframe, self.keyframe);
        keyframes.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let due = self.throttle.due();
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.handle(event),
                    None => break,
                },
                () = sleep_until(due), if due.is_some() => self.flush(),
                _ = keyframes.tick() => self.hub.publish_snapshot(),
            }
        }
        self.flush();
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
                if let Some(delta) = self.throttle.push(&self.changes, std::time::Instant::now()) {
                    self.hub.publish_delta(&delta);
                }
            }
            SourceEvent::Rejected(error) => self.parse.reject(error.reason(), &error, None),
            SourceEvent::Connected { .. } => {
                self.parse.reset();
                self.metrics.board_connected(true);
                self.hub.set_board(Board::Connected);
            }
            SourceEvent::Disconnected { .. } => {
                self.flush();
                self.metrics.board_connected(false);
                self.hub.set_board(Board::Disconnected);
            }
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
