//! One epoll loop, owning a shard of the clients.
//!
//! The loop waits on its sockets and on a waker that the stdin reader (a
//! new event) and the acceptor (a new connection) ring. It takes every
//! event that has queued since it last looked and writes their shared
//! bytes to each client of its shard with one non-blocking `writev`, so a
//! loop that fell behind catches up in fewer system calls rather than
//! more. Only a socket that would block gets a buffer of its own, and only
//! then is it watched for writability, so that the other sockets' ACKs do
//! not wake the loop. A client whose buffer passes [`MAX_PENDING`] is
//! dropped: the floor has no slow-client policy beyond staying bounded.
//!
//! A connection starts with its request head: `GET /events` is answered
//! as a chunked `text/event-stream`, `GET /ws` with a WebSocket upgrade;
//! then the client is sent a snapshot, and every later event. What a
//! client sends after its head is read and dropped.

use std::io::{ErrorKind, IoSlice, Read, Write};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};

use anyhow::Context;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::event::{Encoded, Publisher};

const WAKER: Token = Token(usize::MAX);
/// The most a client may have waiting for its socket.
const MAX_PENDING: usize = 1 << 20;
/// The longest request head taken.
const MAX_HEAD: usize = 8 * 1024;
/// The `retry:` hint that opens an SSE stream, as one chunk.
const SSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
cache-control: no-store\r\ntransfer-encoding: chunked\r\n\r\nd\r\nretry: 2000\n\n\r\n";

/// What the other threads hold of a worker.
pub struct Handle {
    pub events: Sender<Arc<Encoded>>,
    pub streams: Sender<std::net::TcpStream>,
    pub waker: Arc<Waker>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Sse,
    Ws,
}

struct Client {
    stream: TcpStream,
    /// `None` until the request head has been answered.
    transport: Option<Transport>,
    /// The request head so far, then nothing.
    head: Vec<u8>,
    /// The seq of its snapshot: older events are not sent.
    since: u64,
    /// Bytes the socket would not take yet.
    pending: Vec<u8>,
}

pub struct Worker {
    poll: Poll,
    publisher: Arc<Publisher>,
    events: Receiver<Arc<Encoded>>,
    streams: Receiver<std::net::TcpStream>,
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
}

impl Worker {
    pub fn new(publisher: Arc<Publisher>) -> anyhow::Result<(Worker, Handle)> {
        let poll = Poll::new().context("cannot make an epoll instance")?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (event_tx, events) = mpsc::channel();
        let (stream_tx, streams) = mpsc::channel();
        let worker = Worker {
            poll,
            publisher,
            events,
            streams,
            clients: Vec::new(),
            free: Vec::new(),
        };
        let handle = Handle {
            events: event_tx,
            streams: stream_tx,
            waker,
        };
        Ok((worker, handle))
    }

    pub fn run(mut self) -> anyhow::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut scratch = vec![0; 4096];
        let mut batch = Vec::new();
        loop {
            if let Err(error) = self.poll.poll(&mut events, None) {
                if error.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(error.into());
            }
            for ready in &events {
                if ready.token() == WAKER {
                    continue;
                }
                let index = ready.token().0;
                if ready.is_readable() || ready.is_read_closed() || ready.is_error() {
                    self.read(index, &mut scratch);
                }
                if ready.is_writable() {
                    self.flush(index);
                }
            }
            while let Ok(stream) = self.streams.try_recv() {
                self.admit(stream);
            }
            batch.extend(self.events.try_iter());
            if !batch.is_empty() {
                self.fan_out(&batch);
                batch.clear();
            }
        }
    }

    fn admit(&mut self, stream: std::net::TcpStream) {
        if stream.set_nonblocking(true).is_err() || stream.set_nodelay(true).is_err() {
            return;
        }
        let mut stream = TcpStream::from_std(stream);
        let index = self.free.pop().unwrap_or(self.clients.len());
        if self
            .poll
            .registry()
            .register(&mut stream, Token(index), Interest::READABLE)
            .is_err()
        {
            self.free.push(index);
            return;
        }
        let client = Client {
            stream,
            transport: None,
            head: Vec::new(),
            since: 0,
            pending: Vec::new(),
        };
        match self.clients.get_mut(index) {
            Some(slot) => *slot = Some(client),
            None => self.clients.push(Some(client)),
        }
    }

    /// Writes the events' shared bytes to every client of the shard.
    fn fan_out(&mut self, batch: &[Arc<Encoded>]) {
        let mut slices = Vec::with_capacity(batch.len());
        for index in 0..self.clients.len() {
            let Some(client) = self.clients[index].as_mut() else {
                continue;
            };
            let Some(transport) = client.transport else {
                continue;
            };
            slices.clear();
            slices.extend(
                batch.iter().filter(|event| event.seq > client.since).map(
                    |event| match transport {
                        Transport::Sse => IoSlice::new(&event.sse),
                        Transport::Ws => IoSlice::new(&event.ws),
                    },
                ),
            );
            if !client.send(&mut slices, &self.poll, Token(index)) {
                self.close(index);
            }
        }
    }

    fn read(&mut self, index: usize, scratch: &mut [u8]) {
        let Some(client) = self.clients.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let keep = loop {
            match client.stream.read(scratch) {
                Ok(0) => break false,
                Ok(n) if client.transport.is_none() => {
                    client.head.extend_from_slice(&scratch[..n]);
                    match client.answer(&self.publisher, &self.poll, Token(index)) {
                        Ok(_) if client.head.len() > MAX_HEAD => break false,
                        Ok(_) => {}
                        Err(()) => break false,
                    }
                }
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => break true,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => break false,
            }
        };
        if !keep {
            self.close(index);
        }
    }

    fn flush(&mut self, index: usize) {
        let Some(client) = self.clients.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        if !client.flush(&self.poll, Token(index)) {
            self.close(index);
        }
    }

    fn close(&mut self, index: usize) {
        if let Some(mut client) = self.clients.get_mut(index).and_then(Option::take) {
            let _ = self.poll.registry().deregister(&mut client.stream);
            self.free.push(index);
        }
    }
}

