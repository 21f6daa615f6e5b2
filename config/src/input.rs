//! Where readings come from: [`InputSpec`] and [`ReplayRate`].
//!
//! Both are written the same way on the command line (`--input`,
//! `--replay-rate`), in the environment and in the config file, so each is
//! defined once by its `FromStr`, and its `Deserialize` goes through that
//! `FromStr`. Their `Display` writes the same syntax back, so a value can be
//! logged and pasted into a command line.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Unexpected, Visitor};

use crate::error::ValueError;
use crate::fields;

/// The syntax of an input spec, for messages.
const SPEC_SYNTAX: &str = "auto, serial:PATH, serial:PATH@BAUD, file:PATH, - or demo";

/// What to read lines from (`--input`, `input.spec`).
///
/// | text | variant |
/// | --- | --- |
/// | `auto` | [`Auto`](Self::Auto) |
/// | `serial:PATH`, `serial:PATH@BAUD` | [`Serial`](Self::Serial) |
/// | `file:PATH` | [`File`](Self::File) |
/// | `-` | [`Stdin`](Self::Stdin) |
/// | `demo` | [`Demo`](Self::Demo) |
///
/// Relative paths are kept as written; they are relative to the daemon's
/// working directory, not to the config file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum InputSpec {
    /// Find the Esplora by USB vendor and product id and open it.
    #[default]
    Auto,
    /// A serial device, at `baud` ([`InputSpec::DEFAULT_BAUD`] unless
    /// `@BAUD` is given).
    Serial {
        /// The device, e.g. `/dev/ttyACM0`.
        path: PathBuf,
        /// Line speed in bits per second, at least 1.
        baud: u32,
    },
    /// Replay a capture file.
    File(PathBuf),
    /// Replay a capture from standard input.
    Stdin,
    /// The built-in simulated Esplora.
    Demo,
}

impl InputSpec {
    /// The baud rate of `serial:PATH` without `@BAUD`: the sketch's speed.
    pub const DEFAULT_BAUD: u32 = 115_200;
}

impl FromStr for InputSpec {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        match text {
            "auto" => return Ok(InputSpec::Auto),
            "-" => return Ok(InputSpec::Stdin),
            "demo" => return Ok(InputSpec::Demo),
            _ => {}
        }
        if let Some(rest) = text.strip_prefix("serial:") {
            let (path, baud) = match rest.rsplit_once('@') {
                Some((path, baud)) => (path, parse_baud(text, baud)?),
                None => (rest, InputSpec::DEFAULT_BAUD),
            };
            if path.is_empty() {
                return Err(ValueError::new(format!(
                    "input spec {text:?} has no device path: write serial:PATH or serial:PATH@BAUD"
                )));
            }
            return Ok(InputSpec::Serial {
                path: path.into(),
                baud,
            });
        }
        if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return Err(ValueError::new(format!(
                    "input spec {text:?} has no file path: write file:PATH"
                )));
            }
            return Ok(InputSpec::File(path.into()));
        }
        // A bare device path is the likeliest slip; say what to write instead.
        let hint = if text.starts_with("/dev/") {
            format!(" (for a serial device, write \"serial:{text}\")")
        } else {
            String::new()
        };
        Err(ValueError::new(format!(
            "unknown input spec {text:?}: expected {SPEC_SYNTAX}{hint}"
        )))
    }
}

fn parse_baud(spec: &str, baud: &str) -> Result<u32, ValueError> {
    // The digit check keeps out the "+9600" that `u32::from_str` would take.
    match baud.parse::<u32>() {
        Ok(rate) if rate > 0 && baud.bytes().all(|b| b.is_ascii_digit()) => Ok(rate),
        _ => Err(ValueError::new(format!(
            "input spec {spec:?}: baud rate {baud:?} is not a positive integer"
        ))),
    }
}

impl fmt::Display for InputSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputSpec::Auto => f.write_str("auto"),
            InputSpec::Serial { path, baud } => {
                let path = path.display().to_string();
                // A path with an `@` needs the explicit baud, or parsing it
                // back would take the part after the `@` for the baud.
                if *baud == InputSpec::DEFAULT_BAUD && !path.contains('@') {
                    write!(f, "serial:{path}")
                } else {
                    write!(f, "serial:{path}@{baud}")
                }
            }
            InputSpec::File(path) => write!(f, "file:{}", path.display()),
            InputSpec::Stdin => f.write_str("-"),
            InputSpec::Demo => f.write_str("demo"),
        }
    }
}

impl<'de> Deserialize<'de> for InputSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fields::parse_str(deserializer, "an input spec string", str::parse)
    }
}

/// How fast to replay a capture (`--replay-rate`, `input.replay_rate`).
///
/// Written as a number of lines per second (`100`, `12.5`) or `max`. In the
/// config file the number may be a TOML integer or float, or a string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReplayRate {
    /// This many lines per second; always positive and finite.
    Hz(f64),
    /// As fast as the pipeline takes them.
    Max,
}

impl ReplayRate {
    /// The rate of an untimed capture when none is configured: the sketch's
    /// 100 lines a second. (A timed capture replays with its own timing.)
    pub const DEFAULT: ReplayRate = ReplayRate::Hz(100.0);

    fn hz(value: f64) -> Option<Self> {
        (value.is_finite() && value > 0.0).then_some(ReplayRate::Hz(value))
    }
}

impl FromStr for ReplayRate {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        if text == "max" {
            return Ok(ReplayRate::Max);
        }
        text.parse::<f64>()
            .ok()
            .and_then(ReplayRate::hz)
            .ok_or_else(|| {
                ValueError::new(format!(
                    "invalid replay rate {text:?}: expected a positive number of lines per second, or \"max\""
                ))
            })
    }
}

impl fmt::Display for ReplayRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // f64's Display is the shortest text that parses back to it.
            ReplayRate::Hz(hz) => write!(f, "{hz}"),
            ReplayRate::Max => f.write_str("max"),
        }
    }
}

impl<'de> Deserialize<'de> for ReplayRate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ReplayRateVisitor)
    }
}

struct ReplayRateVisitor;

impl Visitor<'_> for ReplayRateVisitor {
    type Value = ReplayRate;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a positive number of lines per second, or \"max\"")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<ReplayRate, E> {
        ReplayRate::hz(value as f64)
            .ok_or_else(|| E::invalid_value(Unexpected::Signed(value), &self))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<ReplayRate, E> {
        ReplayRate::hz(value as f64)
            .ok_or_else(|| E::invalid_value(Unexpected::Unsigned(value), &self))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<ReplayRate, E> {
        ReplayRate::hz(value).ok_or_else(|| E::invalid_value(Unexpected::Float(value), &self))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<ReplayRate, E> {
        value.parse().map_err(E::custom)
    }
}
