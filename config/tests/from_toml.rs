//! `Config::from_toml` end to end: defaults, the full example, and that every
//! kind of mistake is reported at the right line and key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use esplora_config::{
    CommandsConfig, Config, ConfigError, FieldConfig, HistoryConfig, HttpConfig, InputConfig,
    InputSpec, LogConfig, LogFormat, MqttConfig, Names, RelayConfig, ReplayRate, TransformConfig,
};
use esplora_parser::Number;

const ORIGIN: &str = "/etc/esplora-bridge/config.toml";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new(ORIGIN))
}

/// The error for `text`, with its line, column and key, after checking that
/// it names the file and that its text is built from those parts.
fn error(text: &str) -> (usize, usize, Option<String>, String) {
    let error = parse(text).expect_err("the config should be refused");
    let shown = error.to_string();
    let ConfigError::Invalid {
        file,
        line,
        column,
        key,
        message,
    } = error;
    assert_eq!(file, PathBuf::from(ORIGIN));
    let expected = match &key {
        Some(key) => format!("{ORIGIN}:{line}:{column}: {key}: {message}"),
        None => format!("{ORIGIN}:{line}:{column}: {message}"),
    };
    assert_eq!(shown, expected);
    (line, column, key, message)
}

fn named(key: &str) -> Option<String> {
    Some(key.to_owned())
}

/// Every key of the schema, set to a value other than its default.
const FULL_EXAMPLE: &str = include_str!("full.toml");

#[test]
fn empty_file_gives_the_defaults() {
    let config = parse("").unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(config.input.spec, InputSpec::Auto);
    assert_eq!(config.input.replay_rate, None);
    assert!(!config.input.exit_at_eof);
    assert_eq!(
        config.http.listen,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.http.history, 1024);
    assert_eq!(config.http.keepalive_secs, 15);
    assert_eq!(config.http.max_connections, 65536);
    assert_eq!(config.http.max_header_bytes, 16384);
    assert_eq!(config.http.max_body_bytes, 4096);
    assert_eq!(config.http.max_ws_frame_bytes, 65536);
    assert_eq!(config.http.header_timeout_secs, 10);
    assert_eq!(config.http.body_timeout_secs, 10);
    assert!(config.http.allowed_hosts.is_empty());
    assert_eq!(config.http.token, None);
    assert!(config.http.allowed_origins.is_empty());
    assert_eq!(config.transform.max_rate_hz, 50.0);
    assert_eq!(config.transform.keyframe_secs, 10);
    assert!(config.fields.is_empty());
    assert_eq!(config.input.sequence_key.as_deref(), Some("n"));
    assert_eq!(config.names, Names::default());
    assert_eq!(config.relay, None);
    assert_eq!(config.log.format, LogFormat::Text);
    assert!(!config.commands.enabled, "commands are off unless enabled");
    // Comments and empty sections are still "nothing set".
    assert_eq!(
        parse("# nothing\n[input]\n[http]\n").unwrap(),
        Config::default()
    );
}

