//! The daemon's counters, served as Prometheus text on `GET /metrics`.
//!
//! Each part of the pipeline gets a handle to one shared [`Metrics`] and
//! counts what it does through a named method, so the metric names live in
//! this file only. The counters are atomics: counting never takes a lock.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::hub::EventKind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: &'static str,
}

pub struct Metrics {
    registry: Registry,
    lines_accepted: Counter,
    lines_rejected: Family<ReasonLabel, Counter>,
    lines_lost: Counter,
    events_published: Family<TypeLabel, Counter>,
    board_connected: Gauge,
    board_connects: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("esplora");
        let lines_accepted = Counter::default();
        let lines_rejected = Family::default();
        let lines_lost = Counter::default();
        let events_published = Family::default();
        let board_connected = Gauge::default();
        let board_connects = Counter::default();
        registry.register(
            "lines_accepted",
            "Lines parsed and accepted",
            lines_accepted.clone(),
        );
        registry.register(
            "lines_rejected",
            "Lines rejected, by reason",
            lines_rejected.clone(),
        );
        registry.register(
            "lines_lost",
            "Lines the board sent that never arrived, counted from gaps in `n`",
            lines_lost.clone(),
        );
        registry.register(
            "events_published",
            "Events published, by type",
            events_published.clone(),
        );
        registry.register(
            "board_connected",
            "1 while a board is feeding the pipeline",
            board_connected.clone(),
        );
        registry.register(
            "board_connects",
            "Times a board (or a replay) connected",
            board_connects.clone(),
        );
        Metrics {
            registry,
            lines_accepted,
            lines_rejected,
            lines_lost,
            events_published,
            board_connected,
            board_connects,
        }
    }

    pub fn line_accepted(&self) {
        self.lines_accepted.inc();
    }

    pub fn line_rejected(&self, reason: &'static str) {
        self.lines_rejected
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn lines_lost(&self, count: u64) {
        self.lines_lost.inc_by(count);
    }

    pub fn event_published(&self, kind: EventKind) {
        self.events_published
            .get_or_create(&TypeLabel {
                r#type: kind.as_str(),
            })
            .inc();
    }

    pub fn board_connected(&self, connected: bool) {
        self.board_connected.set(i64::from(connected));
        if connected {
            self.board_connects.inc();
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
