//! A history request's parameters (`fields`, `from`, `to`, `step`,
//! `format`), parsed and checked the same way for `/api/history` and for
//! `export`, so that both take the same text and refuse it with the same
//! words: `bad query: <param>: <why>`.
//!
//! Times are RFC 3339 with an offset (jiff parses them), whole ms since the
//! epoch, `now`, or `-DURATION` before now; durations are humantime's
//! (`250ms`, `90s`, `2m`, `1h`, `7d`).

use std::fmt;

use super::bucket::{Buckets, nice_step};

/// The most buckets `/api/history` answers in one request.
pub const MAX_BUCKETS: usize = 10_000;

/// One parameter that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParam {
    pub param: &'static str,
    pub why: String,
}

impl BadParam {
    pub fn new(param: &'static str, why: impl Into<String>) -> BadParam {
        BadParam {
            param,
            why: why.into(),
        }
    }
}

impl fmt::Display for BadParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad query: {}: {}", self.param, self.why)
    }
}

impl std::error::Error for BadParam {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Ndjson,
}

/// A checked request: `from < to`, and `step` cuts them into an allowed
/// number of buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The fields asked for, in order; `None` for every field stored.
    pub fields: Option<Vec<String>>,
    pub buckets: Buckets,
    pub format: Format,
}

impl Request {
    /// Parses `params` (name, value; names it does not know are ignored,
    /// the first of a repeated name counts) at `now_ms`. `max_buckets`
    /// bounds the bucket count (`None`: no bound, for `export`).
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        now_ms: i64,
        max_buckets: Option<usize>,
    ) -> Result<Request, BadParam> {
        let (mut fields, mut from, mut to, mut step, mut format) = (None, None, None, None, None);
        for (name, value) in params {
            let slot = match name {
                "fields" => &mut fields,
                "from" => &mut from,
                "to" => &mut to,
                "step" => &mut step,
                "format" => &mut format,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        let fields = fields.map(parse_fields).transpose()?;
        let from = match from {
            Some(text) => time(text, now_ms).map_err(|why| BadParam::new("from", why))?,
            None => now_ms - 3_600_000,
        };
        let to = match to {
            Some(text) => time(text, now_ms).map_err(|why| BadParam::new("to", why))?,
            None => now_ms,
        };
        if from >= to {
            return Err(BadParam::new("from", "must be before to"));
        }
        let step = match step {
            Some(text) => parse_step(text)?,
            None => nice_step(from, to),
        };
        let buckets = Buckets::covering(from, to, step);
        if let Some(max) = max_buckets
            && buckets.count > max
        {
            return Err(BadParam::new(
                "step",
                format!(
                    "{} buckets, more than {max}: give a longer step",
                    buckets.count
                ),
            ));
        }
        let format = match format.unwrap_or("json") {
            "json" => Format::Json,
            "csv" => Format::Csv,
            "ndjson" => Format::Ndjson,
            other => {
                return Err(BadParam::new(
                    "format",
                    format!("{other:?} is not json, csv or ndjson"),
                ));
            }
        };
        Ok(Request {
            fields,
            buckets,
            format,
        })
    }
}

fn parse_fields(text: &str) -> Result<Vec<String>, BadParam> {
    text.split(',')
        .map(|name| {
            let name = name.trim();
            if name.is_empty() {
                Err(BadParam::new("fields", "an empty field name"))
            } else {
                Ok(name.to_owned())
            }
        })
        .collect()
}

/// A time in ms since the epoch.
fn time(text: &str, now_ms: i64) -> Result<i64, String> {
    if text == "now" {
        return Ok(now_ms);
    }
    if let Some(ago) = text.strip_prefix('-') {
        let ago = humantime::parse_duration(ago)
            .map_err(|error| format!("{text:?} is not a time before now ({error})"))?;
        return Ok(now_ms.saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX)));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| format!("{text:?} is too large for ms since the epoch"));
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            format!(
                "{text:?} is not a time: give RFC 3339 (2026-12-02T01:00:00Z), ms since the epoch, \
                 now, or -DURATION (-1h)"
            )
        })
}