#[test]
fn full_example_parses_to_its_values() {
    let config = parse(FULL_EXAMPLE).unwrap();
    let expected = Config {
        input: InputConfig {
            spec: InputSpec::Serial {
                path: "/dev/ttyACM0".into(),
                baud: 9600,
            },
            replay_rate: Some(ReplayRate::Hz(100.0)),
            exit_at_eof: true,
            sequence_key: Some("seq".to_owned()),
        },
        http: HttpConfig {
            listen: "0.0.0.0:9090".parse().unwrap(),
            history: 4096,
            keepalive_secs: 5,
            max_connections: 100,
            max_header_bytes: 8192,
            max_body_bytes: 1024,
            max_ws_frame_bytes: 2048,
            header_timeout_secs: 3,
            body_timeout_secs: 4,
            token: Some("0123456789abcdef-token".to_owned()),
            token_file: None,
            allowed_origins: vec![
                "https://example.com".to_owned(),
                "http://localhost:3000".to_owned(),
            ],
            allowed_hosts: vec![
                "bridge.lan".to_owned(),
                "192.168.1.20".to_owned(),
                "[fd00::20]".to_owned(),
            ],
        },
        transform: TransformConfig {
            max_rate_hz: 20.5,
            keyframe_secs: 30,
        },
        names: config.names.clone(),
        fields: BTreeMap::from([
            (
                "accel_x".to_owned(),
                FieldConfig {
                    deadband: Some(2.0),
                    ..FieldConfig::default()
                },
            ),
            (
                "temp_C".to_owned(),
                FieldConfig {
                    label: Some("Temperature".to_owned()),
                    unit: Some("°C".to_owned()),
                    min: Some(Number::Int(-10)),
                    max: Some(Number::Float(50.5)),
                    deadband: Some(0.1),
                    decimals: Some(1),
                },
            ),
        ]),
        relay: Some(RelayConfig {
            url: vec![
                "https://api-eu.pusher.com".to_owned(),
                "https://api-us2.pusher.com".to_owned(),
            ],
            app_id: "1234".to_owned(),
            key: "app-key".to_owned(),
            secret: Some("s3cr3t".to_owned()),
            secret_file: None,
            channel: "private-esplora".to_owned(),
            event: "sample".to_owned(),
            max_rate_hz: 2.5,
            daily_message_budget: Some(200_000),
        }),
        log: LogConfig {
            format: LogFormat::Json,
        },
        mqtt: Some(MqttConfig {
            url: "mqtts://broker.example:8883".to_owned(),
            ca_file: Some(PathBuf::from("/etc/ssl/broker-ca.pem")),
            client_id: Some("bridge-1".to_owned()),
            username: Some("bridge".to_owned()),
            password: Some("mqtt-s3cr3t".to_owned()),
            password_file: None,
            topic_prefix: Some("home/esplora".to_owned()),
            qos: 0,
            max_rate_hz: 0.0,
            per_field_topics: true,
            homeassistant: true,
        }),
        commands: CommandsConfig { enabled: true },
        history: HistoryConfig {
            enabled: false,
            path: Some("/srv/esplora/history.sqlite".into()),
            raw_retention: Duration::from_secs(36 * 3600),
            rollup_retention: Duration::from_secs(90 * 86_400),
            max_bytes: 500_000_000,
        },
    };
    assert_eq!(config, expected);
    assert_eq!(config.names.name_of("s"), "slider");
    assert_eq!(config.names.name_of("u"), "knob");
    assert_eq!(config.names.name_of("x"), "accel_x");
    assert_eq!(config.names.name_of("q"), "q");
}

#[test]
fn mqtt_defaults_and_what_is_refused() {
    let config = parse("[mqtt]\nurl = \"mqtt://127.0.0.1\"\n").unwrap();
    let mqtt = config.mqtt.unwrap();
    assert_eq!((mqtt.qos, mqtt.max_rate_hz), (1, 10.0));
    assert!(!mqtt.per_field_topics && !mqtt.homeassistant);
    assert_eq!(mqtt.topic_prefix, None);
    for (text, error) in [
        ("url = \"http://x\"", "must start with mqtt:// or mqtts://"),
        ("url = \"mqtt://\"", "expected mqtt://HOST[:PORT]"),
        ("url = \"mqtt://h:0\"", "invalid port"),
        ("url = \"mqtt://h\"\nqos = 2", "mqtt.qos"),
        (
            "url = \"mqtt://h\"\ntopic_prefix = \"a/#\"",
            "invalid topic prefix",
        ),
        (
            "url = \"mqtt://h\"\ntopic_prefix = \"a//b\"",
            "invalid topic prefix",
        ),
        (
            "url = \"mqtt://h\"\npassword = \"p\"\npassword_file = \"f\"",
            "either `password` or `password_file`",
        ),
    ] {
        let message = parse(&format!("[mqtt]\n{text}\n")).unwrap_err().to_string();
        assert!(message.contains(error), "{text}: {message}");
    }
    let debug = format!(
        "{:?}",
        parse("[mqtt]\nurl = \"mqtt://h\"\npassword = \"hunter22\"\n").unwrap()
    );
    assert!(!debug.contains("hunter22"), "{debug}");
}

