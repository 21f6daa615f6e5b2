//! The relay's HTTP side: one reqwest client (rustls, one connection pool
//! with keep-alive) that signs and sends publishes and asks for the
//! channel's subscriber count; and [`Backoff`], the wait before the next
//! attempt after a failure.
//!
//! A publish of one event goes to `/apps/{id}/events`, of several (at most
//! [`MAX_BATCH`], Pusher's limit) to `/apps/{id}/batch_events`. Answers are
//! sorted into three [`Outcome`]s: published; worth another try (no
//! answer, a timeout, a 5xx, a 429, with the server's `Retry-After`); or
//! rejected (any other 4xx, which would fail the same way again). What to
//! do about each is the relay loop's decision, not this module's.
//!
//! Errors are reported without the request URL: it carries the signature,
//! which is no secret but is noise in a log.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use esplora_config::RelayConfig;
use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};

use super::sign::Credentials;
use crate::hub::Event;

/// Pusher's limit on the events of one `batch_events` request.
pub const MAX_BATCH: usize = 10;

/// A request that takes longer than this is abandoned and retried.
const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of an error answer's body is kept for the log.
const BODY_EXCERPT: usize = 512;

/// What became of a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Published {
        status: u16,
    },
    /// Worth another try, no sooner than `after` when the server said so.
    /// `status` 0: there was no answer.
    Retry {
        status: u16,
        after: Option<Duration>,
        reason: String,
    },
    /// Refused for good: the answer's status and (the start of) its body.
    Rejected {
        status: u16,
        body: String,
    },
}

pub struct Client {
    http: reqwest::Client,
    /// The configured URLs, in order: the nodes a request may go to.
    nodes: Vec<Node>,
    app_id: String,
    channel: String,
    event: String,
    credentials: Arc<Credentials>,
}

/// One configured URL.
struct Node {
    base: Url,
    /// The base URL's path, without a trailing slash, before every API path.
    prefix: String,
}

#[derive(Serialize)]
struct Single<'a> {
    name: &'a str,
    channels: [&'a str; 1],
    data: Cow<'a, str>,
}

#[derive(Serialize)]
struct Batch<'a> {
    batch: Vec<BatchEvent<'a>>,
}

#[derive(Serialize)]
struct BatchEvent<'a> {
    channel: &'a str,
    name: &'a str,
    data: Cow<'a, str>,
}

#[derive(Deserialize)]
struct ChannelInfo {
    subscription_count: Option<u64>,
}