impl Client {
    /// Answers the request head once it is whole; `Err` closes the client.
    fn answer(&mut self, publisher: &Publisher, poll: &Poll, token: Token) -> Result<(), ()> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&self.head) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Ok(()),
            Err(_) => return Err(()),
        }
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|header| header.name.eq_ignore_ascii_case(name))
                .map(|header| header.value)
        };
        let (transport, response) = match (request.method, request.path) {
            (Some("GET"), Some("/events")) => (Transport::Sse, SSE_HEAD.to_vec()),
            (Some("GET"), Some("/ws")) => {
                let key = header("sec-websocket-key").ok_or(())?;
                let response = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\
                     connection: Upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
                    derive_accept_key(key)
                );
                (Transport::Ws, response.into_bytes())
            }
            _ => {
                let _ = self
                    .stream
                    .write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
                return Err(());
            }
        };
        self.head = Vec::new();
        self.transport = Some(transport);
        let snapshot = publisher.snapshot();
        self.since = snapshot.seq;
        let snapshot = match transport {
            Transport::Sse => &snapshot.sse,
            Transport::Ws => &snapshot.ws,
        };
        let mut slices = [IoSlice::new(&response), IoSlice::new(snapshot)];
        if self.send(&mut slices, poll, token) {
            Ok(())
        } else {
            Err(())
        }
    }

    /// Writes `slices`, or keeps what the socket will not take and
    /// watches for it to take more; `false` when the client must go.
    fn send(&mut self, mut slices: &mut [IoSlice<'_>], poll: &Poll, token: Token) -> bool {
        if !self.pending.is_empty() {
            for slice in slices.iter() {
                self.pending.extend_from_slice(slice);
            }
            return self.pending.len() <= MAX_PENDING;
        }
        while !slices.is_empty() {
            match self.stream.write_vectored(slices) {
                Ok(0) => return false,
                Ok(n) => IoSlice::advance_slices(&mut slices, n),
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    for slice in slices.iter() {
                        self.pending.extend_from_slice(slice);
                    }
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    return poll
                        .registry()
                        .reregister(&mut self.stream, token, interest)
                        .is_ok();
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Writes what was waiting, and stops watching for writability once
    /// it is all out; `false` when the client must go.
    fn flush(&mut self, poll: &Poll, token: Token) -> bool {
        let mut written = 0;
        while written < self.pending.len() {
            match self.stream.write(&self.pending[written..]) {
                Ok(0) => return false,
                Ok(n) => written += n,
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        self.pending.drain(..written);
        if self.pending.is_empty() {
            self.pending = Vec::new();
            return poll
                .registry()
                .reregister(&mut self.stream, token, Interest::READABLE)
                .is_ok();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sse_head_ends_with_one_whole_chunk() {
        let text = std::str::from_utf8(SSE_HEAD).unwrap();
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        let (size, rest) = body.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size, 16).unwrap();
        assert_eq!(&rest[size..], "\r\n");
        assert_eq!(&rest[..size], "retry: 2000\n\n");
    }
}
