//! The MQTT sink: the published state on an MQTT broker, for Home
//! Assistant, Node-RED, Telegraf and the rest.
//!
//! What it publishes under `topic_prefix` (default
//! `esplora-bridge/<host name>`):
//!
//! - `<prefix>/state`: the `GET /api/latest` JSON, retained, at most
//!   `max_rate_hz` times a second (latest state wins: see
//!   [`outbox`](crate::sink::outbox));
//! - with `per_field_topics`, `<prefix>/<field>`: the bare value, retained,
//!   for each field that changed (every field after a (re)connect);
//! - `<prefix>/availability`: `online` while connected with a board,
//!   `offline` while the board is unplugged, at shutdown, and (the client's
//!   Last Will) when the daemon dies or the link drops;
//! - with `homeassistant`, discovery configs (see [`discovery`]), again
//!   whenever Home Assistant announces `online` on `homeassistant/status`;
//! - `<prefix>/command/result`: the answer to each command received on
//!   `<prefix>/set/led` and `<prefix>/set/tone` (see [`commands`]).
//!
//! A broker down at start or mid-run delays nothing but this sink: the
//! client reconnects with a backoff ([`connection`]), and after each
//! (re)connect the first publish is the full state.
//!
//! # Layout
//!
//! - [`connection`]: the client's options and the task driving rumqttc.
//! - [`topics`]: topic names and payloads.
//! - [`discovery`]: Home Assistant's discovery configs.
//! - [`commands`]: the command topics' payloads and answers.
//! - [`metrics`]: its metrics, `esplora_mqtt_*`.

mod commands;
mod connection;
mod discovery;
mod metrics;
mod topics;

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use esplora_config::{FieldConfig, MqttConfig};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use self::commands::Kind;
use self::connection::Link;
use self::discovery::Device;
use self::metrics::{Dropped, Kind as Published, Metrics};
use self::topics::{HA_STATUS, Topics};
use crate::command::Commands;
use crate::hub::Board;
use crate::sink::outbox::Outbox;
use crate::sink::{Context, Followed, Follower, Running, Sink};

/// Requests rumqttc queues between the sink and its event loop: a state,
/// a field per topic and a few discovery configs fit many times over.
const CLIENT_QUEUE: usize = 256;

pub struct Mqtt {
    options: MqttOptions,
    url: String,
    topics: Topics,
    device: Device,
    qos: QoS,
    max_rate_hz: f64,
    per_field_topics: bool,
    homeassistant: bool,
    commands: Commands,
    /// Labels and units, for discovery.
    fields: BTreeMap<String, FieldConfig>,
    metrics: Metrics,
}

/// Reads the password and the CA file, and checks the URL: a bad config
/// fails at start-up.
pub fn build(config: &MqttConfig, context: &mut Context) -> anyhow::Result<Box<dyn Sink>> {
    let device = topics::device_id();
    let prefix = config
        .topic_prefix
        .clone()
        .unwrap_or_else(|| format!("esplora-bridge/{device}"));
    let client_id = config
        .client_id
        .clone()
        .unwrap_or_else(|| format!("esplora-bridge-{device}"));
    let qos = if config.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    let topics = Topics::new(&prefix);
    let options = connection::options(config, &client_id, &topics.availability, qos)?;
    info!(
        url = %config.url,
        %client_id,
        topic_prefix = %prefix,
        qos = config.qos,
        max_rate_hz = config.max_rate_hz,
        per_field_topics = config.per_field_topics,
        homeassistant = config.homeassistant,
        "publishing to an MQTT broker"
    );
    Ok(Box::new(Mqtt {
        options,
        url: config.url.clone(),
        device: Device {
            node_id: format!("esplora_bridge_{device}").replace('-', "_"),
            name: format!("Esplora ({device})"),
        },
        topics,
        qos,
        max_rate_hz: config.max_rate_hz,
        per_field_topics: config.per_field_topics,
        homeassistant: config.homeassistant,
        commands: context.commands.clone(),
        fields: context.fields.clone(),
        metrics: Metrics::register(context.registry),
    }))
}

impl Sink for Mqtt {
    fn run(self: Box<Self>, follower: Follower) -> Running {
        Box::pin(self.publish(follower))
    }
}

/// The sink's loop state besides the outbox.
struct Session {
    client: AsyncClient,
    /// Connected to the broker.
    up: bool,
    /// The availability last published on this connection.
    announced: Option<Board>,
    /// Fields whose discovery configs went out on this connection.
    discovered: HashSet<String>,
}

