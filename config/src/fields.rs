//! Deserializers that each check one value: ranges, socket addresses, the
//! relay's URL and names.
//!
//! Every check that needs only the value itself runs here, inside
//! `Deserialize`, not after the whole file is read: toml then attaches the
//! value's span to the error, and `locate` turns it into a
//! line, column and key. The schema in `schema` refers to
//! these with `deserialize_with`, so its field types stay plain (`u64`,
//! `SocketAddr`, `String`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use esplora_parser::Number;
use serde::de::{self, Deserialize, Deserializer, Unexpected, Visitor};

use crate::schema::FieldConfig;

/// Deserializes a string and hands it to `parse`. `expecting` finishes serde's
/// "invalid type: integer `3`, expected ..." when the value is not a string.
pub(crate) fn parse_str<'de, D, T, E>(
    deserializer: D,
    expecting: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    E: fmt::Display,
{
    struct StrVisitor<F> {
        expecting: &'static str,
        parse: F,
    }

    impl<T, E: fmt::Display, F: FnOnce(&str) -> Result<T, E>> Visitor<'_> for StrVisitor<F> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }

        fn visit_str<Er: de::Error>(self, value: &str) -> Result<T, Er> {
            (self.parse)(value).map_err(Er::custom)
        }
    }

    deserializer.deserialize_str(StrVisitor { expecting, parse })
}

/// Deserializes an integer in `range`.
fn integer<'de, D: Deserializer<'de>>(
    deserializer: D,
    range: RangeInclusive<u64>,
) -> Result<u64, D::Error> {
    struct IntegerVisitor(RangeInclusive<u64>);

    impl Visitor<'_> for IntegerVisitor {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match (*self.0.start(), *self.0.end()) {
                (0, u64::MAX) => f.write_str("a non-negative integer"),
                (min, u64::MAX) => write!(f, "an integer of at least {min}"),
                (min, max) => write!(f, "an integer from {min} to {max}"),
            }
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
            match u64::try_from(value) {
                Ok(value) => self.visit_u64(value),
                Err(_) => Err(E::invalid_value(Unexpected::Signed(value), &self)),
            }
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
            if self.0.contains(&value) {
                Ok(value)
            } else {
                Err(E::invalid_value(Unexpected::Unsigned(value), &self))
            }
        }
    }

    deserializer.deserialize_u64(IntegerVisitor(range))
}

/// Deserializes a finite rate in hertz from a TOML integer or float; zero is
/// accepted only where it means "no limit".
fn hertz<'de, D: Deserializer<'de>>(deserializer: D, zero_allowed: bool) -> Result<f64, D::Error> {
    struct HertzVisitor {
        zero_allowed: bool,
    }

    impl HertzVisitor {
        fn check<E: de::Error>(&self, hz: f64, unexpected: Unexpected<'_>) -> Result<f64, E> {
            let lowest_ok = if self.zero_allowed {
                hz >= 0.0
            } else {
                hz > 0.0
            };
            if hz.is_finite() && lowest_ok {
                Ok(hz)
            } else {
                Err(E::invalid_value(unexpected, self))
            }
        }
    }

    impl Visitor<'_> for HertzVisitor {
        type Value = f64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            if self.zero_allowed {
                f.write_str("a number of hertz, 0 or more (0 = no limit)")
            } else {
                f.write_str("a positive number of hertz")
            }
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
            self.check(value as f64, Unexpected::Signed(value))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
            self.check(value as f64, Unexpected::Unsigned(value))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
            self.check(value, Unexpected::Float(value))
        }
    }

    deserializer.deserialize_f64(HertzVisitor { zero_allowed })
}

/// Deserializes a string that must not be empty.
fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    parse_str(deserializer, "a non-empty string", |text| {
        if text.is_empty() {
            Err("must not be empty")
        } else {
            Ok(text.to_owned())
        }
    })
}

