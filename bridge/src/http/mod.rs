//! The local HTTP server: hyper 1.x, one task per connection.
//!
//! [`router`] maps each request to its handler; the handlers only read from
//! the [`Hub`] and the [`Metrics`], so a client can never slow the pipeline.

mod pusher_auth;
mod router;

use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::debug;

use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::sink::relay::sign::Credentials;

/// What every handler may read.
pub struct AppState {
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    /// The relay's app key and secret, for `POST /pusher/auth`; `None`
    /// without a relay.
    pub pusher: Option<Arc<Credentials>>,
}

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, state: Arc<AppState>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Typically EMFILE: back off briefly instead of spinning.
                debug!("accept failed: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |request| router::route(request, Arc::clone(&state)));
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(%peer, "connection ended with an error: {error}");
            }
        });
    }
}
