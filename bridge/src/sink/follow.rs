//! The follower every sink reads the hub through: the subscription, what
//! to do when the sink falls behind, and how it stops.
//!
//! A sink starts from the snapshot its subscription was taken with
//! ([`Follower::snapshot`]), then calls [`Follower::next`] in its loop:
//!
//! - a sink that fell more than the hub's queue behind (`Lagged`) is not
//!   told about the missed events one by one: it gets a fresh snapshot
//!   ([`Followed::Resynced`]) and starts over from it;
//! - once shutdown has begun (the pipeline has stopped, so nothing new
//!   comes), the follower hands over what the hub had already published
//!   and then [`Followed::Stopped`] with the deadline by which the sink
//!   must have sent what it holds, and ended.
//!
//! [`DEADLINE`] is shorter than the daemon's grace period, so a sink that
//! cannot get its last state out ends on its own (and says what it
//! dropped) before the daemon gives up on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::hub::{Event, Hub, Subscription};
use crate::shutdown::Shutdown;

/// How long a stopping sink may spend sending what it holds.
pub const DEADLINE: Duration = Duration::from_millis(1500);

/// What the hub has for a sink next.
#[derive(Debug)]
pub enum Followed {
    /// The next event published.
    Event(Arc<Event>),
    /// The sink fell `missed` events behind and starts over from
    /// `snapshot`.
    Resynced { missed: u64, snapshot: Arc<Event> },
    /// Shutdown: everything published has been handed over; the sink sends
    /// what it holds until `deadline`, then ends.
    Stopped { deadline: Instant },
}

/// A sink's subscription to the hub.
pub struct Follower {
    hub: Arc<Hub>,
    subscription: Subscription,
    shutdown: Shutdown,
    /// Shutdown has begun: what is queued is drained without waiting.
    stopping: bool,
    /// [`Followed::Stopped`] has been returned: nothing more comes.
    stopped: bool,
}

impl Follower {
    /// Subscribes now, so that nothing published from here on is missed.
    pub fn new(hub: Arc<Hub>, shutdown: Shutdown) -> Follower {
        let subscription = hub.subscribe();
        Follower {
            hub,
            subscription,
            shutdown,
            stopping: false,
            stopped: false,
        }
    }

    /// The state the sink starts from.
    pub fn snapshot(&self) -> Arc<Event> {
        Arc::clone(&self.subscription.snapshot)
    }

    /// The next thing the sink must take in; after [`Followed::Stopped`],
    /// never completes. Cancel-safe: a `select!` may drop it and call again.
    pub async fn next(&mut self) -> Followed {
        if self.stopped {
            return std::future::pending().await;
        }
        if !self.stopping {
            let received = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => None,
                received = self.subscription.events.recv() => Some(received),
            };
            match received {
                Some(Ok(event)) => return Followed::Event(event),
                Some(Err(RecvError::Lagged(missed))) => return self.resync(missed),
                // The hub is gone (only when the daemon is): nothing more
                // will come, as at shutdown.
                Some(Err(RecvError::Closed)) | None => self.stopping = true,
            }
        }
        match self.subscription.events.try_recv() {
            Ok(event) => Followed::Event(event),
            Err(TryRecvError::Lagged(missed)) => self.resync(missed),
            Err(TryRecvError::Empty | TryRecvError::Closed) => {
                self.stopped = true;
                Followed::Stopped {
                    deadline: Instant::now() + DEADLINE,
                }
            }
        }
    }

    fn resync(&mut self, missed: u64) -> Followed {
        self.subscription = self.hub.subscribe();
        Followed::Resynced {
            missed,
            snapshot: self.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::EventKind;
    use crate::metrics::Metrics;
    use crate::transform::Values;

    fn hub() -> Arc<Hub> {
        Arc::new(Hub::new(16, Arc::new(Metrics::new())))
    }

    #[tokio::test]
    async fn events_then_at_shutdown_what_is_queued_then_stopped() {
        let hub = hub();
        let shutdown = Shutdown::new();
        let mut follower = Follower::new(Arc::clone(&hub), shutdown.clone());
        // A run's seq starts where its clock says, not at 0.
        let start = follower.snapshot().seq;
        hub.publish_delta(&Values::of(&[("a", 1)]));
        assert!(matches!(follower.next().await, Followed::Event(e) if e.seq == start + 1));
        hub.publish_delta(&Values::of(&[("a", 2)]));
        hub.publish_delta(&Values::of(&[("a", 3)]));
        shutdown.finish(Duration::ZERO).await;
        assert!(matches!(follower.next().await, Followed::Event(e) if e.seq == start + 2));
        assert!(matches!(follower.next().await, Followed::Event(e) if e.seq == start + 3));
        assert!(matches!(
            follower.next().await,
            Followed::Stopped { deadline } if deadline > Instant::now()
        ));
        let after = tokio::time::timeout(Duration::from_millis(10), follower.next()).await;
        assert!(after.is_err(), "nothing after Stopped");
    }

    #[tokio::test]
    async fn a_follower_that_falls_behind_starts_over_from_a_snapshot() {
        let hub = hub();
        let mut follower = Follower::new(Arc::clone(&hub), Shutdown::new());
        let start = follower.snapshot().seq;
        for i in 0..300 {
            hub.publish_delta(&Values::of(&[("a", i)]));
        }
        match follower.next().await {
            Followed::Resynced { missed, snapshot } => {
                assert!(missed > 0);
                assert_eq!(snapshot.kind, EventKind::Snapshot);
                assert_eq!(snapshot.seq, start + 300);
                assert_eq!(snapshot.values, Values::of(&[("a", 299)]));
            }
            other => panic!("expected a resync, got {other:?}"),
        }
        hub.publish_delta(&Values::of(&[("a", 1)]));
        assert!(matches!(follower.next().await, Followed::Event(e) if e.seq == start + 301));
    }
}
