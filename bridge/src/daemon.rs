//! The daemon: every part started, wired together, and run until the input
//! ends (with `--exit-at-eof`) or SIGINT/SIGTERM arrives.

use std::sync::Arc;

use anyhow::Context;
use esplora_config::Config;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::info;

use crate::http::{self, AppState};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::sink::relay::Relay;
use crate::source::Source;

/// Lines in flight between a source and the pipeline: enough to ride out a
/// scheduling hiccup, small enough that a stalled pipeline pushes back on
/// the source instead of buffering without bound.
const SOURCE_QUEUE: usize = 1024;

pub async fn run(config: Config) -> anyhow::Result<()> {
    // Everything that can fail on a typo fails here, before anything runs.
    let source = Source::open(&config.input.spec, config.input.replay_rate).await?;
    let listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.http.listen))?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch for SIGINT")?;

    let metrics = Arc::new(Metrics::new());
    let relay = config
        .relay
        .as_ref()
        .map(|relay| Relay::new(relay, Arc::clone(&metrics)))
        .transpose()?;
    let hub = Arc::new(Hub::new(config.http.history, Arc::clone(&metrics)));
    info!(input = %config.input.spec, "listening on http://{}", listener.local_addr()?);
    let state = Arc::new(AppState {
        hub: Arc::clone(&hub),
        metrics: Arc::clone(&metrics),
        pusher: relay.as_ref().map(Relay::credentials),
    });
    tokio::spawn(http::serve(listener, state));
    let relay = relay.map(|relay| relay.spawn(Arc::clone(&hub)));

    let (tx, rx) = mpsc::channel(SOURCE_QUEUE);
    tokio::spawn(source.run(tx));
    let pipeline = Pipeline::new(&config, hub, metrics).run(rx);

    let stop = async {
        tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        }
    };
    tokio::pin!(stop);
    tokio::select! {
        () = pipeline => {
            if config.input.exit_at_eof {
                info!("the input has ended; exiting");
                if let Some(relay) = relay {
                    relay.finish().await;
                }
                return Ok(());
            }
            info!("the input has ended; still serving the last state");
        }
        signal = &mut stop => {
            info!("{signal}: shutting down");
            if let Some(relay) = relay {
                relay.finish().await;
            }
            return Ok(());
        }
    }
    let signal = stop.await;
    info!("{signal}: shutting down");
    if let Some(relay) = relay {
        relay.finish().await;
    }
    Ok(())
}