impl Mqtt {
    async fn publish(self, mut follower: Follower) {
        let (client, eventloop) = AsyncClient::new(self.options.clone(), CLIENT_QUEUE);
        let (tx, mut links) = mpsc::channel(64);
        let driver = tokio::spawn(connection::drive(eventloop, tx, self.url.clone()));
        let mut outbox = Outbox::new(self.max_rate_hz);
        outbox.apply(&follower.snapshot(), Instant::now());
        let mut session = Session {
            client,
            up: false,
            announced: None,
            discovered: HashSet::new(),
        };
        let mut deadline: Option<Instant> = None;
        loop {
            if session.up {
                self.send(&mut session, &mut outbox);
            }
            if deadline.is_some() && (!session.up || !outbox.ready()) {
                break;
            }
            let due = outbox.due();
            tokio::select! {
                link = links.recv() => match link {
                    Some(Link::Up) => self.connected(&mut session, &mut outbox),
                    Some(Link::Down) => {
                        session.up = false;
                        self.metrics.up(false);
                    }
                    Some(Link::Message { topic, payload }) => {
                        self.received(&mut session, &topic, &payload);
                    }
                    None => break,
                },
                followed = follower.next(), if deadline.is_none() => match followed {
                    Followed::Event(event) => outbox.apply(&event, Instant::now()),
                    Followed::Resynced { missed, snapshot } => {
                        warn!("the MQTT sink fell {missed} events behind the hub; resyncing");
                        self.metrics.dropped(Dropped::lagged, missed);
                        outbox.apply(&snapshot, Instant::now());
                    }
                    Followed::Stopped { deadline: at } => {
                        outbox.flush(Instant::now());
                        deadline = Some(at);
                    }
                },
                () = sleep_until(due), if due.is_some() => outbox.tick(Instant::now()),
                () = sleep_until(deadline), if deadline.is_some() => {
                    warn!("the MQTT sink did not get its last state out before its deadline");
                    break;
                }
            }
        }
        // A clean goodbye: `offline`, then a disconnect (after which the
        // broker does not send the Last Will), sent as the event loop
        // gets to them.
        if session.up {
            self.put(
                &session,
                Published::availability,
                &self.topics.availability,
                "offline",
            );
            let _ = session.client.try_disconnect();
            if let Some(deadline) = deadline {
                let _ = tokio::time::timeout_at(deadline.into(), driver).await;
            }
        } else {
            driver.abort();
        }
        debug!("the MQTT sink has stopped");
    }

    /// After a (re)connect: subscriptions, then everything again.
    fn connected(&self, session: &mut Session, outbox: &mut Outbox) {
        session.up = true;
        session.announced = None;
        session.discovered.clear();
        self.metrics.up(true);
        let mut topics = vec![self.topics.set_led.clone(), self.topics.set_tone.clone()];
        if self.homeassistant {
            topics.push(HA_STATUS.to_owned());
        }
        for topic in topics {
            if let Err(error) = session.client.try_subscribe(topic, QoS::AtLeastOnce) {
                warn!("cannot subscribe on the MQTT broker: {error}");
            }
        }
        outbox.resync(Instant::now());
    }

    /// Publishes what is due: the availability if the board changed, then
    /// the waiting update.
    fn send(&self, session: &mut Session, outbox: &mut Outbox) {
        let board = outbox.board();
        if session.announced != Some(board)
            && self.put(
                session,
                Published::availability,
                &self.topics.availability,
                topics::availability(board),
            )
        {
            session.announced = Some(board);
        }
        self.metrics
            .dropped(Dropped::superseded, outbox.superseded());
        let Some(update) = outbox.take() else {
            return;
        };
        if self.homeassistant {
            if session.discovered.is_empty() && !matches!(self.commands, Commands::Disabled) {
                for (topic, config) in discovery::command_configs(&self.device, &self.topics) {
                    self.put(session, Published::discovery, &topic, config.to_string());
                }
            }
            for (name, _) in update.values.iter() {
                let name = name.as_ref();
                if !session.discovered.contains(name) {
                    let described = self.fields.get(name);
                    for (topic, config) in
                        discovery::configs(&self.device, &self.topics, name, described)
                    {
                        self.put(session, Published::discovery, &topic, config.to_string());
                    }
                    session.discovered.insert(name.to_owned());
                }
            }
        }
        let mut sent = self.put(
            session,
            Published::state,
            &self.topics.state,
            topics::state_payload(&update),
        );
        if self.per_field_topics {
            for (name, value) in update.changed.iter() {
                if let Some(topic) = self.topics.field(&name) {
                    sent &= self.put(session, Published::field, &topic, value.to_string());
                }
            }
        }
        if !sent {
            self.metrics.dropped(Dropped::queue_full, 1);
            outbox.resync(Instant::now());
        }
    }

    /// One retained publish; `false` when the client's queue is full.
    fn put(
        &self,
        session: &Session,
        kind: Published,
        topic: &str,
        payload: impl Into<Vec<u8>>,
    ) -> bool {
        match session
            .client
            .try_publish(topic, self.qos, true, payload.into())
        {
            Ok(()) => {
                self.metrics.published(kind);
                true
            }
            Err(error) => {
                debug!("the MQTT client's queue is full: {error}");
                false
            }
        }
    }

    fn received(&self, session: &mut Session, topic: &str, payload: &[u8]) {
        let kind = if topic == self.topics.set_led {
            Kind::Led
        } else if topic == self.topics.set_tone {
            Kind::Tone
        } else {
            if topic == HA_STATUS && payload == b"online" {
                debug!("Home Assistant is online; sending discovery again");
                session.discovered.clear();
                session.announced = None;
            }
            return;
        };
        let parsed = commands::parse(kind, payload);
        let client = session.client.clone();
        let result_topic = self.topics.result.clone();
        let metrics = self.metrics.clone();
        let qos = self.qos;
        match parsed {
            Err(_) => {
                metrics.command(metrics::Command::invalid);
                let answer = commands::result(&parsed, None).to_string();
                if client.try_publish(result_topic, qos, false, answer).is_ok() {
                    metrics.published(Published::command_result);
                }
            }
            Ok(command) => {
                let commands = self.commands.clone();
                // The board takes a few ms; the loop does not wait for it.
                tokio::spawn(async move {
                    let refused = commands.send(command).await.err();
                    metrics.command(if refused.is_some() {
                        metrics::Command::refused
                    } else {
                        metrics::Command::sent
                    });
                    let answer = commands::result(&parsed, refused.as_ref()).to_string();
                    if client
                        .publish(result_topic, qos, false, answer)
                        .await
                        .is_ok()
                    {
                        metrics.published(Published::command_result);
                    }
                });
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
