//! Life under systemd: the `sd_notify` protocol of a `Type=notify` unit.
//!
//! systemd passes the daemon a datagram socket in `NOTIFY_SOCKET` and, with
//! `WatchdogSec=`, the watchdog period in `WATCHDOG_USEC`. The daemon sends
//! `READY=1` once its HTTP server listens (so units ordered after it start
//! only then), `STATUS=` with the board's state (shown by `systemctl
//! status`), `WATCHDOG=1` every half period, and `STOPPING=1` when it starts
//! to shut down. Without `NOTIFY_SOCKET` every call here does nothing.
//!
//! The watchdog pings come from the pipeline's [`Heartbeat`], not from a
//! timer of their own: a ping is sent only if the pipeline's loop has turned
//! since the last one. A stuck pipeline (a deadlock, a busy loop, a blocked
//! runtime) therefore stops the pings, and systemd kills and restarts the
//! service, which a timer that pinged regardless would never let happen.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{debug, info, warn};

use crate::pipeline::{Heartbeat, InputState, Pipeline};

/// The daemon's link to systemd.
pub struct Service {
    /// Whether systemd is listening (`NOTIFY_SOCKET` is set).
    enabled: bool,
    /// `WATCHDOG_USEC`: systemd restarts the service when no ping came for
    /// this long.
    watchdog: Option<Duration>,
    /// The watchdog and status tasks, stopped on shutdown.
    tasks: Vec<JoinHandle<()>>,
}

impl Service {
    /// Reads what systemd handed over in the environment.
    pub fn from_env() -> Service {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some();
        // A zero period would be a watchdog no one can satisfy; systemd never
        // sends it, so treat it as none.
        let watchdog = sd_notify::watchdog_enabled().filter(|period| !period.is_zero());
        Service {
            enabled,
            watchdog: watchdog.filter(|_| enabled),
            tasks: Vec::new(),
        }
    }

    /// Starts reporting on `pipeline`: its input state as `STATUS=`, and,
    /// when systemd runs a watchdog, its heartbeat as `WATCHDOG=1`.
    pub fn watch(&mut self, pipeline: &mut Pipeline) {
        if !self.enabled {
            return;
        }
        let input = pipeline.input_state();
        if let Some(period) = self.watchdog {
            // The loop beats twice per ping interval, so a ping never finds
            // a healthy pipeline without a fresh beat.
            let heartbeat = pipeline.heartbeat(period / 4);
            info!(period = ?period, "systemd watchdog enabled");
            self.tasks
                .push(tokio::spawn(watchdog(period / 2, heartbeat, input.clone())));
        }
        self.tasks.push(tokio::spawn(report_status(input)));
    }

    /// The HTTP server listens: start-up is over.
    pub fn ready(&self) {
        self.notify(&[NotifyState::Ready]);
    }

    /// Shutdown has begun, for `why`: no more pings or status updates.
    pub fn stopping(&mut self, why: &str) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        let status = format!("shutting down: {why}");
        self.notify(&[NotifyState::Stopping, NotifyState::Status(&status)]);
    }

    fn notify(&self, states: &[NotifyState]) {
        if self.enabled {
            send(states);
        }
    }
}

fn send(states: &[NotifyState]) {
    // systemd going away is not the daemon's problem: it keeps serving.
    if let Err(error) = sd_notify::notify(states) {
        debug!("sd_notify failed: {error}");
    }
}

/// Pings every `every` while the pipeline's heartbeat moves.
async fn watchdog(every: Duration, heartbeat: Heartbeat, input: watch::Receiver<InputState>) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut pulse = Pulse::default();
    loop {
        ticks.tick().await;
        let ended = *input.borrow() == InputState::Ended;
        match pulse.check(heartbeat.beats(), ended) {
            Check::Alive => send(&[NotifyState::Watchdog]),
            Check::Stalled => warn!(
                "the pipeline has not moved for {every:?}: holding back the watchdog ping, \
                 so that systemd restarts the service if it stays stuck"
            ),
            Check::StillStalled => {}
        }
    }
}

/// What one watchdog tick found.
#[derive(Debug, PartialEq, Eq)]
enum Check {
    Alive,
    /// Stuck since this tick: worth a log line.
    Stalled,
    StillStalled,
}

/// The watchdog's memory of the last heartbeat it saw.
#[derive(Default)]
struct Pulse {
    last: Option<u64>,
    stalled: bool,
}

impl Pulse {
    /// Alive when the loop turned since the last check. A pipeline whose
    /// input has ended has nothing left to do and nothing to get stuck on, so
    /// its silence is not a hang: the daemon still serves the last state.
    fn check(&mut self, beats: u64, ended: bool) -> Check {
        let moved = self.last != Some(beats);
        self.last = Some(beats);
        if moved || ended {
            self.stalled = false;
            Check::Alive
        } else if self.stalled {
            Check::StillStalled
        } else {
            self.stalled = true;
            Check::Stalled
        }
    }
}

/// Sends `STATUS=` now and on every change of the input.
async fn report_status(mut input: watch::Receiver<InputState>) {
    loop {
        let status = status_line(&input.borrow_and_update());
        send(&[NotifyState::Status(&status)]);
        if input.changed().await.is_err() {
            return;
        }
    }
}

fn status_line(input: &InputState) -> String {
    match input {
        InputState::Waiting => "waiting for the board".to_owned(),
        InputState::Connected { origin } => format!("board connected: {origin}"),
        InputState::Disconnected { origin, reason } => {
            format!("board disconnected: {origin}: {reason}; waiting for it to come back")
        }
        InputState::Ended => "the input has ended; serving the last state".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stuck_pipeline_gets_no_ping() {
        let mut pulse = Pulse::default();
        assert_eq!(pulse.check(7, false), Check::Alive, "the first beat seen");
        assert_eq!(pulse.check(9, false), Check::Alive);
        assert_eq!(pulse.check(9, false), Check::Stalled);
        assert_eq!(pulse.check(9, false), Check::StillStalled);
        assert_eq!(pulse.check(10, false), Check::Alive, "it recovered");
        assert_eq!(pulse.check(10, false), Check::Stalled, "and logs anew");
    }

    #[test]
    fn an_ended_pipeline_is_not_stuck() {
        let mut pulse = Pulse::default();
        pulse.check(3, false);
        assert_eq!(pulse.check(3, true), Check::Alive);
        assert_eq!(pulse.check(3, true), Check::Alive);
    }

    #[test]
    fn the_status_names_the_device() {
        let line = status_line(&InputState::Disconnected {
            origin: "/dev/esplora".to_owned(),
            reason: "unplugged".to_owned(),
        });
        assert!(
            line.contains("disconnected: /dev/esplora: unplugged"),
            "{line}"
        );
        assert_eq!(
            status_line(&InputState::Connected {
                origin: "/dev/ttyACM0".to_owned()
            }),
            "board connected: /dev/ttyACM0"
        );
    }
}