/// The upper bound of `http.history`: a million events is already hundreds of
/// megabytes of JSON kept in memory.
const MAX_HISTORY: u64 = 1_000_000;

pub(crate) fn listen<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    parse_str(deserializer, "a socket address string", |text| {
        text.parse::<SocketAddr>().map_err(|_| {
            format!(
                "invalid socket address {text:?}: expected IP:PORT, such as \"127.0.0.1:8080\" or \"[::1]:8080\" (host names are not resolved)"
            )
        })
    })
}

pub(crate) fn history<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let events = integer(deserializer, 1..=MAX_HISTORY)?;
    usize::try_from(events).map_err(de::Error::custom)
}

/// The upper bound of `http.keepalive_secs`: proxies and NAT boxes drop idle
/// connections after a few minutes, so a longer interval keeps nothing alive.
const MAX_KEEPALIVE_SECS: u64 = 3600;

pub(crate) fn keepalive<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    integer(deserializer, 1..=MAX_KEEPALIVE_SECS)
}

/// Usize bounds for the `[http]` limits; the lower bounds are what a
/// well-behaved client needs (hyper's read buffer is at least 8 KB).
pub(crate) fn max_connections<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<usize, D::Error> {
    size(deserializer, 1..=1_000_000)
}

pub(crate) fn max_header_bytes<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<usize, D::Error> {
    size(deserializer, 8192..=1 << 20)
}

pub(crate) fn max_body_bytes<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<usize, D::Error> {
    size(deserializer, 1..=1 << 20)
}

pub(crate) fn max_ws_frame_bytes<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<usize, D::Error> {
    size(deserializer, 1024..=16 << 20)
}

pub(crate) fn header_timeout<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    integer(deserializer, 1..=3600)
}

pub(crate) fn body_timeout<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    integer(deserializer, 1..=3600)
}

fn size<'de, D: Deserializer<'de>>(
    deserializer: D,
    range: RangeInclusive<u64>,
) -> Result<usize, D::Error> {
    usize::try_from(integer(deserializer, range)?).map_err(de::Error::custom)
}

/// The characters a token may use: URL- and header-safe as they are, so
/// that `?token=` and `Authorization` carry it unescaped.
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/' | '=')
}

pub(crate) fn token<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    // As for `secret`: no message quotes the value.
    let text = secret(deserializer)?.unwrap_or_default();
    if !(16..=256).contains(&text.len()) {
        return Err(de::Error::custom(
            "the token must be 16 to 256 characters long",
        ));
    }
    if !text.chars().all(token_char) {
        return Err(de::Error::custom(
            "the token may use only A-Z a-z 0-9 - . _ ~ + / =",
        ));
    }
    Ok(Some(text))
}

/// Whether `token` (from a token file) is one [`token`] would accept.
pub fn valid_token(token: &str) -> bool {
    (16..=256).contains(&token.len()) && token.chars().all(token_char)
}

pub(crate) fn origins<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    /// One origin, checked where it stands so that an error points at it.
    struct Origin(String);

    impl<'de> Deserialize<'de> for Origin {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            parse_str(deserializer, "an origin string", |text| {
                let host = text
                    .strip_prefix("http://")
                    .or_else(|| text.strip_prefix("https://"));
                match host {
                    Some(host)
                        if !host.is_empty()
                            && !host.contains(['/', '?', '#', '@'])
                            && !text
                                .chars()
                                .any(|c| c.is_whitespace() || c.is_ascii_uppercase()) =>
                    {
                        Ok(Origin(text.to_owned()))
                    }
                    _ => Err(format!(
                        "invalid origin {text:?}: expected scheme://host[:port] in lower case, such as \"https://example.com\", with no path"
                    )),
                }
            })
        }
    }

    let origins = Vec::<Origin>::deserialize(deserializer)?;
    Ok(origins.into_iter().map(|Origin(text)| text).collect())
}