#[test]
fn relay_defaults_and_secret_file() {
    let config = parse(
        "[relay]\nurl = \"http://127.0.0.1:6001\"\napp_id = \"app-id\"\nkey = \"app-key\"\nsecret_file = \"/etc/esplora-bridge/relay-secret\"\n",
    )
    .unwrap();
    let relay = config.relay.unwrap();
    assert_eq!(relay.secret, None);
    assert_eq!(
        relay.secret_file,
        Some(PathBuf::from("/etc/esplora-bridge/relay-secret"))
    );
    assert_eq!(relay.channel, "esplora");
    assert_eq!(relay.event, "reading");
    assert_eq!(relay.max_rate_hz, 10.0);
    assert_eq!(relay.daily_message_budget, None);
}

#[test]
fn relay_debug_hides_the_secret() {
    let config = parse(FULL_EXAMPLE).unwrap();
    let shown = format!("{:?}", config);
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(!shown.contains("0123456789abcdef-token"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}

#[test]
fn replay_rate_takes_integers_floats_and_max() {
    let rate = |text: &str| {
        parse(&format!("[input]\nreplay_rate = {text}\n"))
            .unwrap()
            .input
            .replay_rate
    };
    assert_eq!(rate("250"), Some(ReplayRate::Hz(250.0)));
    assert_eq!(rate("12.5"), Some(ReplayRate::Hz(12.5)));
    assert_eq!(rate("\"max\""), Some(ReplayRate::Max));
    assert_eq!(rate("\"40\""), Some(ReplayRate::Hz(40.0)));
}

#[test]
fn rate_limits_take_integers_and_zero_means_no_limit() {
    let config = parse("[transform]\nmax_rate_hz = 0\n").unwrap();
    assert_eq!(config.transform.max_rate_hz, 0.0);
    let config = parse(
        "[relay]\nurl = \"http://h\"\napp_id = \"a\"\nkey = \"k\"\nsecret = \"s\"\nmax_rate_hz = 3\n",
    )
    .unwrap();
    assert_eq!(config.relay.map(|relay| relay.max_rate_hz), Some(3.0));
}

#[test]
fn windows_line_endings_and_a_byte_order_mark() {
    let (line, column, key, _) = error("\u{feff}[http]\r\nhistory = 0\r\n");
    assert_eq!((line, column, key), (2, 11, named("http.history")));
}

#[test]
fn the_sequence_key_may_be_renamed_or_none() {
    let key = |text: &str| {
        parse(&format!("[input]\nsequence_key = {text}\n"))
            .unwrap()
            .input
            .sequence_key
    };
    assert_eq!(key("\"seq\""), Some("seq".to_owned()));
    assert_eq!(key("\"número\""), Some("número".to_owned()));
    assert_eq!(key("\"none\""), None);
}

#[test]
fn names_take_any_label() {
    let config = parse("[names]\n\"hum_%\" = \"humidity\"\n\"µT\" = \"field\"\n").unwrap();
    assert_eq!(config.names.name_of("hum_%"), "humidity");
    assert_eq!(config.names.name_of("µT"), "field");
}

#[test]
fn names_may_be_swapped_and_added() {
    let config = parse("[names]\ns = \"accel_x\"\nx = \"slider\"\nq = \"pressure\"\n").unwrap();
    assert_eq!(config.names.name_of("s"), "accel_x");
    assert_eq!(config.names.name_of("x"), "slider");
    assert_eq!(config.names.name_of("q"), "pressure");
}

#[test]
fn unknown_top_level_section() {
    let (line, column, key, message) = error("[http]\nhistory = 5\n\n[bogus]\nx = 1\n");
    assert_eq!((line, column, key), (4, 2, named("bogus")));
    assert!(message.starts_with("unknown field `bogus`"), "{message}");
}

#[test]
fn unknown_key_in_commands() {
    let (line, column, key, message) = error("[commands]\nenabled = true\nrate = true\n");
    assert_eq!((line, column, key), (3, 1, named("commands.rate")));
    assert!(
        message.starts_with("unknown field `rate`, expected `enabled`"),
        "{message}"
    );
}

#[test]
fn unknown_key_in_http() {
    let (line, column, key, message) =
        error("[http]\nlisten = \"127.0.0.1:1\"\nlisten_port = 80\n");
    assert_eq!((line, column, key), (3, 1, named("http.listen_port")));
    assert!(
        message.starts_with("unknown field `listen_port`, expected"),
        "{message}"
    );
}

#[test]
fn wrong_type() {
    let (line, column, key, message) = error("[http]\nhistory = \"many\"\n");
    assert_eq!((line, column, key), (2, 11, named("http.history")));
    assert_eq!(
        message,
        "invalid type: string \"many\", expected an integer from 1 to 1000000"
    );
}

#[test]
fn bad_socket_address() {
    let (line, column, key, message) = error("\n[http]\nhistory = 8\nlisten = \"nope\"\n");
    assert_eq!((line, column, key), (4, 10, named("http.listen")));
    assert!(
        message.starts_with("invalid socket address \"nope\""),
        "{message}"
    );
}

#[test]
fn bad_input_spec() {
    let (line, _, key, message) = error("[input]\nspec = \"floppy:x\"\n");
    assert_eq!((line, key), (2, named("input.spec")));
    assert_eq!(
        message,
        "unknown input spec \"floppy:x\": expected auto, serial:PATH, serial:PATH@BAUD, file:PATH, - or demo"
    );
}

#[test]
fn zero_replay_rate() {
    let (line, column, key, message) = error("[input]\nspec = \"-\"\nreplay_rate = 0\n");
    assert_eq!((line, column, key), (3, 15, named("input.replay_rate")));
    assert_eq!(
        message,
        "invalid value: integer `0`, expected a positive number of lines per second, or \"max\""
    );
}

#[test]
fn word_replay_rate() {
    let (line, _, key, message) = error("[input]\nreplay_rate = \"fast\"\n");
    assert_eq!((line, key), (2, named("input.replay_rate")));
    assert!(
        message.starts_with("invalid replay rate \"fast\""),
        "{message}"
    );
}

#[test]
fn relay_without_a_secret_points_at_its_header() {
    let (line, column, key, message) = error(
        "[http]\nhistory = 8\n\n[relay]\nurl = \"http://127.0.0.1:6001\"\napp_id = \"a\"\nkey = \"k\"\n",
    );
    assert_eq!((line, column, key), (4, 2, named("relay")));
    assert!(message.contains("`secret` or `secret_file`"), "{message}");
}

#[test]
fn relay_with_both_secrets_points_at_the_second() {
    let (line, _, key, message) = error(
        "[relay]\nurl = \"http://h\"\napp_id = \"a\"\nkey = \"k\"\nsecret = \"s\"\nsecret_file = \"/f\"\n",
    );
    assert_eq!((line, key), (6, named("relay.secret_file")));
    assert!(message.contains("not both"), "{message}");
}

#[test]
fn relay_missing_url_names_the_field() {
    let (line, _, key, message) = error("[relay]\napp_id = \"a\"\nkey = \"k\"\nsecret = \"s\"\n");
    assert_eq!((line, key), (1, named("relay.url")));
    assert_eq!(message, "missing field `url`");
}

#[test]
fn relay_url_scheme() {
    let (line, _, key, message) = error(
        "[relay]\nurl = \"ws://127.0.0.1:6001\"\napp_id = \"a\"\nkey = \"k\"\nsecret = \"s\"\n",
    );
    assert_eq!((line, key), (2, named("relay.url")));
    assert!(
        message.contains("must start with http:// or https://"),
        "{message}"
    );
}

#[test]
fn relay_url_may_be_one_string_or_a_list() {
    let relay = |url: &str| {
        parse(&format!(
            "[relay]\nurl = {url}\napp_id = \"a\"\nkey = \"k\"\nsecret = \"s\"\n"
        ))
        .unwrap()
        .relay
        .unwrap()
        .url
    };
    assert_eq!(relay("\"http://a:6001\""), ["http://a:6001"]);
    assert_eq!(
        relay("[\"http://a:6001\", \"http://b:6001\"]"),
        ["http://a:6001", "http://b:6001"]
    );
}

#[test]
fn relay_url_list_errors_name_the_key() {
    let cases = [
        ("[]", "the list of relay URLs is empty"),
        (
            "[\"http://a\", \"ws://b\"]",
            "must start with http:// or https://",
        ),
        ("[\"http://a\", \"http://a\"]", "listed twice"),
        ("[\"http://a\", 3]", "invalid type"),
        ("3", "a URL string or a list of them"),
    ];
    for (url, expected) in cases {
        let (line, _, key, message) = error(&format!(
            "[relay]\napp_id = \"a\"\nurl = {url}\nkey = \"k\"\nsecret = \"s\"\n"
        ));
        assert_eq!((line, key), (3, named("relay.url")), "{url}: {message}");
        assert!(message.contains(expected), "{url}: {message}");
    }
}

#[test]
fn toml_syntax_error() {
    let (line, column, key, message) = error("[http]\nhistory = 8\n[input\nspec = \"demo\"\n");
    assert_eq!((line, column, key), (3, 7, None));
    assert!(message.contains("unclosed table"), "{message}");
}

#[test]
fn syntax_error_inside_a_value_still_names_the_key() {
    let (line, _, key, message) = error("[http]\nlisten = 127.0.0.1:8080\n");
    assert_eq!((line, key), (2, named("http.listen")));
    assert!(message.contains("must be in quotes"), "{message}");
    let (line, _, key, message) = error("[input]\nspec = demo\n");
    assert_eq!((line, key), (2, named("input.spec")));
    assert!(message.contains("must be quoted"), "{message}");
}

#[test]
fn history_defaults_and_sizes() {
    let history = parse("").unwrap().history;
    assert!(history.enabled);
    assert_eq!(history.path, None);
    assert_eq!(history.raw_retention, Duration::from_secs(7 * 86_400));
    assert_eq!(history.rollup_retention, Duration::from_secs(400 * 86_400));
    assert_eq!(history.max_bytes, 1 << 30);
    let history = parse("[history]\nmax_bytes = 2000000\n").unwrap().history;
    assert_eq!(history.max_bytes, 2_000_000);
}

#[test]
fn bad_history_values_each_name_their_key() {
    let cases = [
        (
            "raw_retention = \"soon\"",
            "history.raw_retention",
            "not a duration",
        ),
        (
            "raw_retention = \"10s\"",
            "history.raw_retention",
            "too short",
        ),
        (
            "raw_retention = 7",
            "history.raw_retention",
            "duration string",
        ),
        ("max_bytes = \"lots\"", "history.max_bytes", "not a size"),
        ("max_bytes = \"1KiB\"", "history.max_bytes", "too small"),
        ("max_bytes = -1", "history.max_bytes", "invalid value"),
        ("path = \"\"", "history.path", "empty"),
        ("enabled = \"yes\"", "history.enabled", "invalid type"),
        (
            "raw_retention = \"30d\"\nrollup_retention = \"7d\"",
            "history.rollup_retention",
            "at least as long",
        ),
    ];
    for (text, key, why) in cases {
        let (line, _, found, message) = error(&format!("[history]\n{text}\n"));
        assert_eq!(found, named(key), "{text}");
        assert!(line >= 2, "{text}: line {line}");
        assert!(message.contains(why), "{text}: {message}");
    }
}

#[test]
fn bad_values_each_name_their_key() {
    let cases = [
        ("[http]\nhistory = 0\n", "http.history", 2),
        ("[http]\nhistory = 1000001\n", "http.history", 2),
        (
            "[transform]\nkeyframe_secs = 0\n",
            "transform.keyframe_secs",
            2,
        ),
        (
            "[transform]\nmax_rate_hz = -1\n",
            "transform.max_rate_hz",
            2,
        ),
        (
            "[transform]\nmax_rate_hz = nan\n",
            "transform.max_rate_hz",
            2,
        ),
        (
            "[fields.accel_x]\ndeadband = -2\n",
            "fields.accel_x.deadband",
            2,
        ),
        (
            "[fields.accel_x]\ndeadband = nan\n",
            "fields.accel_x.deadband",
            2,
        ),
        ("[fields.x]\ndeadband = 2\n", "fields.x", 1),
        ("[fields.q]\ndecimals = 16\n", "fields.q.decimals", 2),
        ("[fields.q]\ndecimals = 1.5\n", "fields.q.decimals", 2),
        ("[fields.q]\nlabel = \"\"\n", "fields.q.label", 2),
        ("[fields.q]\nunit = 3\n", "fields.q.unit", 2),
        ("[fields.q]\nmin = \"low\"\n", "fields.q.min", 2),
        ("[fields.q]\nmax = inf\n", "fields.q.max", 2),
        ("[fields.q]\nmin = 5\nmax = 5.0\n", "fields.q.max", 3),
        ("[fields.q]\ncolour = \"red\"\n", "fields.q.colour", 2),
        ("[fields]\n\"\" = {}\n", "fields.\"\"", 2),
        (
            "[transform.deadband]\naccel_x = 2\n",
            "transform.deadband",
            1,
        ),
        ("[input]\nsequence_key = \"a b\"\n", "input.sequence_key", 2),
        ("[input]\nsequence_key = \"\"\n", "input.sequence_key", 2),
        ("[input]\nreplay_rate = nan\n", "input.replay_rate", 2),
        ("[input]\nreplay_rate = -3.5\n", "input.replay_rate", 2),
        (
            "[input]\nspec = \"serial:/dev/ttyACM0@fast\"\n",
            "input.spec",
            2,
        ),
        ("[input]\nexit_at_eof = \"yes\"\n", "input.exit_at_eof", 2),
        ("[names]\n\"bad key\" = \"x\"\n", "names.\"bad key\"", 2),
        (
            "[names]\nabcdefghijklmnopqrstuvwxyz0123456 = \"x\"\n",
            "names.abcdefghijklmnopqrstuvwxyz0123456",
            2,
        ),
        ("[names]\ns = \"\"\n", "names.s", 2),
        ("[names]\nq = \"slider\"\n", "names.q", 2),
        ("[names]\nq = 3\n", "names.q", 2),
        ("[log]\nformat = \"yaml\"\n", "log.format", 2),
        ("[http]\nkeepalive_secs = 0\n", "http.keepalive_secs", 2),
        ("[http]\nkeepalive_secs = 3601\n", "http.keepalive_secs", 2),
        ("[commands]\nenabled = \"yes\"\n", "commands.enabled", 2),
        ("[commands]\nenabled = 1\n", "commands.enabled", 2),
        ("log.format = \"yaml\"\n", "log.format", 1),
        ("log = { format = \"yaml\" }\n", "log.format", 1),
        (
            "[relay]\nurl = \"http://h\"\napp_id = \"a b\"\nkey = \"k\"\nsecret = \"s\"\n",
            "relay.app_id",
            3,
        ),
        (
            "[relay]\nurl = \"http://h\"\napp_id = \"a\"\nkey = \"k\"\nsecret = \"\"\n",
            "relay.secret",
            5,
        ),
        (
            "[relay]\nurl = \"http://h\"\napp_id = \"a\"\nkey = \"k\"\nsecret = \"s\"\nchannel = \"a b\"\n",
            "relay.channel",
            6,
        ),
        (
            "[relay]\nurl = \"http://h\"\napp_id = \"a\"\nkey = \"k\"\nsecret = \"s\"\nmax_rate_hz = 0\n",
            "relay.max_rate_hz",
            6,
        ),
        (
            "[relay]\nurl = \"http://h\"\napp_id = \"a\"\nkey = \"k\"\nsecret = \"s\"\ndaily_message_budget = 0\n",
            "relay.daily_message_budget",
            6,
        ),
    ];
    for (text, expected_key, expected_line) in cases {
        let (line, _, key, message) = error(text);
        assert_eq!(key.as_deref(), Some(expected_key), "{text:?}: {message}");
        assert_eq!(line, expected_line, "{text:?}: {message}");
    }
}

#[test]
fn secret_is_not_echoed_in_errors() {
    let error = parse("[relay]\nurl = \"http://h\"\napp_id = \"a\"\nkey = \"k\"\nsecret = 12345\n")
        .unwrap_err();
    assert!(!error.to_string().contains("12345"), "{error}");
    assert!(error.to_string().contains("relay.secret"), "{error}");
}

#[test]
fn http_limits_are_range_checked_where_they_stand() {
    for (text, key, expected) in [
        (
            "[http]\nmax_connections = 0\n",
            "http.max_connections",
            "expected an integer from 1 to 1000000",
        ),
        (
            "[http]\nmax_header_bytes = 1024\n",
            "http.max_header_bytes",
            "expected an integer from 8192 to 1048576",
        ),
        (
            "[http]\nmax_body_bytes = -1\n",
            "http.max_body_bytes",
            "expected an integer from 1 to 1048576",
        ),
        (
            "[http]\nmax_ws_frame_bytes = 100\n",
            "http.max_ws_frame_bytes",
            "expected an integer from 1024 to 16777216",
        ),
        (
            "[http]\nheader_timeout_secs = 0\n",
            "http.header_timeout_secs",
            "expected an integer from 1 to 3600",
        ),
        (
            "[http]\nbody_timeout_secs = 3601\n",
            "http.body_timeout_secs",
            "expected an integer from 1 to 3600",
        ),
    ] {
        let (line, column, named_key, message) = error(text);
        assert_eq!(
            (line, column, named_key),
            (2, text.find(" = ").unwrap() - 3, named(key)),
            "{text}"
        );
        assert!(message.ends_with(expected), "{text}: {message}");
    }
}

#[test]
fn a_bad_token_is_refused_without_being_quoted() {
    let (line, _, key, message) = error("[http]\ntoken = \"short-secret\"\n");
    assert_eq!((line, key), (2, named("http.token")));
    assert_eq!(message, "the token must be 16 to 256 characters long");
    let (_, _, key, message) = error("[http]\ntoken = \"0123456789abcdef;secret\"\n");
    assert_eq!(key, named("http.token"));
    assert!(!message.contains("secret"), "{message}");
    let (line, _, key, message) =
        error("[http]\ntoken = \"0123456789abcdef\"\ntoken_file = \"/t\"\n");
    assert_eq!((line, key), (3, named("http.token_file")));
    assert!(message.contains("not both"), "{message}");
}

#[test]
fn origins_are_scheme_host_and_port() {
    let config = parse("[http]\nallowed_origins = [\"https://a.example:8443\"]\n").unwrap();
    assert_eq!(config.http.allowed_origins, ["https://a.example:8443"]);
    for bad in [
        "a.example",
        "https://a.example/path",
        "https://",
        "https://A.example",
    ] {
        let text = format!("[http]\nallowed_origins = [\"https://ok.example\", \"{bad}\"]\n");
        let (line, column, key, message) = error(&text);
        assert_eq!((line, key), (2, named("http.allowed_origins")), "{bad}");
        // The column points at the bad one, not the first.
        assert_eq!(column, 42, "{bad}");
        assert!(message.starts_with("invalid origin"), "{bad}: {message}");
    }
}

#[test]
fn hosts_are_names_or_addresses_without_a_port() {
    let config =
        parse("[http]\nallowed_hosts = [\"bridge.lan\", \"10.0.0.2\", \"::1\", \"[fd00::1]\"]\n")
            .unwrap();
    assert_eq!(
        config.http.allowed_hosts,
        ["bridge.lan", "10.0.0.2", "::1", "[fd00::1]"]
    );
    for bad in [
        "bridge.lan:8080",
        "http://bridge.lan",
        "Bridge.lan",
        "bridge..lan",
        "",
        "*.lan",
        "[10.0.0.2]:80",
    ] {
        let text = format!("[http]\nallowed_hosts = [\"ok.lan\", \"{bad}\"]\n");
        let (line, column, key, message) = error(&text);
        assert_eq!((line, key), (2, named("http.allowed_hosts")), "{bad}");
        // The column points at the bad one, not the first.
        assert_eq!(column, 28, "{bad}");
        assert!(message.starts_with("invalid host"), "{bad}: {message}");
    }
}
