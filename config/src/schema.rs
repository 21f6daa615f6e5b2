//! The shape of the config file: one struct per `[section]`, with its
//! defaults.
//!
//! Every section struct is `#[serde(default)]`, so any key or whole section
//! may be left out, and `deny_unknown_fields`, so a misspelt key is an error
//! rather than a silently ignored setting. Single-value checks are attached
//! with `deserialize_with` (see `fields`); checks across
//! fields are in `parse`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::Deserializer;

use esplora_parser::Number;

use crate::error::ValueError;
use crate::fields;
use crate::input::{InputSpec, ReplayRate};
use crate::names::Names;

/// The whole config file. `Config::default()` is what an empty file means.
///
/// Build it with [`Config::from_toml`]: deserializing it directly would skip
/// the checks across fields (relay secret, name clashes) and give errors
/// without a line or key.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[input]`: where readings come from.
    pub input: InputConfig,
    /// `[http]`: the local HTTP server.
    pub http: HttpConfig,
    /// `[transform]`: diffing and throttling between parser and sinks.
    pub transform: TransformConfig,
    /// `[names]`: the JSON name of each board key.
    pub names: Names,
    /// `[fields."NAME"]`: how each field is shown and published, keyed by
    /// JSON name. Only what the file says; [`Config::field_descriptions`]
    /// adds the built-in descriptions of the Esplora's fields.
    #[serde(deserialize_with = "fields::field_table")]
    pub fields: BTreeMap<String, FieldConfig>,
    /// `[relay]`: the Pusher-compatible relay; `None` (no section) means no
    /// relay.
    pub relay: Option<RelayConfig>,
    /// `[mqtt]`: the MQTT sink; `None` (no section) means none.
    pub mqtt: Option<MqttConfig>,
    /// `[log]`: how the daemon logs.
    pub log: LogConfig,
    /// `[commands]`: whether WebSocket clients may send commands to the board.
    pub commands: CommandsConfig,
    /// `[history]`: the embedded store of every change.
    pub history: HistoryConfig,
}

/// `[input]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputConfig {
    /// `spec`, as `--input`: `auto` (default), `serial:PATH`,
    /// `serial:PATH@BAUD`, `file:PATH`, `-` (stdin) or `demo`.
    pub spec: InputSpec,
    /// `replay_rate`, as `--replay-rate`: lines per second (a positive integer
    /// or float) or `"max"`. `None` (default): a timed capture replays with
    /// its recorded timing, any other at [`ReplayRate::DEFAULT`] (100 Hz).
    pub replay_rate: Option<ReplayRate>,
    /// `exit_at_eof`, as `--exit-at-eof`: when a replay ends, flush every sink
    /// and exit 0 instead of serving the last state on. Default `false`.
    pub exit_at_eof: bool,
    /// `sequence_key`: the label of the board's sequence number, which
    /// counts lost lines and is never published. A label (1 to 32 bytes,
    /// no separator, `:`, `*` or control character), or `"none"` when the
    /// sketch has no sequence number (`None` here), so that a reading
    /// labelled `n` is published like any other. Default `n`.
    #[serde(deserialize_with = "fields::sequence_key")]
    pub sequence_key: Option<String>,
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig {
            spec: InputSpec::default(),
            replay_rate: None,
            exit_at_eof: false,
            sequence_key: Some("n".to_owned()),
        }
    }
}

