//! Sinks: where the hub's events go besides the local HTTP server.
//!
//! A sink consumes the hub exactly as a local client does, through
//! [`Hub::subscribe`](crate::hub::Hub::subscribe): a snapshot, then a
//! broadcast receiver it must keep up with. It runs in a task of its own
//! and holds at most a bounded queue, so a slow or absent destination can
//! delay only itself, never the pipeline or the other clients.
//!
//! - [`relay`]: the Pusher Channels HTTP API (Pusher, or a compatible
//!   server such as sockudo).

pub mod relay;
