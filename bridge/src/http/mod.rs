//! The local HTTP server: hyper 1.x, one task per connection.
//!
//! [`router`] maps each request to its handler; the handlers only read from
//! the [`Hub`] and the [`Metrics`], so a client can never slow the pipeline.
//! The streaming transports each have a module: [`sse`], [`ws`] (which
//! takes the connection over with an HTTP upgrade) and [`poll`]; both
//! streams get their events through a [`feed`]. [`page`] serves the live
//! page, built into the binary.
//!
//! On shutdown the server stops accepting, and every connection finishes
//! the response in flight, then closes (an idle keep-alive connection closes
//! at once). A response that streams (SSE, a long poll) has to end itself
//! when [`Shutdown::cancelled`] completes; whatever is still open when the
//! grace period is over is dropped.

mod feed;
mod page;
mod poll;
mod pusher_auth;
mod router;
mod sse;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::debug;

use crate::command::Commands;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::sink::relay::sign::Credentials;

/// What every handler may read.
pub struct AppState {
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub shutdown: Shutdown,
    /// Where WebSocket clients' commands go.
    pub commands: Commands,
    /// How often idle streams are kept alive (`http.keepalive_secs`).
    pub keepalive: Duration,
    /// The relay's app key and secret, for `POST /pusher/auth`; `None`
    /// without a relay.
    pub pusher: Option<Arc<Credentials>>,
}

/// Accepts connections until shutdown.
pub async fn serve(listener: TcpListener, state: Arc<AppState>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = state.shutdown.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Typically EMFILE: back off briefly instead of spinning.
                debug!("accept failed: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        // Events are small writes that must leave at once: Nagle would hold
        // one back until the client acknowledged the one before.
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%peer, "cannot set TCP_NODELAY: {error}");
        }
        let shutdown = state.shutdown.clone();
        let handlers = Arc::clone(&state);
        state.shutdown.spawn(async move {
            let service = service_fn(move |request| router::route(request, Arc::clone(&handlers)));
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
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