/// `[http]`
///
/// Besides the address, the limits that keep a hostile or broken client
/// from costing more than its share (see the README's "Limits and
/// security"), and access control. `Debug` does not print the token.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `listen`, as `--listen`: the socket address to serve on, `IP:PORT`.
    /// Default `127.0.0.1:8080`.
    #[serde(deserialize_with = "fields::listen")]
    pub listen: SocketAddr,
    /// `history`: how many events are kept so that a client that reconnects
    /// (`Last-Event-ID`, `?since=`, long poll) gets what it missed; 1 to
    /// 1 000 000. Default 1024.
    #[serde(deserialize_with = "fields::history")]
    pub history: usize,
    /// `keepalive_secs`: how often an idle stream is kept alive: an SSE
    /// comment line, a WebSocket ping. A WebSocket peer that has sent nothing
    /// (not even a pong) for two of these is dropped as dead; TCP keep-alive
    /// probes at this interval end half-open connections. 1 to 3600;
    /// default 15.
    #[serde(deserialize_with = "fields::keepalive")]
    pub keepalive_secs: u64,
    /// `max_connections`: open connections at most; one more is answered
    /// `503` and closed at once. 1 to 1 000 000; default 65536: an idle
    /// client costs the daemon about 3 KiB, so 50,000 about 150 MiB
    /// (BENCHMARKS.md).
    #[serde(deserialize_with = "fields::max_connections")]
    pub max_connections: usize,
    /// `max_header_bytes`: the largest request head (request line and
    /// headers); a larger one is answered `431`. 8192 to 1 048 576; default
    /// 16384.
    #[serde(deserialize_with = "fields::max_header_bytes")]
    pub max_header_bytes: usize,
    /// `max_body_bytes`: the largest request body; a larger one is answered
    /// `413`. 1 to 1 048 576; default 4096.
    #[serde(deserialize_with = "fields::max_body_bytes")]
    pub max_body_bytes: usize,
    /// `max_ws_frame_bytes`: the largest WebSocket frame or message a client
    /// may send; a larger one closes the connection with 1009. 1024 to
    /// 16 777 216; default 65536.
    #[serde(deserialize_with = "fields::max_ws_frame_bytes")]
    pub max_ws_frame_bytes: usize,
    /// `header_timeout_secs`: how long a connection may take to send a
    /// whole request head, counted from when it opens or its previous
    /// response ended; so it is also how long an idle keep-alive connection
    /// is kept. Slow or silent connections (slowloris) are closed after it.
    /// 1 to 3600; default 10.
    #[serde(deserialize_with = "fields::header_timeout")]
    pub header_timeout_secs: u64,
    /// `body_timeout_secs`: how long a request body may take to arrive in
    /// full once its head has been read; a body still incomplete then is
    /// answered `408` and its connection closed, so a client that stops
    /// sending mid-body cannot hold a connection. 1 to 3600; default 10.
    #[serde(deserialize_with = "fields::body_timeout")]
    pub body_timeout_secs: u64,
    /// `token`: when set (or `token_file`), every route but `/healthz`
    /// needs it: `Authorization: Bearer TOKEN`, or `?token=TOKEN` where a
    /// client cannot set headers (EventSource, the page). 16 to 256 of
    /// `A-Z a-z 0-9 - . _ ~ + / =`. Default none: no authentication.
    #[serde(default, deserialize_with = "fields::token")]
    pub token: Option<String>,
    /// `token_file`: a file holding the token, read at start. Not both.
    #[serde(default, deserialize_with = "fields::secret_file")]
    pub token_file: Option<PathBuf>,
    /// `allowed_origins`: origins (`https://host[:port]`) besides the
    /// server's own whose pages may open a WebSocket here and read answers
    /// (CORS). Default empty: same origin only; a client that sends no
    /// `Origin` (not a browser) is not affected.
    #[serde(deserialize_with = "fields::origins")]
    pub allowed_origins: Vec<String>,
    /// `allowed_hosts`: host names or IP addresses (no port) besides the
    /// loopback ones (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`) and
    /// the address a connection arrived at, that a request's `Host` may
    /// name. Without a token, any other `Host` is answered `421`, so that a
    /// page whose name was made to resolve to this server (DNS rebinding)
    /// reads nothing. Pages served under these names may also open the
    /// WebSocket. Default empty.
    #[serde(deserialize_with = "fields::hosts")]
    pub allowed_hosts: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            history: 1024,
            keepalive_secs: 15,
            max_connections: 65536,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 4096,
            max_ws_frame_bytes: 64 * 1024,
            header_timeout_secs: 10,
            body_timeout_secs: 10,
            token: None,
            token_file: None,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
        }
    }
}

impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("listen", &self.listen)
            .field("history", &self.history)
            .field("keepalive_secs", &self.keepalive_secs)
            .field("max_connections", &self.max_connections)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_ws_frame_bytes", &self.max_ws_frame_bytes)
            .field("header_timeout_secs", &self.header_timeout_secs)
            .field("body_timeout_secs", &self.body_timeout_secs)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .field("allowed_origins", &self.allowed_origins)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

/// `[transform]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformConfig {
    /// `max_rate_hz`: at most this many events a second reach local clients;
    /// the latest value wins and the last one is always sent. A number, 0 or
    /// more; 0 means no limit. Default 50.
    #[serde(deserialize_with = "fields::rate_limit")]
    pub max_rate_hz: f64,
    /// `keyframe_secs`: a full snapshot is published at least this often, in
    /// whole seconds, 1 or more. Default 10.
    #[serde(deserialize_with = "fields::positive_integer")]
    pub keyframe_secs: u64,
}

impl Default for TransformConfig {
    fn default() -> Self {
        TransformConfig {
            max_rate_hz: 50.0,
            keyframe_secs: 10,
        }
    }
}