pub(crate) fn hosts<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    /// One host, checked where it stands so that an error points at it.
    struct Host(String);

    impl<'de> Deserialize<'de> for Host {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            parse_str(deserializer, "a host name or IP address string", |text| {
                if valid_host(text) {
                    Ok(Host(text.to_owned()))
                } else {
                    Err(format!(
                        "invalid host {text:?}: expected a host name in lower case or an IP address, with no scheme or port, such as \"bridge.lan\", \"192.168.1.20\" or \"fd00::20\""
                    ))
                }
            })
        }
    }

    let hosts = Vec::<Host>::deserialize(deserializer)?;
    Ok(hosts.into_iter().map(|Host(text)| text).collect())
}

/// An IP address (IPv6 bare or in brackets), or a DNS name: dot-separated
/// labels of 1 to 63 of `a-z 0-9 -`, at most 253 bytes in all.
fn valid_host(text: &str) -> bool {
    let bare = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(text);
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    (1..=253).contains(&text.len())
        && text.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

pub(crate) fn rate_limit<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    hertz(deserializer, true)
}

pub(crate) fn positive_rate<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    hertz(deserializer, false)
}

pub(crate) fn positive_integer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<u64, D::Error> {
    integer(deserializer, 1..=u64::MAX)
}

pub(crate) fn optional_positive_integer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    positive_integer(deserializer).map(Some)
}

/// The table `[fields]`: JSON field name -> description.
pub(crate) fn field_table<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, FieldConfig>, D::Error> {
    /// A field's JSON name; a newtype so that a bad one is reported at the
    /// key, not at the whole table.
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    struct Field(String);

    impl<'de> Deserialize<'de> for Field {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            non_empty(deserializer).map(Field)
        }
    }

    let table = BTreeMap::<Field, FieldConfig>::deserialize(deserializer)?;
    Ok(table
        .into_iter()
        .map(|(Field(name), field)| (name, field))
        .collect())
}

/// `input.sequence_key`: a label, or `"none"`.
pub(crate) fn sequence_key<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    parse_str(deserializer, "a label or \"none\"", |text| match text {
        "none" => Ok(None),
        _ if esplora_parser::is_label(text) => Ok(Some(text.to_owned())),
        _ => Err(format!(
            "invalid sequence key {text:?}: expected \"none\" or a label of 1 to 32 bytes with no space, tab, `,`, `:`, `*` or control character"
        )),
    })
}

/// A description's text (`label`, `unit`): any non-empty string.
pub(crate) fn optional_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    non_empty(deserializer).map(Some)
}

/// A chart bound: a TOML integer stays an integer, a float must be finite.
pub(crate) fn bound<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Number>, D::Error> {
    struct BoundVisitor;

    impl Visitor<'_> for BoundVisitor {
        type Value = Number;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a finite number")
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Number, E> {
            Ok(Number::Int(value))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Number, E> {
            i64::try_from(value)
                .map(Number::Int)
                .map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Number, E> {
            if value.is_finite() {
                Ok(Number::Float(value))
            } else {
                Err(E::invalid_value(Unexpected::Float(value), &self))
            }
        }
    }

    deserializer.deserialize_any(BoundVisitor).map(Some)
}

/// A deadband: a finite number, 0 or more, integer or decimal.
pub(crate) fn deadband<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<f64>, D::Error> {
    struct DeadbandVisitor;

    impl Visitor<'_> for DeadbandVisitor {
        type Value = f64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number, 0 or more")
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
            if value >= 0 {
                Ok(value as f64)
            } else {
                Err(E::invalid_value(Unexpected::Signed(value), &self))
            }
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
            Ok(value as f64)
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
            if value.is_finite() && value >= 0.0 {
                Ok(value)
            } else {
                Err(E::invalid_value(Unexpected::Float(value), &self))
            }
        }
    }

    deserializer.deserialize_f64(DeadbandVisitor).map(Some)
}

