//! The relay: the published state, republished to a Pusher Channels HTTP
//! API (Pusher itself, or a compatible server such as sockudo) on the
//! configured channel and event name: signed, at the relay's own rate,
//! within the daily budget, and never in the way of local clients.
//!
//! Every relayed event is a snapshot of the whole state (split only past
//! Pusher's 10 KB), so a subscriber has the state from the first event it
//! gets; on a `cache-` channel (`channel = "cache-esplora"`) Pusher and
//! sockudo hand a new subscriber the last one at once. Nothing is relayed
//! before the first reading.
//!
//! One task owns everything: [`Relay::run`] feeds what happens (a hub
//! event, an answer, a timer) to the [`machine`], and does what it says
//! (send a request, count the subscribers, sleep until a time). One
//! request is in flight at a time.
//!
//! # Layout
//!
//! - [`machine`]: the loop's states and decisions, a pure function.
//! - [`split`]: Pusher's 10 KB limit on an event's data.
//! - [`client`]: the HTTP requests, what their answers mean, the backoff.
//! - [`sign`]: Pusher's request and channel-auth signatures.
//! - [`auth`]: the `POST /pusher/auth` route it adds to the local server.
//! - [`budget`]: the daily message budget.
//! - [`secret`]: where the secret comes from.
//! - [`metrics`]: its metrics, `esplora_relay_*`.
//!
//! # Failures
//!
//! `url` may list the nodes of one cluster (sockudo nodes sharing a Redis,
//! say). Requests go to one node at a time, the first to begin with; when
//! it fails (no answer, a timeout, a 5xx) the relay moves to the next in
//! the list (round to the first after the last), after the backoff, and
//! stays there until that one fails.
//!
//! A failed request is not sent again as it was. Timeouts, 5xx and 429 are
//! retried after the backoff (at least the server's `Retry-After`) with
//! the state as it is by then: a relay that comes back after an outage
//! gets the current state first; a rate-limited one gets fewer events, not
//! a backlog. Another 4xx would fail the same way again: the answer is
//! logged once (until a publish succeeds), and the next try, after the
//! backoff, carries the state too. Every update not sent is counted in
//! `esplora_relay_events_dropped_total`, by reason.

mod auth;
mod budget;
mod client;
pub mod machine;
mod metrics;
pub mod secret;
pub mod sign;
mod split;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use esplora_config::RelayConfig;
use tracing::{debug, info};

use self::client::{Client, Outcome};
use self::machine::{Clock, Input, Machine};
use self::metrics::Metrics;
use self::sign::Credentials;
use crate::sink::{Context, Followed, Follower, Route, Running, Sink};

type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A relay, configured and ready to run.
pub struct Relay {
    client: Arc<Client>,
    credentials: Arc<Credentials>,
    config: RelayConfig,
    metrics: Metrics,
}

/// Reads the secret and sets up the HTTP client: everything that can fail
/// on a bad config fails here, at start-up.
pub fn build(config: &RelayConfig, context: &mut Context) -> anyhow::Result<Box<dyn Sink>> {
    let secret = secret::load(config)?;
    let credentials = Arc::new(Credentials::new(config.key.clone(), secret));
    let client = Arc::new(Client::new(config, Arc::clone(&credentials))?);
    info!(
        url = ?config.url,
        app_id = %config.app_id,
        channel = %config.channel,
        event = %config.event,
        max_rate_hz = config.max_rate_hz,
        daily_message_budget = ?config.daily_message_budget,
        "relaying to a Pusher Channels API"
    );
    Ok(Box::new(Relay {
        client,
        credentials,
        config: config.clone(),
        metrics: Metrics::register(context.registry),
    }))
}

impl Sink for Relay {
    fn routes(&self) -> Vec<Route> {
        vec![auth::route(Arc::clone(&self.credentials))]
    }

    fn run(self: Box<Self>, follower: Follower) -> Running {
        Box::pin(self.relay(follower))
    }
}

impl Relay {
    async fn relay(self, mut follower: Follower) {
        let mut machine = Machine::new(
            self.config.max_rate_hz,
            self.config.daily_message_budget,
            self.client.nodes(),
            self.metrics,
            Clock::now(),
        );
        let mut input = Input::Hub(follower.snapshot());
        let mut in_flight: Option<Pending<Outcome>> = None;
        let mut counting: Option<Pending<Option<u64>>> = None;
        loop {
            let actions = machine.step(input, Clock::now());
            let node = actions.node;
            if let Some(batch) = actions.publish {
                let client = Arc::clone(&self.client);
                in_flight = Some(Box::pin(async move { client.publish(node, &batch).await }));
            }
            if actions.count {
                let client = Arc::clone(&self.client);
                counting = Some(Box::pin(
                    async move { client.subscription_count(node).await },
                ));
            }
            if actions.done {
                break;
            }
            let wake = actions.wake;
            input = tokio::select! {
                outcome = wait(&mut in_flight), if in_flight.is_some() => {
                    in_flight = None;
                    Input::Sent(outcome)
                }
                answer = wait(&mut counting), if counting.is_some() => {
                    counting = None;
                    Input::Counted(answer)
                }
                followed = follower.next() => match followed {
                    Followed::Event(event) => Input::Hub(event),
                    Followed::Resynced { missed, snapshot } => Input::Resynced { missed, snapshot },
                    Followed::Stopped { deadline } => Input::Stopped { deadline },
                },
                // `wake` is `Some` here; the guard keeps `None` from firing.
                () = sleep_until(wake), if wake.is_some() => Input::Tick,
            };
        }
        debug!("the relay has stopped");
    }
}

async fn sleep_until(wake: Option<std::time::Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Waits on an optional future; a branch guard keeps `None` from being
/// waited on forever.
async fn wait<T>(pending: &mut Option<Pending<T>>) -> T {
    match pending {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}
