//! The relay's metrics, `esplora_relay_*`, in the relay's own sub-registry.
//!
//! Labels are enums, so a typo is a compile error rather than a new
//! series. prometheus-client's derive writes a variant's name as the label
//! value, which is why the variants are spelled as the values are.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, linear_buckets};
use prometheus_client::registry::Registry;

use crate::hub::EventKind;

/// What became of a publish request.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Outcome {
    ok,
    retry,
    rejected,
}

/// Why an update was not relayed (a later one carries its state).
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Dropped {
    /// Merged into a later update while the relay was busy.
    superseded,
    /// Its publish failed and is not retried as it was.
    failed,
    /// The relay refused its publish (a 4xx).
    rejected,
    /// The relay fell behind the hub and started over from a snapshot.
    lagged,
    /// The daily budget was spent.
    budget,
    /// Still held when the stopping relay's deadline passed.
    shutdown,
    /// A field too large for Pusher's 10 KB even alone.
    too_large,
}

#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Type {
    snapshot,
    delta,
    status,
}

impl From<EventKind> for Type {
    fn from(kind: EventKind) -> Type {
        match kind {
            EventKind::Snapshot => Type::snapshot,
            EventKind::Delta => Type::delta,
            EventKind::Status => Type::status,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    outcome: Outcome,
    /// The HTTP status; 0 when there was no answer (refused, reset, timed
    /// out).
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: Dropped,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: Type,
}

#[derive(Clone)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    events: Family<TypeLabel, Counter>,
    batch_size: Histogram,
    dropped: Family<ReasonLabel, Counter>,
    split: Counter,
    retries: Counter,
    up: Gauge,
    budget_remaining: Gauge,
    subscribers: Gauge,
    node: Gauge,
}

impl Metrics {
    /// The relay's metrics, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let metrics = Metrics {
            requests: Family::default(),
            events: Family::default(),
            batch_size: Histogram::new(linear_buckets(1.0, 1.0, 10)),
            dropped: Family::default(),
            split: Counter::default(),
            retries: Counter::default(),
            up: Gauge::default(),
            budget_remaining: Gauge::default(),
            subscribers: Gauge::default(),
            node: Gauge::default(),
        };
        metrics.budget_remaining.set(-1);
        registry.register(
            "requests",
            "Publish requests to the relay, by outcome and HTTP status",
            metrics.requests.clone(),
        );
        registry.register(
            "events_published",
            "Events the relay accepted, by type",
            metrics.events.clone(),
        );
        registry.register(
            "batch_size",
            "Events in each accepted publish request",
            metrics.batch_size.clone(),
        );
        registry.register(
            "events_dropped",
            "Updates not relayed, by reason (a later one carries their state)",
            metrics.dropped.clone(),
        );
        registry.register(
            "events_split",
            "Updates over Pusher's 10 KB data limit, split into several events",
            metrics.split.clone(),
        );
        registry.register(
            "retries",
            "Failed publishes followed by another attempt after a backoff",
            metrics.retries.clone(),
        );
        registry.register(
            "up",
            "1 while the last publish request succeeded",
            metrics.up.clone(),
        );
        registry.register(
            "budget_remaining",
            "Messages left in today's daily_message_budget (UTC); -1 without a budget",
            metrics.budget_remaining.clone(),
        );
        registry.register(
            "subscribers",
            "Subscribers of the relay channel, as the relay last reported them",
            metrics.subscribers.clone(),
        );
        registry.register(
            "node",
            "The node requests go to: its place in [relay] url, from 0",
            metrics.node.clone(),
        );
        metrics
    }

    /// One publish request and its outcome; `status` 0: no answer.
    pub fn request(&self, outcome: Outcome, status: u16) {
        self.requests
            .get_or_create(&RequestLabels { outcome, status })
            .inc();
    }

    /// A publish the relay accepted.
    pub fn published(&self, kinds: impl Iterator<Item = EventKind>) {
        let mut size = 0_u32;
        for kind in kinds {
            size += 1;
            self.events
                .get_or_create(&TypeLabel {
                    r#type: kind.into(),
                })
                .inc();
        }
        self.batch_size.observe(f64::from(size));
    }

    pub fn dropped(&self, reason: Dropped, count: u64) {
        if count > 0 {
            self.dropped
                .get_or_create(&ReasonLabel { reason })
                .inc_by(count);
        }
    }

    pub fn split(&self) {
        self.split.inc();
    }

    pub fn retry(&self) {
        self.retries.inc();
    }

    pub fn up(&self, up: bool) {
        self.up.set(i64::from(up));
    }

    /// Messages left today; `None`: no budget.
    pub fn budget_remaining(&self, remaining: Option<u64>) {
        self.budget_remaining
            .set(remaining.map_or(-1, |left| i64::try_from(left).unwrap_or(i64::MAX)));
    }

    pub fn subscribers(&self, subscribers: u64) {
        self.subscribers
            .set(i64::try_from(subscribers).unwrap_or(i64::MAX));
    }

    /// The node requests go to, counted from 0 in `[relay] url`.
    pub fn node(&self, node: usize) {
        self.node.set(i64::try_from(node).unwrap_or(i64::MAX));
    }
}