impl Client {
    pub fn new(config: &RelayConfig, credentials: Arc<Credentials>) -> anyhow::Result<Self> {
        let nodes = config
            .url
            .iter()
            .map(|url| {
                let base = Url::parse(url)
                    .with_context(|| format!("relay.url {url:?} is not a valid URL"))?;
                Ok(Node {
                    prefix: base.path().trim_end_matches('/').to_owned(),
                    base,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(!nodes.is_empty(), "relay.url lists no URL");
        let http = reqwest::Client::builder()
            .user_agent(concat!("esplora-bridge/", env!("CARGO_PKG_VERSION")))
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .context("cannot set up the relay's HTTP client")?;
        Ok(Client {
            http,
            nodes,
            app_id: config.app_id.clone(),
            channel: config.channel.clone(),
            event: config.event.clone(),
            credentials,
        })
    }

    /// How many nodes (configured URLs) there are; at least one.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Publishes `events` (1 to [`MAX_BATCH`]) on the channel, in order,
    /// through the `node`th URL.
    pub async fn publish(&self, node: usize, events: &[Arc<Event>]) -> Outcome {
        let data = |event: &'_ Arc<Event>| String::from_utf8_lossy(&event.json).into_owned();
        let (endpoint, body) = if let [event] = events {
            let single = Single {
                name: &self.event,
                channels: [&self.channel],
                data: Cow::Owned(data(event)),
            };
            ("events", serde_json::to_vec(&single))
        } else {
            let batch = Batch {
                batch: events
                    .iter()
                    .map(|event| BatchEvent {
                        channel: &self.channel,
                        name: &self.event,
                        data: Cow::Owned(data(event)),
                    })
                    .collect(),
            };
            ("batch_events", serde_json::to_vec(&batch))
        };
        // Strings and arrays of strings always serialise.
        let body = body.unwrap_or_default();
        let url = self.signed_url(node, "POST", endpoint, &[], &body);
        let answer = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(error) => {
                return Outcome::Retry {
                    status: 0,
                    after: None,
                    reason: with_causes(&error.without_url()),
                };
            }
        };
        let status = response.status();
        let after = retry_after(response.headers());
        // Reading the body to its end also lets the connection be reused.
        let body = response.text().await.unwrap_or_default();
        classify(status, after, body)
    }

    /// The channel's `subscription_count`, where the `node`th URL's server
    /// reports it.
    pub async fn subscription_count(&self, node: usize) -> Option<u64> {
        let endpoint = format!("channels/{}", self.channel);
        let url = self.signed_url(
            node,
            "GET",
            &endpoint,
            &[("info", "subscription_count")],
            b"",
        );
        let response = self.http.get(url).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response
            .json::<ChannelInfo>()
            .await
            .ok()?
            .subscription_count
    }

    /// The signed URL of the app's `endpoint` on the `node`th URL (counted
    /// round the list, which `new` made sure is not empty).
    fn signed_url(
        &self,
        node: usize,
        method: &str,
        endpoint: &str,
        params: &[(&str, &str)],
        body: &[u8],
    ) -> Url {
        let node = &self.nodes[node % self.nodes.len()];
        let path = format!("{}/apps/{}/{endpoint}", node.prefix, self.app_id);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let query = self
            .credentials
            .signed_query(method, &path, params, body, now);
        let mut url = node.base.clone();
        url.set_path(&path);
        url.set_query(Some(&query));
        url
    }
}

/// Sorts an answer into an [`Outcome`].
fn classify(status: StatusCode, after: Option<Duration>, body: String) -> Outcome {
    if status.is_success() {
        return Outcome::Published {
            status: status.as_u16(),
        };
    }
    let body = excerpt(body);
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Outcome::Retry {
            status: status.as_u16(),
            after,
            reason: format!("{status}: {body}"),
        }
    } else {
        Outcome::Rejected {
            status: status.as_u16(),
            body,
        }
    }
}

/// An error and its causes, as `error: cause: cause`: reqwest's own text
/// is only "error sending request".
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

/// `Retry-After` in seconds (the form Pusher and sockudo send).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

fn excerpt(mut body: String) -> String {
    if body.len() > BODY_EXCERPT {
        let mut end = BODY_EXCERPT;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body.truncate(end);
        body.push('…');
    }
    body
}

/// The wait before the next attempt: doubling from [`Backoff::FIRST`] with
/// every failure in a row up to [`Backoff::MAX`], drawn at random from the
/// upper half of that so that bridges that failed together do not come
/// back together, and never shorter than the server's `Retry-After` (itself
/// capped, against a server that asks for hours).
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(250);
    pub const MAX: Duration = Duration::from_secs(5);
    pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

    /// Counts a failure; returns how long to wait before the next attempt.
    pub fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        let ceiling = Self::FIRST
            .saturating_mul(1 << self.failures.min(16))
            .min(Self::MAX);
        self.failures = self.failures.saturating_add(1);
        let wait = ceiling.mul_f64(rand::rng().random_range(0.5..=1.0));
        wait.max(retry_after.unwrap_or_default().min(Self::MAX_RETRY_AFTER))
    }

    /// A success: the next failure starts from [`Backoff::FIRST`] again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_sort_into_outcomes() {
        assert_eq!(
            classify(StatusCode::OK, None, "{}".to_owned()),
            Outcome::Published { status: 200 }
        );
        let after = Some(Duration::from_secs(7));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, after, "slow down".to_owned()),
            Outcome::Retry {
                status: 429,
                after,
                reason: "429 Too Many Requests: slow down".to_owned()
            }
        );
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, None, String::new()),
            Outcome::Retry { status: 503, .. }
        ));
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, None, "bad signature".to_owned()),
            Outcome::Rejected {
                status: 401,
                body: "bad signature".to_owned()
            }
        );
    }

    #[test]
    fn a_long_body_is_cut_at_a_character_boundary() {
        let body = "é".repeat(BODY_EXCERPT);
        let cut = excerpt(body);
        assert!(cut.len() <= BODY_EXCERPT + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "12".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(12)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_cap() {
        let mut backoff = Backoff::default();
        let mut ceiling = Backoff::FIRST;
        for _ in 0..10 {
            let wait = backoff.next(None);
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{wait:?} outside {ceiling:?}/2..={ceiling:?}"
            );
            ceiling = (ceiling * 2).min(Backoff::MAX);
        }
        backoff.reset();
        assert!(backoff.next(None) <= Backoff::FIRST);
    }

    #[test]
    fn backoff_waits_at_least_as_long_as_the_server_asks_within_reason() {
        let mut backoff = Backoff::default();
        assert_eq!(
            backoff.next(Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        assert_eq!(
            backoff.next(Some(Duration::from_secs(86_400))),
            Backoff::MAX_RETRY_AFTER
        );
    }
}
