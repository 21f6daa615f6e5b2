//! The relay: the hub's events, republished to a Pusher Channels HTTP API
//! (Pusher itself, or a compatible server such as sockudo) on the
//! configured channel and event name: signed, at the relay's own rate,
//! within the daily budget, and never in the way of local clients.
//!
//! The relay consumes the hub as a local client does, a snapshot then a
//! broadcast receiver ([`Hub::subscribe`]); should it fall behind
//! (`Lagged`), it starts over from a fresh snapshot. One task owns
//! everything, as the pipeline does, and its loop waits on the hub, the
//! outbox's throttle, the request in flight, the backoff, the subscriber
//! count and the stop signal. One request is in flight at a time; what the
//! throttle lets out meanwhile queues behind it and goes out as one batch.
//!
//! # Layout
//!
//! - [`outbox`]: the relay's mirror of the state, its throttle, and the
//!   bounded queue.
//! - [`split`]: Pusher's 10 KB limit on an event's data.
//! - [`client`]: the HTTP requests, what their answers mean, the backoff.
//! - [`sign`]: Pusher's request and channel-auth signatures.
//! - [`budget`]: the daily message budget.
//! - [`secret`]: where the secret comes from.
//!
//! # Failures
//!
//! A failed batch is not sent again as it was. Timeouts, 5xx and 429 are
//! retried after the backoff (at least the server's `Retry-After`) by
//! sending a fresh snapshot, which carries the state of the failed batch
//! and of everything queued behind it in one event: a relay that comes
//! back after an outage, to which every subscriber has just reconnected,
//! gets a snapshot first; a rate-limited one gets fewer events, not a
//! backlog. Another 4xx would fail the same way again: the batch is
//! dropped, the answer is logged once (until a publish succeeds), and the
//! next event, after the backoff, is a snapshot too. Every event not sent
//! is counted in `esplora_relay_events_dropped_total`, by reason.

mod budget;
mod client;
mod outbox;
pub mod secret;
pub mod sign;
mod split;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use esplora_config::RelayConfig;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use self::budget::Budget;
use self::client::{Backoff, Client, MAX_BATCH, Outcome};
use self::outbox::Outbox;
use self::sign::Credentials;
use crate::hub::{Event, Hub, Subscription};
use crate::metrics::Metrics;

/// Events the outbox holds: at the default 10 Hz, six seconds' worth, after
/// which one snapshot stands for all of them.
const QUEUE: usize = 64;
/// How long a stopping relay may spend sending what it holds.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the subscriber count is asked for, under a budget.
const COUNT_EVERY: Duration = Duration::from_secs(30);
/// Subscribers assumed when the server does not say.
const ASSUMED_SUBSCRIBERS: u64 = 1;

type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A relay, configured and ready to [`spawn`](Relay::spawn).
pub struct Relay {
    client: Arc<Client>,
    credentials: Arc<Credentials>,
    outbox: Outbox,
    max_rate_hz: f64,
    budget: Option<Budget>,
    /// The channel's subscribers as last reported; `None` until asked.
    subscribers: Option<u64>,
    backoff: Backoff,
    /// Whether the last publish succeeded; a change is logged.
    up: bool,
    /// The status of the last rejection logged, so that it is logged once.
    rejected: Option<u16>,
    /// The budget was found spent, and that was logged.
    spent: bool,
    metrics: Arc<Metrics>,
}

/// A running relay.
pub struct RelayHandle {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Reads the secret and sets up the HTTP client: everything that can
    /// fail on a bad config fails here, at start-up.
    pub fn new(config: &RelayConfig, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let secret = secret::load(config)?;
        let credentials = Arc::new(Credentials::new(config.key.clone(), secret));
        let client = Arc::new(Client::new(config, Arc::clone(&credentials))?);
        metrics.relay_budget_remaining(config.daily_message_budget);
        info!(
            url = %config.url,
            app_id = %config.app_id,
            channel = %config.channel,
            event = %config.event,
            max_rate_hz = config.max_rate_hz,
            daily_message_budget = ?config.daily_message_budget,
            "relaying to a Pusher Channels API"
        );
        Ok(Relay {
            client,
            credentials,
            outbox: Outbox::new(config.max_rate_hz, QUEUE, Arc::clone(&metrics)),
            max_rate_hz: config.max_rate_hz,
            budget: config
                .daily_message_budget
                .map(|daily| Budget::new(daily, unix_secs())),
            subscribers: None,
            backoff: Backoff::default(),
            up: false,
            rejected: None,
            spent: false,
            metrics,
        })
    }

