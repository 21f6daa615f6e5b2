//! The daemon's counters, served as Prometheus text on `GET /metrics`.
//!
//! Each part of the pipeline gets a handle to one shared [`Metrics`] and
//! counts what it does through a named method, so the metric names live in
//! this file only. The counters are atomics: counting never takes a lock.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, linear_buckets};
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

/// A relay request's outcome (`ok`, `retry`, `rejected`) and HTTP status
/// (0 when there was no answer: refused, reset, timed out).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    outcome: &'static str,
    status: u16,
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
    relay: RelayMetrics,
}

/// Keeps a connection counted in `esplora_http_connections` while it lives.
pub struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The relay's share: see the `relay_*` methods.
struct RelayMetrics {
    requests: Family<RequestLabels, Counter>,
    events: Family<TypeLabel, Counter>,
    batch_size: Histogram,
    dropped: Family<ReasonLabel, Counter>,
    split: Counter,
    retries: Counter,
    up: Gauge,
    budget_remaining: Gauge,
    subscribers: Gauge,
}

impl RelayMetrics {
    fn register(registry: &mut Registry) -> Self {
        let relay = RelayMetrics {
            requests: Family::default(),
            events: Family::default(),
            batch_size: Histogram::new(linear_buckets(1.0, 1.0, 10)),
            dropped: Family::default(),
            split: Counter::default(),
            retries: Counter::default(),
            up: Gauge::default(),
            budget_remaining: Gauge::default(),
            subscribers: Gauge::default(),
        };
        relay.budget_remaining.set(-1);
        let registry = registry.sub_registry_with_prefix("relay");
        registry.register(
            "requests",
            "Publish requests to the relay, by outcome and HTTP status",
            relay.requests.clone(),
        );
        registry.register(
            "events_published",
            "Events the relay accepted, by type",
            relay.events.clone(),
        );
        registry.register(
            "batch_size",
            "Events in each accepted publish request",
            relay.batch_size.clone(),
        );
        registry.register(
            "events_dropped",
            "Events not relayed, by reason (a later snapshot carries their state)",
            relay.dropped.clone(),
        );
        registry.register(
            "events_split",
            "Events over Pusher's 10 KB data limit, split into several",
            relay.split.clone(),
        );
        registry.register(
            "retries",
            "Failed publishes followed by another attempt after a backoff",
            relay.retries.clone(),
        );
        registry.register(
            "up",
            "1 while the last publish request succeeded",
            relay.up.clone(),
        );
        registry.register(
            "budget_remaining",
            "Messages left in today's daily_message_budget (UTC); -1 without a budget",
            relay.budget_remaining.clone(),
        );
        registry.register(
            "subscribers",
            "Subscribers of the relay channel, as the relay last reported them",
            relay.subscribers.clone(),
        );
        relay
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
        let relay = RelayMetrics::register(&mut registry);
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
            relay,
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

    /// One publish request to the relay and its outcome; `status` 0: no answer.
    pub fn relay_request(&self, outcome: &'static str, status: u16) {
        self.relay
            .requests
            .get_or_create(&RequestLabels { outcome, status })
            .inc();
    }

    /// A publish the relay accepted.
    pub fn relay_published(&self, kinds: impl Iterator<Item = EventKind>) {
        let mut size = 0_u32;
        for kind in kinds {
            size += 1;
            self.relay
                .events
                .get_or_create(&TypeLabel {
                    r#type: kind.as_str(),
                })
                .inc();
        }
        self.relay.batch_size.observe(f64::from(size));
    }

    pub fn relay_dropped(&self, reason: &'static str, events: usize) {
        if events > 0 {
            self.relay
                .dropped
                .get_or_create(&ReasonLabel { reason })
                .inc_by(events as u64);
        }
    }

    pub fn relay_split(&self) {
        self.relay.split.inc();
    }

    pub fn relay_retry(&self) {
        self.relay.retries.inc();
    }

    pub fn relay_up(&self, up: bool) {
        self.relay.up.set(i64::from(up));
    }

    /// Messages left today; `None`: no budget.
    pub fn relay_budget_remaining(&self, remaining: Option<u64>) {
        self.relay
            .budget_remaining
            .set(remaining.map_or(-1, |left| i64::try_from(left).unwrap_or(i64::MAX)));
    }

    pub fn relay_subscribers(&self, subscribers: u64) {
        self.relay
            .subscribers
            .set(i64::try_from(subscribers).unwrap_or(i64::MAX));
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
