//! Taking a connection from hyper once an SSE response head is out, so that
//! the [`Fanout`] writes the events to the socket itself: no task, no hyper
//! buffers and no wake-up per client per event.
//!
//! hyper serves every connection through an [`Io`], which shares the socket
//! ([`Socket`]) with the connection's task. The SSE handler answers with a
//! body ([`Handover`]) that hyper first polls right after it has put the
//! response head in its write buffer, and then flushes: the body then hands
//! its client to the connection's task through the request's [`Takeover`],
//! and never yields. The task waits until hyper has written every byte it
//! buffered (the socket would not have blocked), drops hyper's side of the
//! connection, and passes the socket on. Everything before (the routing,
//! the `Host`, token and Origin checks, the `400` for a bad
//! `Last-Event-ID`, the CORS headers) stays hyper's and the router's.
//!
//! A WebSocket leaves hyper by its upgrade: the [`Io`] is then taken back
//! from hyper's `Upgraded` (with what hyper had read ahead), and its
//! writing goes to the [`Fanout`] too.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::fanout::{Fanout, Joining};

/// A connection's socket, shared by hyper's [`Io`] and the connection's task.
pub struct Socket {
    stream: TcpStream,
    /// Whether hyper's last write would have blocked, so that bytes may
    /// still be in its buffer.
    blocked: AtomicBool,
}

impl Socket {
    pub fn new(stream: TcpStream) -> Arc<Socket> {
        Arc::new(Socket {
            stream,
            blocked: AtomicBool::new(false),
        })
    }

    /// Whether everything hyper asked to write has been written.
    pub fn flushed(&self) -> bool {
        !self.blocked.load(Ordering::Relaxed)
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

/// What hyper reads and writes: the shared socket.
pub struct Io(pub Arc<Socket>);

impl Io {
    fn write_with(
        &self,
        cx: &mut Context<'_>,
        write: impl Fn(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let socket = &self.0;
        loop {
            match socket.stream.poll_write_ready(cx) {
                Poll::Pending => {
                    socket.blocked.store(true, Ordering::Relaxed);
                    return Poll::Pending;
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Ready(Ok(())) => {}
            }
            match write(&socket.stream) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                written => {
                    socket.blocked.store(false, Ordering::Relaxed);
                    return Poll::Ready(written);
                }
            }
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let stream = &self.0.stream;
        loop {
            ready!(stream.poll_read_ready(cx))?;
            match stream.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_with(cx, |stream| stream.try_write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write_with(cx, |stream| stream.try_write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(SockRef::from(&self.0.stream).shutdown(std::net::Shutdown::Write))
    }
}

/// Where a request's handler hands its client over: an SSE stream to the
/// connection's task, a WebSocket (once upgraded) straight to the
/// [`Fanout`]. One per connection, in every request's extensions.
#[derive(Clone)]
pub struct Takeover {
    pub sse: mpsc::Sender<Joining>,
    pub fanout: Arc<Fanout>,
}

/// The body of an SSE response: it hands `client` over on its first poll,
/// and yields nothing, ever (hyper's side of the connection is dropped).
pub struct Handover {
    takeover: Takeover,
    client: Option<Joining>,
}

impl Handover {
    pub fn new(takeover: Takeover, client: Joining) -> Handover {
        Handover {
            takeover,
            client: Some(client),
        }
    }
}

impl Body for Handover {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let Some(client) = self.client.take() else {
            return Poll::Pending;
        };
        match self.takeover.sse.try_send(client) {
            // The connection's task drops hyper's side of the connection.
            Ok(()) => Poll::Pending,
            // No one to take it (the task has gone): the stream ends.
            Err(_) => Poll::Ready(None),
        }
    }
}
