//! `esplora-bridge`: puts an Arduino Esplora's serial line stream, or any
//! sketch's that prints for the Serial Plotter, on the web.
//!
//! A reading flows left to right through these modules and never comes back:
//!
//! ```text
//! source ──lines──▶ transform (parse ▸ diff ▸ throttle) ──values──▶ hub ──events──▶ http
//!                                   │                                     └─events──▶ sink (relay, mqtt)
//!                                   └─every change──▶ store ◀──reads── http (/api/history), export
//! ```
//!
//! # Layout
//!
//! - [`cli`]: the command line (clap), and how it and the environment
//!   override the config file.
//! - [`source`]: where lines come from: a serial board, a capture file or
//!   stdin, or the built-in demo board. Each source frames its own byte
//!   stream, because only it knows when the stream restarts mid-line.
//! - [`capture`]: the timed capture format shared by `record` and replay.
//! - [`transform`]: parsing, lost-line counting, the diff with deadbands,
//!   and the throttle: pure state machines, no I/O.
//! - [`pipeline`]: the task that runs source events through the transforms
//!   into the hub.
//! - [`store`]: the history on disk (SQLite): every change before the
//!   throttle, with per-second and per-minute rollups, retention, and the
//!   queries `/api/history` and `export` answer from.
//! - [`hub`]: the published state: sequence numbers, the history ring, and
//!   the broadcast of encoded events to every consumer.
//! - [`http`]: the local HTTP server: its routes, the SSE, WebSocket and
//!   long-poll transports, the live page, and the fan-out: a writer task
//!   per core that writes the streams' shared bytes to many sockets.
//! - [`sink`]: the other consumers of the hub, each a folder of the same
//!   shape (config, build, run) with its own metrics and routes: the relay
//!   to a Pusher Channels API, and MQTT with Home Assistant discovery.
//! - [`command`]: commands from WebSocket clients to the board (LED, tone),
//!   validated, and carried back to the serial source.
//! - [`metrics`]: the counters behind `GET /metrics`.
//! - [`record`]: the `record` subcommand.
//! - [`export`]: the `export` subcommand, a reader of the history store.
//! - [`secret`]: secrets kept in files (relay secret, HTTP token).
//! - [`generate`]: the shell completions and man pages, written from the
//!   command line's definition for packaging.
//! - [`service`]: the `sd_notify` protocol: readiness, status, and the
//!   watchdog fed by the pipeline's heartbeat.
//! - [`shutdown`]: the signals, and the bounded wait for connections and
//!   sinks to finish.
//! - [`daemon`]: wires the parts together and runs them until the input
//!   ends or a signal arrives.

pub mod capture;
pub mod cli;
pub mod command;
pub mod daemon;
pub mod export;
pub mod generate;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod pipeline;
pub mod record;
pub mod secret;
pub mod service;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod store;
pub mod transform;