    /// The app's key and secret, for `POST /pusher/auth`.
    pub fn credentials(&self) -> Arc<Credentials> {
        Arc::clone(&self.credentials)
    }

    /// Subscribes to the hub now, so nothing published from here on is
    /// missed, and runs the relay in a task of its own.
    pub fn spawn(self, hub: Arc<Hub>) -> RelayHandle {
        let subscription = hub.subscribe();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(self.run(hub, subscription, stopped));
        RelayHandle { stop, task }
    }

    async fn run(
        mut self,
        hub: Arc<Hub>,
        mut subscription: Subscription,
        mut stopped: oneshot::Receiver<()>,
    ) {
        self.outbox.apply(&subscription.snapshot, Instant::now());
        let mut sending: Vec<Arc<Event>> = Vec::new();
        let mut in_flight: Option<Pending<Outcome>> = None;
        let mut retry_at: Option<Instant> = None;
        let mut counting: Option<Pending<Option<u64>>> = None;
        let mut count_at = self.budget.is_some().then(Instant::now);
        let mut deadline: Option<Instant> = None;
        loop {
            let now = Instant::now();
            self.update_rate();
            if retry_at.is_some_and(|at| at <= now) {
                retry_at = None;
            }
            if in_flight.is_none() && retry_at.is_none() && self.may_send() {
                sending = self.take_batch(now);
                if !sending.is_empty() {
                    let client = Arc::clone(&self.client);
                    let batch = sending.clone();
                    in_flight = Some(Box::pin(async move { client.publish(&batch).await }));
                }
            }
            if deadline.is_some() && in_flight.is_none() && self.outbox.is_empty() {
                break;
            }
            let due = self.outbox.due();
            // Each timer branch is guarded by its Option; `now` is never waited for.
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(deadline.unwrap_or(now).into()), if deadline.is_some() => {
                    self.metrics.relay_dropped("shutdown", sending.len());
                    self.outbox.drop_queued("shutdown");
                    warn!("the relay did not get everything out within {FLUSH_TIMEOUT:?} of stopping");
                    break;
                }
                outcome = wait(&mut in_flight), if in_flight.is_some() => {
                    in_flight = None;
                    retry_at = self.settle(&std::mem::take(&mut sending), outcome);
                }
                received = subscription.events.recv(), if deadline.is_none() => match received {
                    Ok(event) => self.outbox.apply(&event, Instant::now()),
                    Err(RecvError::Lagged(missed)) => self.resubscribe(&hub, &mut subscription, missed),
                    // Only once the hub itself is gone: nothing more will come.
                    Err(RecvError::Closed) => {
                        self.outbox.flush(Instant::now());
                        deadline = Some(Instant::now() + FLUSH_TIMEOUT);
                    }
                },
                _ = &mut stopped, if deadline.is_none() => {
                    self.drain(&hub, &mut subscription);
                    self.outbox.flush(Instant::now());
                    deadline = Some(Instant::now() + FLUSH_TIMEOUT);
                }
                () = tokio::time::sleep_until(due.unwrap_or(now).into()), if due.is_some() => {
                    self.outbox.tick(Instant::now());
                }
                () = tokio::time::sleep_until(retry_at.unwrap_or(now).into()),
                    if retry_at.is_some() && in_flight.is_none() => {}
                answer = wait(&mut counting), if counting.is_some() => {
                    counting = None;
                    self.counted(answer);
                    count_at = Some(Instant::now() + COUNT_EVERY);
                }
                () = tokio::time::sleep_until(count_at.unwrap_or(now).into()),
                    if count_at.is_some() && counting.is_none() => {
                    count_at = None;
                    let client = Arc::clone(&self.client);
                    counting = Some(Box::pin(async move { client.subscription_count().await }));
                }
            }
        }
        debug!("the relay has stopped");
    }

    /// Under a budget, nothing is sent until the subscribers have been
    /// counted once (or the server said it would not tell).
    fn may_send(&self) -> bool {
        !self.outbox.is_empty() && (self.budget.is_none() || self.subscribers.is_some())
    }

    /// What an event costs against the budget: the publish and a delivery
    /// to each subscriber.
    fn cost(&self) -> u64 {
        1 + self.subscribers.unwrap_or(ASSUMED_SUBSCRIBERS)
    }

    fn update_rate(&mut self) {
        let cost = self.cost();
        let rate = match &mut self.budget {
            Some(budget) => self.max_rate_hz.min(budget.rate(unix_secs(), cost)),
            None => self.max_rate_hz,
        };
        self.outbox.set_rate(rate);
    }

    /// The next batch: up to [`MAX_BATCH`] events, no more than the budget
    /// affords. A spent budget drops what is queued, and the next event,
    /// once the budget renews at midnight UTC, is a snapshot.
    fn take_batch(&mut self, now: Instant) -> Vec<Arc<Event>> {
        let cost = self.cost();
        let affordable = match &mut self.budget {
            Some(budget) => budget.affordable(unix_secs(), cost),
            None => u64::MAX,
        };
        if affordable == 0 {
            if !self.spent {
                warn!("the daily message budget is spent; relaying again after midnight UTC");
                self.spent = true;
            }
            self.outbox.resync("budget", now);
            return Vec::new();
        }
        self.spent = false;
        self.outbox.take(
            MAX_BATCH.min(usize::try_from(affordable).unwrap_or(MAX_BATCH)),
            now,
        )
    }

    /// Records what became of a batch; returns when to try again after a
    /// failure.
    fn settle(&mut self, batch: &[Arc<Event>], outcome: Outcome) -> Option<Instant> {
        let now = Instant::now();
        match outcome {
            Outcome::Published { status } => {
                self.metrics.relay_request("ok", status);
                self.metrics
                    .relay_published(batch.iter().map(|event| event.kind));
                let cost = self.cost();
                if let Some(budget) = &mut self.budget {
                    let secs = unix_secs();
                    budget.spend(secs, batch.len() as u64 * cost);
                    self.metrics
                        .relay_budget_remaining(Some(budget.remaining(secs)));
                }
                self.backoff.reset();
                self.rejected = None;
                if !self.up {
                    info!("the relay accepts events");
                }
                self.set_up(true);
                None
            }
            Outcome::Retry {
                status,
                after,
                reason,
            } => {
                self.metrics.relay_request("retry", status);
                self.metrics.relay_retry();
                self.metrics.relay_dropped("failed", batch.len());
                self.outbox.resync("superseded", now);
                let wait = self.backoff.next(after);
                if self.up {
                    warn!(
                        "the relay failed ({reason}); sending a snapshot in {wait:.1?}, \
                         backing off while it fails"
                    );
                } else {
                    debug!("the relay failed again ({reason}); next try in {wait:.1?}");
                }
                self.set_up(false);
                Some(now + wait)
            }
            Outcome::Rejected { status, body } => {
                self.metrics.relay_request("rejected", status);
                self.metrics.relay_dropped("rejected", batch.len());
                if self.rejected != Some(status) {
                    error!(
                        status,
                        answer = %body,
                        events = batch.len(),
                        "the relay rejected a publish; not retrying it \
                         (logged once until a publish succeeds)"
                    );
                    self.rejected = Some(status);
                }
                self.outbox.resync("superseded", now);
                self.set_up(false);
                Some(now + self.backoff.next(None))
            }
        }
    }

    fn set_up(&mut self, up: bool) {
        self.up = up;
        self.metrics.relay_up(up);
    }

    fn counted(&mut self, answer: Option<u64>) {
        if answer.is_none() && self.subscribers.is_none() {
            debug!(
                "the relay does not report the channel's subscription_count; \
                 assuming {ASSUMED_SUBSCRIBERS} subscriber"
            );
        }
        let subscribers = answer.unwrap_or(ASSUMED_SUBSCRIBERS);
        self.subscribers = Some(subscribers);
        self.metrics.relay_subscribers(subscribers);
        if let Some(budget) = &mut self.budget {
            // Also where a new day's budget shows, when nothing is sent.
            self.metrics
                .relay_budget_remaining(Some(budget.remaining(unix_secs())));
        }
    }

    /// After falling behind the hub: starts over from a fresh snapshot.
    fn resubscribe(&mut self, hub: &Hub, subscription: &mut Subscription, missed: u64) {
        warn!("the relay fell {missed} events behind the hub; resyncing from a snapshot");
        self.metrics
            .relay_dropped("lagged", usize::try_from(missed).unwrap_or(usize::MAX));
        *subscription = hub.subscribe();
        self.outbox.apply(&subscription.snapshot, Instant::now());
    }

    /// Takes in what the hub has already published.
    fn drain(&mut self, hub: &Hub, subscription: &mut Subscription) {
        loop {
            match subscription.events.try_recv() {
                Ok(event) => self.outbox.apply(&event, Instant::now()),
                Err(TryRecvError::Lagged(missed)) => self.resubscribe(hub, subscription, missed),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
    }
}

impl RelayHandle {
    /// Stops the relay after it has sent what it holds (the pending delta
    /// included), or after a few seconds when the relay cannot take it.
    pub async fn finish(self) {
        // The task only ends by itself after being told to, so neither of
        // these can fail in a way that leaves anything to do.
        let _ = self.stop.send(());
        let _ = self.task.await;
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

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
