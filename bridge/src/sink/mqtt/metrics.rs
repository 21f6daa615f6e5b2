//! The MQTT sink's metrics, `esplora_mqtt_*`, in its own sub-registry,
//! with enum labels (spelled as the label values, which the derive copies).

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// What a publish carried.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Kind {
    state,
    field,
    availability,
    discovery,
    command_result,
}

/// Why an update was not published (a later one carries its state).
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Dropped {
    /// Merged into a later update (the broker was down or slow).
    superseded,
    /// The client's queue was full.
    queue_full,
    /// The sink fell behind the hub.
    lagged,
}

/// What became of a command.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Command {
    sent,
    invalid,
    refused,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: Kind,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: Dropped,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: Command,
}

#[derive(Clone)]
pub struct Metrics {
    published: Family<KindLabel, Counter>,
    dropped: Family<ReasonLabel, Counter>,
    commands: Family<OutcomeLabel, Counter>,
    connects: Counter,
    up: Gauge,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Metrics {
        let metrics = Metrics {
            published: Family::default(),
            dropped: Family::default(),
            commands: Family::default(),
            connects: Counter::default(),
            up: Gauge::default(),
        };
        registry.register(
            "published",
            "Messages handed to the MQTT client, by what they carry",
            metrics.published.clone(),
        );
        registry.register(
            "updates_dropped",
            "State updates not published, by reason (a later one carries their state)",
            metrics.dropped.clone(),
        );
        registry.register(
            "commands",
            "Board commands received over MQTT, by outcome",
            metrics.commands.clone(),
        );
        registry.register(
            "connects",
            "Connections the broker accepted",
            metrics.connects.clone(),
        );
        registry.register("up", "1 while connected to the broker", metrics.up.clone());
        metrics
    }

    pub fn published(&self, kind: Kind) {
        self.published.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn dropped(&self, reason: Dropped, count: u64) {
        if count > 0 {
            self.dropped
                .get_or_create(&ReasonLabel { reason })
                .inc_by(count);
        }
    }

    pub fn command(&self, outcome: Command) {
        self.commands.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    pub fn up(&self, up: bool) {
        if up {
            self.connects.inc();
        }
        self.up.set(i64::from(up));
    }
}