/// The most digits after the point worth showing of an `f64`.
const MAX_DECIMALS: u64 = 15;

pub(crate) fn decimals<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u8>, D::Error> {
    let digits = integer(deserializer, 0..=MAX_DECIMALS)?;
    u8::try_from(digits).map(Some).map_err(de::Error::custom)
}

/// One relay URL: `http://` or `https://`, with a host, no white space.
fn check_relay_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    match rest {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            Err(format!("relay URL {text:?} has no host"))
        }
        Some(_) if text.chars().any(char::is_whitespace) => {
            Err(format!("relay URL {text:?} contains white space"))
        }
        Some(_) => Ok(text.to_owned()),
        None => Err(format!(
            "relay URL {text:?} must start with http:// or https://"
        )),
    }
}

/// `[relay] url`: one URL, or a non-empty list of them (the nodes of a
/// cluster, tried in order on failure).
pub(crate) fn relay_urls<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    struct UrlsVisitor;

    impl<'de> Visitor<'de> for UrlsVisitor {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a URL string or a list of them")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Vec<String>, E> {
            check_relay_url(value)
                .map(|url| vec![url])
                .map_err(E::custom)
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut urls = Vec::new();
            while let Some(text) = seq.next_element::<String>()? {
                let url = check_relay_url(&text).map_err(de::Error::custom)?;
                if urls.contains(&url) {
                    return Err(de::Error::custom(format!(
                        "relay URL {url:?} is listed twice"
                    )));
                }
                urls.push(url);
            }
            if urls.is_empty() {
                return Err(de::Error::custom("the list of relay URLs is empty"));
            }
            Ok(urls)
        }
    }

    deserializer.deserialize_any(UrlsVisitor)
}

/// `app_id` and `key` go into the request path and query unescaped, so they
/// are held to the characters a URL never escapes. Pusher's are digits and
/// hex; self-hosted servers use names like `app-id`.
pub(crate) fn url_safe<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    parse_str(deserializer, "a string", |text| {
        let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~');
        if !text.is_empty() && text.chars().all(safe) {
            Ok(text.to_owned())
        } else {
            Err(format!(
                "{text:?} must be non-empty and use only letters, digits, '-', '_', '.' and '~'"
            ))
        }
    })
}

pub(crate) fn secret<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    /// Unlike serde's own messages, these never quote the value: a secret
    /// written without quotes is still a secret, and errors end up in logs.
    struct SecretVisitor;

    impl SecretVisitor {
        fn not_a_string<T, E: de::Error>(self) -> Result<T, E> {
            Err(E::custom("the secret must be a string, in quotes"))
        }
    }

    impl Visitor<'_> for SecretVisitor {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            if value.is_empty() {
                Err(E::custom("must not be empty"))
            } else {
                Ok(Some(value.to_owned()))
            }
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            self.not_a_string()
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            self.not_a_string()
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            self.not_a_string()
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            self.not_a_string()
        }
    }

    deserializer.deserialize_str(SecretVisitor)
}

pub(crate) fn optional_path<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PathBuf>, D::Error> {
    non_empty(deserializer).map(|path| Some(PathBuf::from(path)))
}

/// A retention: a humantime duration (`"7d"`, `"36h"`, `"90min"`) of at
/// least a minute, the smallest rollup.
pub(crate) fn retention<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<std::time::Duration, D::Error> {
    parse_str(deserializer, "a duration string such as \"7d\"", |text| {
        match humantime::parse_duration(text) {
            Ok(duration) if duration.as_secs() >= 60 => Ok(duration),
            Ok(_) => Err(format!("{text:?} is too short: keep at least \"1m\"")),
            Err(error) => Err(format!(
                "{text:?} is not a duration ({error}): write it like \"7d\", \"36h\" or \"90min\""
            )),
        }
    })
}

