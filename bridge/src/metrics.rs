//! The daemon's counters, served as Prometheus text on `GET /metrics`.
//!
//! Each part of the pipeline gets a handle to one shared [`Metrics`] and
//! counts what it does through a named method, so the metric names live in
//! this file only. A sink owns its metrics instead: it registers them in a
//! sub-registry of its own ([`Metrics::sub_registry`]) when it is built.
//! The counters are atomics: counting never takes a lock.

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

/// A word a board printed for a value it could not show (`nan`, `inf`,
/// `-inf`, `ovf`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ValueLabel {
    value: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabel {
    transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabel {
    transport: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

pub struct Metrics {
    registry: Registry,
    lines_accepted: Counter,
    lines_rejected: Family<ReasonLabel, Counter>,
    lines_lost: Counter,
    values_skipped: Family<ValueLabel, Counter>,
    events_published: Family<TypeLabel, Counter>,
    board_connected: Gauge,
    board_connects: Counter,
    clients: Family<TransportLabel, Gauge>,
    events_sent: Family<TransportLabel, Counter>,
    clients_resynced: Family<TransportLabel, Counter>,
    clients_dropped: Family<DropLabel, Counter>,
    commands: Family<OutcomeLabel, Counter>,
    connections: Gauge,
    refused: Family<ReasonLabel, Counter>,
}

/// Keeps a connection counted in `esplora_http_connections` while it lives.
pub struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
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
        let values_skipped = Family::default();
        let events_published = Family::default();
        let board_connected = Gauge::default();
        let board_connects = Counter::default();
        let clients = Family::default();
        let events_sent = Family::default();
        let clients_resynced = Family::default();
        let clients_dropped = Family::default();
        let commands = Family::default();
        let connections = Gauge::default();
        let refused = Family::default();
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
            "values_skipped",
            "Fields of accepted lines whose value was nan, inf, -inf or ovf, which keep their previous value, by word",
            values_skipped.clone(),
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
        registry.register(
            "http_clients",
            "Local clients streaming (sse, ws) or waiting (poll), by transport",
            clients.clone(),
        );
        registry.register(
            "http_events_sent",
            "Events handed to local clients, by transport",
            events_sent.clone(),
        );
        registry.register(
            "http_clients_resynced",
            "Times a client fell behind and was sent a fresh snapshot instead, by transport",
            clients_resynced.clone(),
        );
        registry.register(
            "http_clients_dropped",
            "Clients the server disconnected, by transport and reason",
            clients_dropped.clone(),
        );
        registry.register(
            "commands",
            "Board commands from WebSocket clients, by outcome",
            commands.clone(),
        );
        registry.register(
            "http_connections",
            "Open connections to the local HTTP server",
            connections.clone(),
        );
        registry.register(
            "http_refused",
            "Connections and requests refused by a limit or access control, by reason",
            refused.clone(),
        );
        Metrics {
            registry,
            lines_accepted,
            lines_rejected,
            lines_lost,
            values_skipped,
            events_published,
            board_connected,
            board_connects,
            clients,
            events_sent,
            clients_resynced,
            clients_dropped,
            commands,
            connections,
            refused,
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

    pub fn value_skipped(&self, word: &'static str) {
        self.values_skipped
            .get_or_create(&ValueLabel { value: word })
            .inc();
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

    /// A client of `transport` has connected; it counts as connected until
    /// the returned handle is dropped.
    pub fn client_connected(&self, transport: &'static str) -> ClientMetrics {
        let label = TransportLabel { transport };
        let connected = self.clients.get_or_create(&label).clone();
        connected.inc();
        ClientMetrics {
            connected,
            sent: self.events_sent.get_or_create(&label).clone(),
            resynced: self.clients_resynced.get_or_create(&label).clone(),
        }
    }

    pub fn client_dropped(&self, transport: &'static str, reason: &'static str) {
        self.clients_dropped
            .get_or_create(&DropLabel { transport, reason })
            .inc();
    }

    /// A command's outcome: `sent`, `invalid`, or why it was refused.
    pub fn command(&self, outcome: &'static str) {
        self.commands.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// A connection has opened; it counts as open until the handle drops.
    pub fn connection_opened(&self) -> OpenConnection {
        self.connections.inc();
        OpenConnection(self.connections.clone())
    }

    /// A connection or request refused: `max_connections`, `bad_host`,
    /// `host`, `unauthorized`, `origin`, `body_too_large`, `body_timeout`.
    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// A registry for one component's own metrics, `esplora_<prefix>_*`:
    /// a sink registers its metrics there when it is built.
    pub fn sub_registry(&mut self, prefix: &str) -> &mut Registry {
        self.registry.sub_registry_with_prefix(prefix)
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// One connected client's counters, looked up once so that counting an event
/// is a single atomic add.
pub struct ClientMetrics {
    connected: Gauge,
    sent: Counter,
    resynced: Counter,
}

impl ClientMetrics {
    pub fn events_sent(&self, count: u64) {
        self.sent.inc_by(count);
    }

    pub fn resynced(&self) {
        self.resynced.inc();
    }
}

impl Drop for ClientMetrics {
    fn drop(&mut self) {
        self.connected.dec();
    }
}