/// `[fields."NAME"]`: one field's description, keyed by its JSON name
/// (`accel_x`, not `x`). Every key is optional.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldConfig {
    /// `label`: the name the page shows, such as `"Temperature"`; any
    /// non-empty text.
    #[serde(deserialize_with = "fields::optional_text")]
    pub label: Option<String>,
    /// `unit`: shown after the value, such as `"°C"`; any non-empty text.
    #[serde(deserialize_with = "fields::optional_text")]
    pub unit: Option<String>,
    /// `min`: the low end of the chart's range, an integer or a decimal;
    /// without it the range follows the data.
    #[serde(deserialize_with = "fields::bound")]
    pub min: Option<Number>,
    /// `max`: the high end, above `min` when both are set.
    #[serde(deserialize_with = "fields::bound")]
    pub max: Option<Number>,
    /// `deadband`: the field is republished only when it moved by more than
    /// this since the value last published; a number, 0 or more. Default 0:
    /// every change.
    #[serde(deserialize_with = "fields::deadband")]
    pub deadband: Option<f64>,
    /// `decimals`: how many digits after the point the page shows, 0 to 15.
    #[serde(deserialize_with = "fields::decimals")]
    pub decimals: Option<u8>,
}

impl FieldConfig {
    /// This description, with every key it leaves unset taken from `base`.
    pub fn over(&self, base: &FieldConfig) -> FieldConfig {
        FieldConfig {
            label: self.label.clone().or_else(|| base.label.clone()),
            unit: self.unit.clone().or_else(|| base.unit.clone()),
            min: self.min.or(base.min),
            max: self.max.or(base.max),
            deadband: self.deadband.or(base.deadband),
            decimals: self.decimals.or(base.decimals),
        }
    }
}

/// `[relay]`: publishing to a Pusher Channels HTTP API (Pusher itself, or a
/// compatible server such as sockudo).
///
/// `url`, `app_id`, `key` and exactly one of `secret` / `secret_file` are
/// required once the section is present. `Debug` does not print the secret.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// `url`: the API's base URL, `http://` or `https://`, such as
    /// `https://api-eu.pusher.com` or `http://127.0.0.1:6001`; or a list
    /// of them, the nodes of one cluster (such as sockudo nodes sharing a
    /// Redis), tried in order: the relay stays on a node until it fails
    /// (no answer, a timeout, a 5xx), then moves to the next. Required.
    #[serde(deserialize_with = "fields::relay_urls")]
    pub url: Vec<String>,
    /// `app_id`: the app's id (letters, digits, `-_.~`). Required.
    #[serde(deserialize_with = "fields::url_safe")]
    pub app_id: String,
    /// `key`: the app's key (letters, digits, `-_.~`). Required.
    #[serde(deserialize_with = "fields::url_safe")]
    pub key: String,
    /// `secret`: the app's signing secret, inline. Exactly one of `secret`
    /// and `secret_file` is set.
    #[serde(default, deserialize_with = "fields::secret")]
    pub secret: Option<String>,
    /// `secret_file`: a file holding the secret, read by the daemon at start
    /// (kept out of a world-readable config). Relative to the daemon's working
    /// directory.
    #[serde(default, deserialize_with = "fields::secret_file")]
    pub secret_file: Option<PathBuf>,
    /// `channel`: the channel events are published on. Default `esplora`.
    #[serde(default = "default_channel", deserialize_with = "fields::channel")]
    pub channel: String,
    /// `event`: the event name they are published as. Default `reading`.
    #[serde(default = "default_event", deserialize_with = "fields::event")]
    pub event: String,
    /// `max_rate_hz`: at most this many messages a second go to the relay,
    /// which bills by message; a positive number. Default 10.
    #[serde(
        default = "default_relay_rate",
        deserialize_with = "fields::positive_rate"
    )]
    pub max_rate_hz: f64,
    /// `daily_message_budget`: at most this many messages a day go to the
    /// relay (Pusher's plans are metered by the day); an integer, 1 or more.
    /// Default `None`, no budget.
    #[serde(default, deserialize_with = "fields::optional_positive_integer")]
    pub daily_message_budget: Option<u64>,
}

fn default_channel() -> String {
    "esplora".to_owned()
}

fn default_event() -> String {
    "reading".to_owned()
}

fn default_relay_rate() -> f64 {
    10.0
}

impl fmt::Debug for RelayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Config is logged at start-up; the secret must not end up in a log.
        f.debug_struct("RelayConfig")
            .field("url", &self.url)
            .field("app_id", &self.app_id)
            .field("key", &self.key)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_file", &self.secret_file)
            .field("channel", &self.channel)
            .field("event", &self.event)
            .field("max_rate_hz", &self.max_rate_hz)
            .field("daily_message_budget", &self.daily_message_budget)
            .finish()
    }
}

