//! The local HTTP server: hyper 1.x, one task per connection.
//!
//! [`router`] maps each request to its handler; the handlers only read from
//! the [`Hub`] and the [`Metrics`], so a client can never slow the pipeline.
//! The streaming transports each have a module: [`sse`], [`ws`] (which
//! takes the connection over with an HTTP upgrade) and [`poll`]. Both
//! streams leave hyper ([`takeover`]) and are written by the [`fanout`]'s
//! shards, a few writer tasks that each own many clients. [`history`]
//! answers from the history store. [`page`] serves the live
//! page, built into the binary. [`limits`] bounds what a client may cost;
//! [`host`] checks the `Host` a request names, and [`access`] decides who
//! may come in. A sink's own routes (from
//! [`Sinks::routes`](crate::sink::Sinks::routes)) are answered through
//! [`sink_route`].
//!
//! When `accept` fails (mostly EMFILE: the open-file limit is reached),
//! the listener waits before trying again, 10 ms at first and twice as
//! long each time after, up to a second: the connection that could not be
//! taken stays in the kernel's backlog, so trying at once would fail again
//! and spin. Connections already open are served meanwhile, and the
//! waiting ones are taken as soon as descriptors are free again.
//!
//! On shutdown the server stops accepting, and every connection finishes
//! the response in flight, then closes (an idle keep-alive connection closes
//! at once). A response that streams (SSE, a long poll) has to end itself
//! when [`Shutdown::cancelled`] completes; whatever is still open when the
//! grace period is over is dropped.

mod access;
mod fanout;
mod fields;
mod history;
mod host;
mod limits;
mod page;
mod poll;
mod router;
mod sink_route;
mod sse;
mod takeover;
mod ws;

use std::future::{Future, poll_fn};
use std::path::PathBuf;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

pub use access::Access;
pub use fields::body as fields_body;
pub use host::Hosts;
pub use limits::Limits;

use crate::command::Commands;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::sink::Route;
use fanout::Fanout;
use takeover::{Io, Socket, Takeover};

/// The first wait after a failed `accept`, and the longest.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// What every handler may read.
pub struct AppState {
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub shutdown: Shutdown,
    /// Where WebSocket clients' commands go.
    pub commands: Commands,
    /// How often idle streams are kept alive (`http.keepalive_secs`).
    pub keepalive: Duration,
    /// The routes the sinks add (the relay's `POST /pusher/auth`).
    pub routes: Vec<Route>,
    pub limits: Limits,
    pub access: Access,
    /// The body of `GET /api/fields`, built once from the config.
    pub fields: Bytes,
    /// The history store `GET /api/history` reads; `None` when history is
    /// off.
    pub history: Option<PathBuf>,
}

/// Accepts connections until shutdown, at most `max_connections` at once.
pub async fn serve(listener: TcpListener, state: Arc<AppState>, max_connections: usize) {
    let admission = limits::Admission::new(max_connections, Arc::clone(&state.metrics));
    let fanout = Arc::new(Fanout::start(
        &state.hub,
        &state.metrics,
        state.keepalive,
        &state.shutdown,
    ));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(state.limits.header_timeout)
        .max_buf_size(state.limits.max_header_bytes);
    // The wait after the last failed accept; `None` while accepting works.
    let mut backoff: Option<Duration> = None;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = state.shutdown.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                let wait = match backoff {
                    None => {
                        warn!(
                            "cannot accept connections: {error}; retrying with backoff (is the open-file limit, LimitNOFILE, too low?)"
                        );
                        ACCEPT_BACKOFF.0
                    }
                    Some(wait) => {
                        debug!("accept failed again: {error}");
                        (wait * 2).min(ACCEPT_BACKOFF.1)
                    }
                };
                backoff = Some(wait);
                tokio::select! {
                    () = tokio::time::sleep(wait) => continue,
                    () = state.shutdown.cancelled() => return,
                }
            }
        };
        if backoff.take().is_some() {
            info!("accepting connections again");
        }
        let Some((stream, slot)) = admission.admit(stream) else {
            debug!(%peer, "refused a connection: max_connections reached");
            continue;
        };
        state.limits.tune(&stream);
        let arrived = stream
            .local_addr()
            .ok()
            .map(|local| host::Arrived(local.ip()));
        let shutdown = state.shutdown.clone();
        let handlers = Arc::clone(&state);
        let builder = builder.clone();
        let fanout = Arc::clone(&fanout);
        state.shutdown.spawn(async move {
            let socket = Socket::new(stream);
            let (sse, mut taken) = mpsc::channel(1);
            let takeover = Takeover {
                sse,
                fanout: Arc::clone(&fanout),
            };
            let service = service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                // A WebSocket or an SSE stream takes its own clone, so the
                // connection stays counted after it has left hyper.
                request.extensions_mut().insert(slot.clone());
                request.extensions_mut().insert(takeover.clone());
                if let Some(arrived) = arrived {
                    request.extensions_mut().insert(arrived);
                }
                router::route(request, Arc::clone(&handlers))
            });
            let connection = builder
                .serve_connection(TokioIo::new(Io(Arc::clone(&socket))), service)
                .with_upgrades();
            let mut connection = Box::pin(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                Some(client) = taken.recv() => {
                    // hyper wrote the head, then polled the body: the head
                    // is out once its writes no longer block.
                    let flushed = poll_fn(|cx| match connection.as_mut().poll(cx) {
                        Poll::Ready(_) => Poll::Ready(false),
                        Poll::Pending if socket.flushed() => Poll::Ready(true),
                        Poll::Pending => Poll::Pending,
                    })
                    .await;
                    drop(connection);
                    if flushed {
                        fanout.join(socket, client).await;
                    }
                    return;
                }
                () = shutdown.cancelled() => {
                    // Answers the request in flight, if any, then closes.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                debug!(%peer, "connection ended with an error: {error}");
            }
        });
    }
}
