//! The daemon: every part started, wired together, and run until the input
//! ends (with `--exit-at-eof`) or SIGINT/SIGTERM arrives; then shut down in
//! order (see [`crate::shutdown`]), each step bounded in time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use esplora_config::Config;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::command::Commands;
use crate::http::{self, Access, AppState, Hosts, Limits};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::service::Service;
use crate::shutdown::{Shutdown, Signals};
use crate::sink::Sinks;
use crate::source::Source;
use crate::store::{self, History};

/// Lines in flight between a source and the pipeline: enough to ride out a
/// scheduling hiccup, small enough that a stalled pipeline pushes back on
/// the source instead of buffering without bound.
const SOURCE_QUEUE: usize = 1024;

/// How long the pipeline gets, once the input is stopped, to publish what it
/// had already been sent (a full queue takes milliseconds).
const DRAIN: Duration = Duration::from_secs(1);
/// How long sinks and HTTP connections then get to finish: longer than a
/// sink's own deadline ([`crate::sink::follow::DEADLINE`]), so that a sink
/// ends by itself and counts what it could not send. With [`DRAIN`], the
/// daemon exits within 3 s of a signal even when something hangs, well
/// inside systemd's stop timeout.
const GRACE: Duration = Duration::from_secs(2);

pub async fn run(config: Config) -> anyhow::Result<()> {
    raise_file_limit();
    // Everything that can fail on a typo fails here, before anything runs.
    let source = Source::open(&config.input.spec, config.input.replay_rate).await?;
    let listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.http.listen))?;
    let mut signals = Signals::new()?;
    let _file_size_signal = catch_file_size_signal();
    let mut service = Service::from_env();
    let shutdown = Shutdown::new();

    let token = match (&config.http.token, &config.http.token_file) {
        (Some(token), _) => Some(SecretString::from(token.as_str())),
        (None, Some(path)) => Some(read_token(path)?),
        (None, None) => None,
    };
    let (commands, inbox) = Commands::new(config.commands.enabled, source.is_serial());
    let mut metrics = Metrics::new();
    let sinks = Sinks::build(&config, &mut metrics, &commands)?;
    let mut history = if config.history.enabled {
        let path = store::path(&config.history, |name| std::env::var_os(name))?;
        Some(History::open(
            path,
            &config.history,
            metrics.sub_registry("history"),
        )?)
    } else {
        None
    };
    let metrics = Arc::new(metrics);
    let hub = Arc::new(Hub::new(config.http.history, Arc::clone(&metrics)));
    info!(input = %config.input.spec, "listening on http://{}", listener.local_addr()?);
    let access = Access::new(
        token.as_ref(),
        config.http.allowed_origins.clone(),
        Hosts::new(config.http.listen, &config.http.allowed_hosts),
    );
    if !access.guarded() && !config.http.listen.ip().is_loopback() {
        warn!(
            "listening on {} without a token: anyone who can reach this address can read the \
             board{}; set [http] token_file",
            config.http.listen,
            if config.commands.enabled {
                " and send it commands"
            } else {
                ""
            },
        );
    }
    let reaches_board = matches!(commands, Commands::Board(_));
    let state = Arc::new(AppState {
        hub: Arc::clone(&hub),
        metrics: Arc::clone(&metrics),
        shutdown: shutdown.clone(),
        commands,
        keepalive: Duration::from_secs(config.http.keepalive_secs),
        routes: sinks.routes(),
        limits: Limits::new(&config.http),
        access,
        fields: http::fields_body(&config, reaches_board),
        history: history.as_ref().map(|history| history.path().to_owned()),
    });
    shutdown.spawn(http::serve(listener, state, config.http.max_connections));
    sinks.start(&hub, &shutdown);

    let (tx, rx) = mpsc::channel(SOURCE_QUEUE);
    let source = tokio::spawn(source.run(tx, inbox));
    let mut pipeline = Pipeline::new(&config, hub, metrics);
    if let Some(recorder) = history.as_mut().and_then(History::recorder) {
        pipeline.record_to(recorder);
    }
    service.watch(&mut pipeline);
    let mut pipeline = tokio::spawn(pipeline.run(rx));
    service.ready();

    let signal = tokio::select! {
        // A panic in the pipeline is an exit 1, which systemd restarts.
        ended = &mut pipeline => {
            ended.context("the pipeline failed")?;
            None
        }
        signal = signals.recv() => Some(signal),
    };
    let why = match signal {
        Some(signal) => signal,
        None if config.input.exit_at_eof => "the input has ended",
        None => {
            info!("the input has ended; still serving the last state");
            signals.recv().await
        }
    };
    info!("{why}: shutting down");
    let started = Instant::now();
    service.stopping(why);

    // Stop taking input: with the source gone, the pipeline publishes what
    // is still queued for it and ends.
    source.abort();
    if !pipeline.is_finished() && tokio::time::timeout(DRAIN, pipeline).await.is_err() {
        warn!("the pipeline did not finish within {DRAIN:?}; dropping what it held");
    }
    // The history writer commits what it holds while the sinks send what
    // they hold (by their own deadline) and the local connections finish.
    let history = history.map(|history| tokio::task::spawn_blocking(|| history.close()));
    let unfinished = shutdown.finish(GRACE).await;
    if let Some(history) = history
        && tokio::time::timeout(DRAIN, history).await.is_err()
    {
        warn!("the history writer did not finish within {DRAIN:?}");
    }
    if unfinished > 0 {
        warn!("{unfinished} connections or sinks did not finish within {GRACE:?}; closing them");
    }
    info!(took_ms = started.elapsed().as_millis(), "shut down");
    Ok(())
}

/// Every connection is a file descriptor, and the usual soft limit (1024)
/// is below `max_connections`: raise it to the hard limit, which is the
/// administrator's to set (systemd's `LimitNOFILE=`).
fn raise_file_limit() {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => debug!(from = soft, to = hard, "raised the open file limit"),
            Err(error) => warn!("cannot raise the open file limit from {soft}: {error}"),
        },
        Ok(_) => {}
        Err(error) => warn!("cannot read the open file limit: {error}"),
    }
}

/// A write past the file-size limit (`RLIMIT_FSIZE`, `LimitFSIZE=`) raises
/// SIGXFSZ, whose default action ends the process. Caught (by a tokio
/// listener that nobody reads, kept for the daemon's life), it is only a
/// failed write (EFBIG): the history store counts it and live serving goes
/// on, as it does on a full disk.
fn catch_file_size_signal() -> Option<tokio::signal::unix::Signal> {
    let kind = tokio::signal::unix::SignalKind::from_raw(nix::sys::signal::Signal::SIGXFSZ as i32);
    tokio::signal::unix::signal(kind)
        .inspect_err(|error| warn!("cannot catch SIGXFSZ: {error}"))
        .ok()
}

/// The token in `[http] token_file`, held to the same rules as `token`.
fn read_token(path: &std::path::Path) -> anyhow::Result<SecretString> {
    let token = crate::secret::read_file(path, "HTTP token")?;
    if !esplora_config::valid_token(token.expose_secret()) {
        bail!(
            "the HTTP token file {} must hold 16 to 256 of A-Z a-z 0-9 - . _ ~ + / =",
            path.display()
        );
    }
    Ok(token)
}
