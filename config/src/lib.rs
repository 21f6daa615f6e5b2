//! The esplora-bridge config file: its schema, its defaults, and errors that
//! say where in the file a value is wrong.
//!
//! The crate parses text and does no I/O: the daemon reads the file and calls
//! [`Config::from_toml`] with the text and the path. Options that the command
//! line and environment share with the file ([`InputSpec`], [`ReplayRate`],
//! [`LogFormat`]) implement `FromStr`, so all three accept the same syntax.
//!
//! # Layout
//!
//! - `schema`: the shape of the file, one struct per section, with the
//!   defaults. Start here to learn what can be configured.
//! - `input`: [`InputSpec`] and [`ReplayRate`], the values with their own
//!   text syntax (`serial:PATH@BAUD`, `max`).
//! - `names`: [`Names`], board key -> JSON field name.
//! - `described`: the Esplora's built-in field descriptions, and
//!   [`Config::field_descriptions`], which lays `[fields]` over them.
//! - `fields`: the single-value checks, run while deserializing so that
//!   errors keep their position.
//! - `parse`: [`Config::from_toml`] and the checks across fields.
//! - `locate`: byte span -> line, column and dotted key.
//! - `error`: [`ConfigError`] (a file) and [`ValueError`] (one value).
//!
//! # The file
//!
//! Every key and section is optional; an empty file gives
//! [`Config::default()`]. Unknown keys are errors.
//!
//! ```toml
//! [input]
//! spec = "auto"              # auto | serial:PATH | serial:PATH@BAUD | file:PATH | - | demo
//! replay_rate = 100          # lines/s (integer or float > 0) or "max"; absent = recorded timing, else 100
//! exit_at_eof = false        # exit 0 after a replay ends
//! sequence_key = "n"         # the label of the board's line counter, or "none"
//!
//! [http]
//! listen = "127.0.0.1:8080"  # IP:PORT
//! history = 1024             # events kept for resume, 1..=1000000
//! keepalive_secs = 15        # SSE comment / WebSocket ping interval, 1..=3600
//! max_connections = 65536    # one more is answered 503
//! max_header_bytes = 16384   # request head; larger is 431, 8192..=1048576
//! max_body_bytes = 4096      # request body; larger is 413
//! max_ws_frame_bytes = 65536 # a client's WebSocket frame; larger closes with 1009
//! header_timeout_secs = 10   # to send a request head; also the keep-alive idle time
//! body_timeout_secs = 10     # to send a whole request body; else 408 and closed
//! token_file = "/etc/esplora-bridge/token"   # or token = "...": bearer auth on all but /healthz
//! allowed_origins = ["https://example.com"]  # other origins allowed WebSocket and CORS
//! allowed_hosts = ["bridge.lan"]  # Host names answered without a token, besides loopback
//!
//! [transform]
//! max_rate_hz = 50           # local publish rate limit, >= 0; 0 = no limit
//! keyframe_secs = 10         # a full snapshot at least this often, >= 1
//!
//! [fields."temp_C"]          # by JSON name; every key optional
//! label = "Temperature"      # non-empty text
//! unit = "°C"                # non-empty text
//! min = -10                  # chart range: integers or decimals, min < max
//! max = 50
//! deadband = 0.1             # republished only when it moved by more; >= 0
//! decimals = 1               # digits the page shows after the point, 0..=15
//!
//! [names]                    # board key -> JSON name, over the defaults
//! s = "slider"
//!
//! [relay]                    # absent = no relay
//! url = "http://127.0.0.1:6001"   # http:// or https://; or a list, tried in order on failure
//! app_id = "app-id"
//! key = "app-key"
//! secret_file = "/etc/esplora-bridge/relay-secret"   # or secret = "...", not both
//! channel = "esplora"
//! event = "reading"
//! max_rate_hz = 10           # > 0
//! daily_message_budget = 200000   # optional, >= 1
//!
//! [mqtt]                     # absent = no MQTT sink
//! url = "mqtt://127.0.0.1:1883"   # mqtt:// or mqtts://
//! ca_file = "/etc/ssl/broker-ca.pem"   # optional, for mqtts://
//! client_id = "esplora-bridge-kitchen" # default esplora-bridge-<host name>
//! username = "bridge"        # optional
//! password_file = "/etc/esplora-bridge/mqtt-password"   # or password = "...", not both
//! topic_prefix = "esplora-bridge/kitchen"   # default esplora-bridge/<host name>
//! qos = 1                    # 0 | 1
//! max_rate_hz = 10           # >= 0; 0 = no limit
//! per_field_topics = false   # also <prefix>/<field>, the bare value
//! homeassistant = false      # Home Assistant discovery under homeassistant/
//!
//! [log]
//! format = "text"            # text | json
//!
//! [commands]
//! enabled = false            # let WebSocket clients set the LED and play tones
//!
//! [history]                  # the embedded store (SQLite)
//! enabled = true             # false: memory only, as http.history
//! path = "/var/lib/esplora-bridge/history.sqlite"   # default: see HistoryConfig::path
//! raw_retention = "7d"       # every change (per-second rollups: a day at most); at least "1m"
//! rollup_retention = "400d"  # per-minute rollups; at least raw_retention
//! max_bytes = "1GiB"         # the oldest data is trimmed to stay under; at least 1MiB
//! ```
//!
//! The fields of [`Config`] and its section structs document each key.
//!
//! # Errors
//!
//! Every problem, from a TOML syntax error to a relay with no secret, is a
//! [`ConfigError::Invalid`] whose text reads like
//! `/etc/esplora-bridge/config.toml:7:10: http.listen: invalid socket address "nope": ...`.

mod described;
mod error;
mod fields;
mod input;
mod locate;
mod names;
mod parse;
mod schema;

pub use error::{ConfigError, ValueError};
pub use fields::valid_token;
pub use input::{InputSpec, ReplayRate};
pub use names::Names;
pub use schema::{
    CommandsConfig, Config, FieldConfig, HistoryConfig, HttpConfig, InputConfig, LogConfig,
    LogFormat, MqttConfig, RelayConfig, TransformConfig,
};