/// `[mqtt]`: publishing the state to an MQTT broker, with Home Assistant
/// discovery.
///
/// Only `url` is required. `Debug` does not print the password.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `url`: `mqtt://HOST[:PORT]` (default port 1883) or
    /// `mqtts://HOST[:PORT]` (TLS, default port 8883). Required.
    #[serde(deserialize_with = "fields::mqtt_url")]
    pub url: String,
    /// `ca_file`: a PEM file of the CA certificates an `mqtts://` broker is
    /// checked against, instead of the system's.
    #[serde(default, deserialize_with = "fields::secret_file")]
    pub ca_file: Option<PathBuf>,
    /// `client_id`: the MQTT client id. Default `esplora-bridge-<device>`.
    #[serde(default, deserialize_with = "fields::optional_non_empty")]
    pub client_id: Option<String>,
    /// `username`: for a broker that asks for one.
    #[serde(default, deserialize_with = "fields::optional_non_empty")]
    pub username: Option<String>,
    /// `password`: inline; at most one of `password` and `password_file`.
    #[serde(default, deserialize_with = "fields::secret")]
    pub password: Option<String>,
    /// `password_file`: a file holding the password, read at start.
    #[serde(default, deserialize_with = "fields::secret_file")]
    pub password_file: Option<PathBuf>,
    /// `topic_prefix`: where everything is published. Default
    /// `esplora-bridge/<device>`, the device being the host's name.
    #[serde(default, deserialize_with = "fields::topic_prefix")]
    pub topic_prefix: Option<String>,
    /// `qos`: 0 (at most once) or 1 (at least once, the default).
    #[serde(default = "default_qos", deserialize_with = "fields::qos")]
    pub qos: u8,
    /// `max_rate_hz`: at most this many state publishes a second; 0 = no
    /// limit. Default 10.
    #[serde(default = "default_mqtt_rate", deserialize_with = "fields::rate_limit")]
    pub max_rate_hz: f64,
    /// `per_field_topics`: also publish each field's bare value, retained,
    /// on `<prefix>/<field>`. Default `false`.
    #[serde(default)]
    pub per_field_topics: bool,
    /// `homeassistant`: publish Home Assistant discovery configs under
    /// `homeassistant/`. Default `false`.
    #[serde(default)]
    pub homeassistant: bool,
}

fn default_qos() -> u8 {
    1
}

fn default_mqtt_rate() -> f64 {
    10.0
}

impl fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Config is logged at start-up; the password must not end up in a log.
        f.debug_struct("MqttConfig")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_file", &self.password_file)
            .field("topic_prefix", &self.topic_prefix)
            .field("qos", &self.qos)
            .field("max_rate_hz", &self.max_rate_hz)
            .field("per_field_topics", &self.per_field_topics)
            .field("homeassistant", &self.homeassistant)
            .finish()
    }
}

/// `[history]`: the embedded store (SQLite) of every change the board
/// reported, with per-second and per-minute rollups.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// `enabled`: keep history on disk. Default `true`; `false` keeps only
    /// the in-memory event ring (`http.history`).
    pub enabled: bool,
    /// `path`: the store's file. Default `history.sqlite` under
    /// `$STATE_DIRECTORY` (systemd's `StateDirectory=`), else
    /// `$XDG_STATE_HOME/esplora-bridge/`, else
    /// `~/.local/state/esplora-bridge/`; the daemon resolves it, as this
    /// crate reads no environment.
    #[serde(deserialize_with = "fields::optional_path")]
    pub path: Option<PathBuf>,
    /// `raw_retention`: how long every change is kept, a duration such as
    /// `"7d"` or `"36h"`; the per-second rollups are kept a day, or this
    /// if shorter. Default 7 days.
    #[serde(deserialize_with = "fields::retention")]
    pub raw_retention: Duration,
    /// `rollup_retention`: how long the per-minute rollups are kept, at
    /// least `raw_retention`. Default 400 days.
    #[serde(deserialize_with = "fields::retention")]
    pub rollup_retention: Duration,
    /// `max_bytes`: the store's size cap, such as `"1GiB"` or `"500MB"`, at
    /// least 1 MiB; the oldest data is trimmed to stay under it. Default
    /// 1 GiB.
    #[serde(deserialize_with = "fields::max_bytes")]
    pub max_bytes: u64,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            enabled: true,
            path: None,
            raw_retention: Duration::from_secs(7 * 86_400),
            rollup_retention: Duration::from_secs(400 * 86_400),
            max_bytes: 1 << 30,
        }
    }
}

/// `[commands]`
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandsConfig {
    /// `enabled`: whether a WebSocket client's `{"type":"command",...}`
    /// frames (LED colour, tone) are written to a serial board. Anyone who
    /// can reach the HTTP server can then make the board beep, so the
    /// default is `false`, and such frames are answered with an error.
    pub enabled: bool,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `format`: `text` (default) for people, `json` (one object a line) for
    /// log collectors.
    pub format: LogFormat,
}

/// The log line format; parses from and displays as `text` / `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

impl FromStr for LogFormat {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(ValueError::new(format!(
                "unknown log format {text:?}: expected \"text\" or \"json\""
            ))),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fields::parse_str(deserializer, "a log format string", str::parse)
    }
}
