//! The store's metrics, `esplora_history_*`, in its own sub-registry.
//!
//! Labels are enums, so a typo is a compile error rather than a new
//! series; prometheus-client's derive writes a variant's name as the label
//! value, which is why the variants are spelled as the values are.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// What became of a change handed to the store.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Outcome {
    /// Committed to the file.
    stored,
    /// The writer's queue was full: dropped before it reached the writer.
    queue_full,
    /// Its batch's write failed (a full or failing disk).
    write_failed,
}

/// Why old data was deleted.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Trim {
    /// Older than its retention.
    retention,
    /// The store was over `max_bytes`.
    max_bytes,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: Trim,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: WriteResult,
}

#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum WriteResult {
    ok,
    failed,
}

#[derive(Clone)]
pub struct Metrics {
    values: Family<OutcomeLabel, Counter>,
    writes: Family<ResultLabel, Counter>,
    trimmed: Family<ReasonLabel, Counter>,
    bytes: Gauge,
}

impl Metrics {
    /// The store's metrics, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let metrics = Metrics {
            values: Family::default(),
            writes: Family::default(),
            trimmed: Family::default(),
            bytes: Gauge::default(),
        };
        registry.register(
            "values",
            "Changes handed to the history store, by what became of them",
            metrics.values.clone(),
        );
        registry.register(
            "writes",
            "Batches the history writer committed, or failed to",
            metrics.writes.clone(),
        );
        registry.register(
            "trimmed_rows",
            "Rows of old history deleted, by reason",
            metrics.trimmed.clone(),
        );
        registry.register(
            "bytes",
            "Size of the history store, its free pages excluded",
            metrics.bytes.clone(),
        );
        metrics
    }

    pub fn values(&self, outcome: Outcome, n: u64) {
        self.values
            .get_or_create(&OutcomeLabel { outcome })
            .inc_by(n);
    }

    pub fn write(&self, result: WriteResult) {
        self.writes.get_or_create(&ResultLabel { result }).inc();
    }

    pub fn trimmed(&self, reason: Trim, rows: u64) {
        self.trimmed
            .get_or_create(&ReasonLabel { reason })
            .inc_by(rows);
    }

    pub fn bytes(&self, bytes: u64) {
        self.bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }
}
