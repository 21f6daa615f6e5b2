//! A feed: the events one streaming client is sent, in order.
//!
//! It starts where [`Hub::follow`] says (the missed events, or a snapshot),
//! then takes each event from the client's broadcast receiver. The
//! broadcast ring is the client's bounded queue: a client that does not keep
//! up is not waited for; its receiver overflows and reports `Lagged`, and
//! the feed then starts it afresh from a new snapshot, which is counted.
//! So a stuck client costs at most what its socket buffers hold, and never
//! slows the pipeline or another client.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tracing::debug;

use crate::hub::{Event, Hub};
use crate::metrics::ClientMetrics;

pub struct Feed {
    hub: Arc<Hub>,
    /// Events to send before the receiver's.
    first: VecDeque<Arc<Event>>,
    events: Receiver<Arc<Event>>,
    /// Also keeps the client counted as connected while the feed lives.
    metrics: ClientMetrics,
}

impl Feed {
    /// A feed that resumes after `since`, if it can.
    pub fn new(hub: Arc<Hub>, since: Option<u64>, metrics: ClientMetrics) -> Feed {
        let follow = hub.follow(since);
        Feed {
            hub,
            first: follow.first.into(),
            events: follow.events,
            metrics,
        }
    }

    /// The next event to send; `None` once the hub has gone. Cancel safe.
    pub async fn next(&mut self) -> Option<Arc<Event>> {
        let event = match self.first.pop_front() {
            Some(event) => event,
            None => match self.events.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged(skipped)) => {
                    debug!(skipped, "a client fell behind; sending it a fresh snapshot");
                    self.metrics.resynced();
                    let follow = self.hub.follow(None);
                    self.events = follow.events;
                    self.first = follow.first.into();
                    self.first.pop_front()?
                }
                Err(RecvError::Closed) => return None,
            },
        };
        self.metrics.events_sent(1);
        Some(event)
    }
}