fn parse_step(text: &str) -> Result<i64, BadParam> {
    let ms = if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
        text.parse::<i64>()
            .map_err(|_| BadParam::new("step", format!("{text:?} is too large")))?
    } else {
        let step = humantime::parse_duration(text).map_err(|error| {
            BadParam::new(
                "step",
                format!("{text:?} is not a duration ({error}): give 250ms, 1s, 2m, 1h or ms"),
            )
        })?;
        i64::try_from(step.as_millis())
            .map_err(|_| BadParam::new("step", format!("{text:?} is too large")))?
    };
    if ms < 1 {
        return Err(BadParam::new("step", "must be at least 1 ms"));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_173_200_000; // 2026-12-02T01:00:00Z

    fn parse(query: &[(&str, &str)]) -> Result<Request, BadParam> {
        Request::parse(query.iter().copied(), NOW, Some(MAX_BUCKETS))
    }

    #[test]
    fn defaults_are_the_last_hour_in_at_most_a_thousand_buckets_as_json() {
        let request = parse(&[]).unwrap();
        assert_eq!(request.fields, None);
        assert_eq!(request.format, Format::Json);
        assert_eq!(request.buckets.step, 5_000);
        assert_eq!(request.buckets.start, NOW - 3_600_000);
        assert_eq!(request.buckets.count, 720);
    }

    #[test]
    fn times_are_rfc3339_ms_now_or_relative() {
        for (text, ms) in [
            ("2026-12-02T01:00:00Z", NOW),
            ("2026-12-02T03:00:00+02:00", NOW),
            ("2026-12-02T00:59:59.250Z", NOW - 750),
            ("1796173200000", NOW),
            ("now", NOW),
            ("-90s", NOW - 90_000),
            ("-10m", NOW - 600_000),
            ("-24h", NOW - 86_400_000),
            ("-7d", NOW - 7 * 86_400_000),
        ] {
            assert_eq!(time(text, NOW), Ok(ms), "{text}");
        }
        for text in ["yesterday", "2026-12-02T01:00:00", "-", "-1 fortnight", ""] {
            assert!(time(text, NOW).is_err(), "{text}");
        }
    }

    #[test]
    fn steps_are_durations_or_ms() {
        let request = parse(&[("from", "-10m"), ("step", "250ms")]).unwrap();
        assert_eq!(request.buckets.step, 250);
        for (text, ms) in [
            ("1s", 1000),
            ("90s", 90_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("7", 7),
        ] {
            assert_eq!(parse_step(text), Ok(ms), "{text}");
        }
    }

    #[test]
    fn each_bad_param_is_named() {
        let cases: [(&[(&str, &str)], &str); 8] = [
            (&[("from", "soon")], "from"),
            (&[("to", "later")], "to"),
            (&[("from", "-1h"), ("to", "-2h")], "from"),
            (&[("step", "0")], "step"),
            (&[("step", "500us")], "step"),
            (&[("step", "fast")], "step"),
            (&[("from", "-7d"), ("step", "1s")], "step"),
            (&[("format", "xml")], "format"),
        ];
        for (query, param) in cases {
            let error = parse(query).unwrap_err();
            assert_eq!(error.param, param, "{query:?}: {error}");
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("bad query: {param}: "))
            );
        }
        assert_eq!(parse(&[("fields", "a,,b")]).unwrap_err().param, "fields");
        // Export has no bucket bound.
        let all = Request::parse([("from", "-7d"), ("step", "1s")], NOW, None).unwrap();
        assert_eq!(all.buckets.count, 7 * 86_400);
    }

    #[test]
    fn fields_keep_their_order() {
        let request = parse(&[("fields", "light, slider"), ("format", "csv")]).unwrap();
        assert_eq!(
            request.fields,
            Some(vec!["light".to_owned(), "slider".to_owned()])
        );
        assert_eq!(request.format, Format::Csv);
    }
}
