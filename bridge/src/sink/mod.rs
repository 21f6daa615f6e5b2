//! Sinks: where the published state goes besides the local HTTP server.
//!
//! Every sink has the same shape, after Vector's (`src/sinks/<name>/`):
//!
//! 1. **Config.** A section of the config file (`[relay]`), `None` when
//!    absent.
//! 2. **Build.** `build(section, &mut Context)` checks what can be checked
//!    at start-up (secrets, URLs, files), registers the sink's metrics in
//!    its own sub-registry, and returns a [`Sink`]. A typo fails here,
//!    before anything runs.
//! 3. **Run.** [`Sink::run`] consumes the hub through a [`Follower`] (a
//!    snapshot, then every event; a fresh snapshot after falling behind;
//!    what is left, then a deadline, at shutdown) in a task of its own,
//!    tracked by the daemon's [`Shutdown`].
//!
//! A sink that needs an HTTP route (the relay's `POST /pusher/auth`)
//! contributes it through [`Sink::routes`]: the local server asks the sink
//! list, and never imports a sink.
//!
//! The shared plumbing lives beside this file: [`follow`] (the
//! subscription, resync on lag, drain and deadline at shutdown) and
//! [`outbox`] (the mirror of the state, latest state wins, the throttle,
//! a full update after an outage). A sink holds at most one update, so a
//! slow or absent destination can delay only itself, never the pipeline or
//! the other clients.
//!
//! # Layout
//!
//! - [`relay`]: the Pusher Channels HTTP API (Pusher, or a compatible
//!   server such as sockudo).
//! - [`mqtt`]: an MQTT broker, with Home Assistant discovery and commands.

pub mod follow;
pub mod mqtt;
pub mod outbox;
pub mod relay;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use esplora_config::{Config, FieldConfig};
use hyper::StatusCode;
use prometheus_client::registry::Registry;

pub use self::follow::{Followed, Follower};
use crate::command::Commands;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// A sink's task.
pub type Running = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A configured sink, ready to run.
pub trait Sink: Send {
    /// The HTTP routes this sink adds to the local server.
    fn routes(&self) -> Vec<Route> {
        Vec::new()
    }

    /// Runs until `follower` says it has stopped and what is held is sent
    /// (or its deadline has passed).
    fn run(self: Box<Self>, follower: Follower) -> Running;
}

/// What a sink is built with.
pub struct Context<'a> {
    /// The sink's own metrics registry, prefixed with its name
    /// (`esplora_<name>_`).
    pub registry: &'a mut Registry,
    /// Where commands to the board go (for a sink that takes them).
    pub commands: &'a Commands,
    /// How each field is described (built-in descriptions with
    /// `[fields."NAME"]` over them): labels and units.
    pub fields: &'a BTreeMap<String, FieldConfig>,
}

/// A route a sink adds to the local server. The server applies its access
/// rules and body limit, then hands the handler the request body.
pub struct Route {
    pub path: &'static str,
    pub method: &'static str,
    pub handler: Handler,
}

/// A sink route's handler: the request body in, the answer out.
pub type Handler = Arc<dyn Fn(&[u8]) -> Reply + Send + Sync>;

/// A sink route's answer: a status and a JSON body.
pub struct Reply {
    pub status: StatusCode,
    pub json: serde_json::Value,
}

/// The configured sinks.
#[derive(Default)]
pub struct Sinks(Vec<Box<dyn Sink>>);

/// What [`Sinks::build`] builds each sink with.
struct List<'a> {
    sinks: Sinks,
    metrics: &'a mut Metrics,
    commands: &'a Commands,
    fields: &'a BTreeMap<String, FieldConfig>,
}

impl List<'_> {
    /// Builds the sink named `name` if its config `section` is there.
    fn add<C>(
        &mut self,
        name: &str,
        section: Option<&C>,
        build: fn(&C, &mut Context) -> anyhow::Result<Box<dyn Sink>>,
    ) -> anyhow::Result<()> {
        if let Some(section) = section {
            let mut context = Context {
                registry: self.metrics.sub_registry(name),
                commands: self.commands,
                fields: self.fields,
            };
            self.sinks.0.push(build(section, &mut context)?);
        }
        Ok(())
    }
}

impl Sinks {
    /// Builds every sink the config has a section for. The list of sinks is
    /// this function: one line each.
    pub fn build(
        config: &Config,
        metrics: &mut Metrics,
        commands: &Commands,
    ) -> anyhow::Result<Sinks> {
        let fields = config.field_descriptions();
        let mut list = List {
            sinks: Sinks::default(),
            metrics,
            commands,
            fields: &fields,
        };
        list.add("relay", config.relay.as_ref(), relay::build)?;
        list.add("mqtt", config.mqtt.as_ref(), mqtt::build)?;
        Ok(list.sinks)
    }

    /// Every sink's HTTP routes.
    pub fn routes(&self) -> Vec<Route> {
        self.0.iter().flat_map(|sink| sink.routes()).collect()
    }

    /// Subscribes every sink to the hub now, so that nothing published
    /// from here on is missed, and runs each in a task that `shutdown`
    /// waits for.
    pub fn start(self, hub: &Arc<Hub>, shutdown: &Shutdown) {
        for sink in self.0 {
            let follower = Follower::new(Arc::clone(hub), shutdown.clone());
            shutdown.spawn(sink.run(follower));
        }
    }
}