/// A size: a bytesize string (`"1GiB"`, `"500MB"`) or a number of bytes,
/// at least 1 MiB (the store's empty tables and WAL take some already).
pub(crate) fn max_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    const MIN: u64 = 1 << 20;
    struct SizeVisitor;

    impl SizeVisitor {
        fn check<E: de::Error>(bytes: u64) -> Result<u64, E> {
            if bytes >= MIN {
                Ok(bytes)
            } else {
                Err(E::custom(format!(
                    "{bytes} bytes is too small: at least 1MiB"
                )))
            }
        }
    }

    impl Visitor<'_> for SizeVisitor {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a size such as \"1GiB\" or \"500MB\", or a number of bytes")
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
            match u64::try_from(value) {
                Ok(value) => Self::check(value),
                Err(_) => Err(E::invalid_value(Unexpected::Signed(value), &self)),
            }
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
            Self::check(value)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
            match text.parse::<bytesize::ByteSize>() {
                Ok(size) => Self::check(size.as_u64()),
                Err(_) => Err(E::custom(format!(
                    "{text:?} is not a size: write it like \"1GiB\" or \"500MB\""
                ))),
            }
        }
    }

    deserializer.deserialize_any(SizeVisitor)
}

pub(crate) fn secret_file<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PathBuf>, D::Error> {
    non_empty(deserializer).map(|path| Some(PathBuf::from(path)))
}

/// Pusher's channel name rule; the relay would refuse anything else with a
/// 400 on every request, long after start-up.
pub(crate) fn channel<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    parse_str(deserializer, "a string", |text| {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_-=@,.;".contains(c);
        if (1..=164).contains(&text.len()) && text.chars().all(allowed) {
            Ok(text.to_owned())
        } else {
            Err(format!(
                "invalid channel name {text:?}: expected 1 to 164 of A-Z a-z 0-9 _ - = @ , . ;"
            ))
        }
    })
}

/// Pusher's event name limit, checked here for the same reason as
/// [`channel`].
pub(crate) fn event<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    parse_str(deserializer, "a string", |text| {
        if (1..=200).contains(&text.chars().count()) {
            Ok(text.to_owned())
        } else {
            Err(format!(
                "invalid event name {text:?}: expected 1 to 200 characters"
            ))
        }
    })
}

pub(crate) fn optional_non_empty<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    non_empty(deserializer).map(Some)
}

pub(crate) fn mqtt_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    parse_str(deserializer, "a URL string", |text| {
        let rest = text
            .strip_prefix("mqtt://")
            .or_else(|| text.strip_prefix("mqtts://"));
        let Some(rest) = rest else {
            return Err(format!(
                "MQTT URL {text:?} must start with mqtt:// or mqtts://"
            ));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                (host, Some(port))
            }
            _ => (authority, None),
        };
        if host.is_empty()
            || host.contains(['/', '@', '?', '#'])
            || host.chars().any(char::is_whitespace)
        {
            return Err(format!("MQTT URL {text:?}: expected mqtt://HOST[:PORT]"));
        }
        if port.is_some_and(|port| port.parse::<u16>().map_or(true, |port| port == 0)) {
            return Err(format!("MQTT URL {text:?} has an invalid port"));
        }
        Ok(text.to_owned())
    })
}

/// A topic prefix: levels separated by `/`, none empty, no wildcards.
pub(crate) fn topic_prefix<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    parse_str(deserializer, "a string", |text| {
        let valid = !text.is_empty()
            && text.len() <= 256
            && text.split('/').all(|level| !level.is_empty())
            && !text.contains(['+', '#', '\0']);
        if valid {
            Ok(Some(text.to_owned()))
        } else {
            Err(format!(
                "invalid topic prefix {text:?}: expected levels separated by '/', none empty, \
                 without '+' or '#'"
            ))
        }
    })
}

pub(crate) fn qos<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
    integer(deserializer, 0..=1).map(|qos| u8::try_from(qos).unwrap_or(1))
}
