//! The fan-out of the event streams: a few writer tasks, one per core,
//! each owning a shard of the SSE and WebSocket clients' sockets (taken
//! from hyper, see [`takeover`]) and one broadcast receiver for them all.
//!
//! A shard wakes when events are ready, takes every one of them, frames
//! each once per transport (for SSE the `id:`, `event:` and `data:` lines
//! inside one HTTP/1.1 chunk, or without the chunk's framing for HTTP/1.0;
//! for a WebSocket one unmasked text frame), and writes them to each client
//! with one non-blocking vectored write. Only a socket that would block gets
//! a queue of the frames it has still to take (shared bytes, not copies)
//! and a watch for writability. So per event a shard does one system call
//! per client and nothing else per client: no task is woken per client.
//!
//! What a client is sent, and when, is what it was sent by a task of its own:
//!
//! - An SSE stream opens with a `retry:` hint. A stream resumes after
//!   `Last-Event-ID` (or `?since=`) while the history holds the missed
//!   events, or else starts from a snapshot ([`Hub::start`]); live events at
//!   or below where it started are skipped.
//! - A client whose queue reaches [`CLIENT_QUEUE`] frames (it has stopped
//!   reading) keeps only the frame it is in the middle of, and gets a fresh
//!   snapshot once its socket takes that; the resync is counted. So does
//!   every client of a shard that itself falls that far behind the hub. A
//!   stuck client costs at most its queue and its socket buffers.
//! - One timer per shard, every half keep-alive interval: an SSE client
//!   sent nothing for half an interval or more gets a comment line, so
//!   that no silence lasts longer than the interval; every WebSocket
//!   client gets a ping each interval, and one whose socket has taken
//!   nothing for two intervals is dropped (`stalled`).
//! - A WebSocket's reading stays with a task of its own (`ws`), which
//!   answers pings, commands and close frames: its replies come here as
//!   framed bytes ([`ToShard::Reply`]) and are written in order with the
//!   events; it ends the client when the client closes or goes silent.
//!   An SSE client's socket is watched for reading here: the client
//!   closing it (or a failed write) ends it at once; what it sends is
//!   discarded.
//! - On shutdown each stream is ended (HTTP/1.1's last chunk, or a close
//!   frame `1001`) and its socket shut down; `EventSource` then reconnects
//!   by itself, with `Last-Event-ID`.
//!
//! [`takeover`]: super::takeover

use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice};
use std::net::Shutdown as Direction;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use slab::Slab;
use socket2::SockRef;
use tokio::net::TcpStream;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tracing::debug;

use super::limits::Slot;
use super::takeover::Socket;
use crate::hub::{Event, Hub};
use crate::metrics::{ClientMetrics, Metrics};
use crate::shutdown::Shutdown;

/// How many frames a client may have waiting before it is resynced.
const CLIENT_QUEUE: usize = 256;
/// The most frames given to one vectored write.
const MAX_SLICES: usize = 64;
/// What a shard's channel holds: new clients, and WebSocket replies.
const CHANNEL: usize = 1024;
/// How long a browser waits before reconnecting, in ms.
const RETRY: &[u8] = b"retry: 2000\n\n";
const KEEPALIVE: &[u8] = b": keep-alive\n\n";

/// How a client's stream is framed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// SSE in HTTP/1.1 chunks (`true`), or until the connection closes
    /// (HTTP/1.0): as hyper framed the response.
    Sse {
        chunked: bool,
    },
    WebSocket,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Sse { .. } => "sse",
            Transport::WebSocket => "ws",
        }
    }
}

/// A client as its handler hands it over.
pub struct Joining {
    /// The seq to resume after (`Last-Event-ID`, `?since=`).
    pub since: Option<u64>,
    pub transport: Transport,
    /// Keeps the connection counted under `max_connections`.
    pub slot: Option<Slot>,
    /// Keeps the client counted as connected.
    pub metrics: ClientMetrics,
}

/// What a shard is sent.
pub enum ToShard {
    Join(Arc<Socket>, Joining, u64),
    /// Bytes a WebSocket's reading task has to send (whole frames).
    Reply(u64, Bytes),
    /// A WebSocket's reading task has ended: so does the client.
    End(u64),
}

/// How a WebSocket's reading task reaches its client in a shard.
pub struct Link {
    pub id: u64,
    pub to: mpsc::Sender<ToShard>,
}

/// The shards.
pub struct Fanout {
    shards: Vec<mpsc::Sender<ToShard>>,
    next: AtomicUsize,
    ids: AtomicU64,
}

impl Fanout {
    /// Starts one shard per core, which end on shutdown.
    pub fn start(
        hub: &Arc<Hub>,
        metrics: &Arc<Metrics>,
        keepalive: Duration,
        shutdown: &Shutdown,
    ) -> Fanout {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let shards = (0..cores)
            .map(|_| {
                let (to, from) = mpsc::channel(CHANNEL);
                let shard = Shard::new(Arc::clone(hub), Arc::clone(metrics), keepalive);
                shutdown.spawn(shard.run(from, shutdown.clone()));
                to
            })
            .collect();
        Fanout {
            shards,
            next: AtomicUsize::new(0),
            ids: AtomicU64::new(0),
        }
    }

    /// Hands a client, whose handshake or response head has been written,
    /// to a shard.
    pub async fn join(&self, socket: Arc<Socket>, client: Joining) -> Link {
        let shard = &self.shards[self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len()];
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        // A shard has gone only on shutdown; the client is then dropped.
        let _ = shard.send(ToShard::Join(socket, client, id)).await;
        Link {
            id,
            to: shard.clone(),
        }
    }
}

/// One event, or a fixed line, framed once for every client of a shard.
#[derive(Clone)]
struct Frame {
    /// SSE, inside one HTTP/1.1 chunk.
    chunked: Bytes,
    /// SSE, the text alone (a slice of `chunked`).
    plain: Bytes,
    /// A WebSocket frame.
    ws: Bytes,
}

impl Frame {
    /// SSE text, which a WebSocket is not sent.
    fn sse(text: &[u8]) -> Frame {
        let size = format!("{:x}\r\n", text.len());
        let mut chunk = BytesMut::with_capacity(size.len() + text.len() + 2);
        chunk.put_slice(size.as_bytes());
        chunk.put_slice(text);
        chunk.put_slice(b"\r\n");
        let chunked = chunk.freeze();
        let plain = chunked.slice(size.len()..size.len() + text.len());
        Frame {
            chunked,
            plain,
            ws: Bytes::new(),
        }
    }

    /// A WebSocket frame, which an SSE stream is not sent.
    fn ws(frame: WsFrame) -> Frame {
        let mut ws = Vec::with_capacity(frame.len());
        // Formatting into a Vec cannot fail.
        let _ = frame.format(&mut ws);
        Frame {
            chunked: Bytes::new(),
            plain: Bytes::new(),
            ws: Bytes::from(ws),
        }
    }

    fn event(event: &Event) -> Frame {
        let head = format!("id: {}\nevent: {}\ndata: ", event.seq, event.kind.as_str());
        let mut text = Vec::with_capacity(head.len() + event.json.len() + 2);
        text.extend_from_slice(head.as_bytes());
        text.extend_from_slice(&event.json);
        text.extend_from_slice(b"\n\n");
        let message = WsFrame::message(event.json.clone(), OpCode::Data(Data::Text), true);
        Frame {
            ws: Frame::ws(message).ws,
            ..Frame::sse(&text)
        }
    }

    fn bytes(&self, transport: Transport) -> &Bytes {
        match transport {
            Transport::Sse { chunked: true } => &self.chunked,
            Transport::Sse { chunked: false } => &self.plain,
            Transport::WebSocket => &self.ws,
        }
    }
}

/// Events taken together, framed.
struct Batch {
    seqs: Vec<u64>,
    frames: Vec<Frame>,
}

impl Batch {
    fn of(events: &[Arc<Event>]) -> Batch {
        Batch {
            seqs: events.iter().map(|event| event.seq).collect(),
            frames: events.iter().map(|event| Frame::event(event)).collect(),
        }
    }
}

struct Client {
    socket: Arc<Socket>,
    /// Tells this client from an earlier one under the same slab key, for
    /// a watch that completes after its client has gone.
    id: u64,
    transport: Transport,
    /// The seq of the last event written or queued.
    seq: u64,
    /// Bytes the socket has yet to take, in order; the first may be the
    /// rest of a frame partly written.
    queue: VecDeque<Bytes>,
    /// Whether the queue is being watched for writability.
    watched: bool,
    /// The shard's tick when the queue began (it is not empty).
    blocked: Option<u64>,
    /// Its queue overflowed: it is sent nothing until a fresh snapshot,
    /// once the queue has drained.
    resync: bool,
    /// The shard's tick when it was last written to.
    written: u64,
    metrics: ClientMetrics,
    _slot: Option<Slot>,
}

/// What a watch waits for.
#[derive(Clone, Copy)]
enum Watch {
    Read,
    Write,
}

/// A watch that completed: the client's key and id, what it waited for,
/// and whether the socket is still usable.
type Ready = (usize, u64, Watch, bool);

/// The client has gone: its socket failed or closed.
struct Gone;

struct Shard {
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    events: broadcast::Receiver<Arc<Event>>,
    clients: Slab<Client>,
    /// WebSocket clients' keys, by id, for their reading tasks' messages.
    keys: HashMap<u64, usize>,
    watches: FuturesUnordered<BoxFuture<'static, Ready>>,
    keepalive: Duration,
    tick: u64,
    retry: Frame,
    comment: Frame,
    ping: Frame,
}

impl Shard {
    fn new(hub: Arc<Hub>, metrics: Arc<Metrics>, keepalive: Duration) -> Shard {
        Shard {
            events: hub.receiver(),
            hub,
            metrics,
            clients: Slab::new(),
            keys: HashMap::new(),
            watches: FuturesUnordered::new(),
            keepalive,
            tick: 0,
            retry: Frame::sse(RETRY),
            comment: Frame::sse(KEEPALIVE),
            ping: Frame::ws(WsFrame::ping(Bytes::new())),
        }
    }

    async fn run(mut self, mut from: mpsc::Receiver<ToShard>, shutdown: Shutdown) {
        let period = (self.keepalive / 2).max(Duration::from_millis(1));
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                received = self.events.recv() => {
                    if !self.publish(received) {
                        break;
                    }
                }
                Some((key, id, watch, usable)) = self.watches.next() => {
                    self.watched(key, id, watch, usable);
                }
                Some(message) = from.recv() => self.received(message),
                _ = ticks.tick() => self.keep_alive(),
            }
        }
        self.close_all();
    }

    fn received(&mut self, message: ToShard) {
        match message {
            ToShard::Join(socket, joining, id) => self.admit(socket, joining, id),
            ToShard::Reply(id, bytes) => {
                if let Some(&key) = self.keys.get(&id) {
                    let client = &mut self.clients[key];
                    let outcome = offer(client, std::iter::once(&bytes), self.tick);
                    self.settle_one(key, outcome);
                }
            }
            ToShard::End(id) => {
                if let Some(&key) = self.keys.get(&id) {
                    self.remove(key);
                }
            }
        }
    }

    fn admit(&mut self, socket: Arc<Socket>, joining: Joining, id: u64) {
        let first = self.hub.start(joining.since);
        let transport = joining.transport;
        let key = self.clients.insert(Client {
            socket,
            id,
            transport,
            seq: first
                .last()
                .map(|event| event.seq)
                .or(joining.since)
                .unwrap_or_default(),
            queue: VecDeque::new(),
            watched: false,
            blocked: None,
            resync: false,
            written: self.tick,
            metrics: joining.metrics,
            _slot: joining.slot,
        });
        match transport {
            Transport::Sse { .. } => self.watch(key, Watch::Read),
            Transport::WebSocket => {
                self.keys.insert(id, key);
            }
        }
        let mut frames = Vec::with_capacity(first.len() + 1);
        if let Transport::Sse { .. } = transport {
            frames.push(self.retry.clone());
        }
        frames.extend(first.iter().map(|event| Frame::event(event)));
        self.clients[key].metrics.events_sent(first.len() as u64);
        self.write(key, &frames);
    }

    /// Sends what the receiver gave, and every event ready after it.
    /// Returns false once the hub has gone.
    fn publish(&mut self, received: Result<Arc<Event>, RecvError>) -> bool {
        let mut events = Vec::new();
        match received {
            Ok(event) => events.push(event),
            Err(RecvError::Lagged(_)) => self.lagged(),
            Err(RecvError::Closed) => return false,
        }
        loop {
            match self.events.try_recv() {
                Ok(event) => events.push(event),
                Err(TryRecvError::Lagged(_)) => {
                    // The snapshot covers what was taken so far.
                    events.clear();
                    self.lagged();
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return false,
            }
        }
        if events.is_empty() || self.clients.is_empty() {
            return true;
        }
        let batch = Batch::of(&events);
        let (mut blocked, mut gone) = (Vec::new(), Vec::new());
        for (key, client) in &mut self.clients {
            // Events at or below where the client started were in its start.
            let start = batch.seqs.partition_point(|&seq| seq <= client.seq);
            let Some(&last) = batch.seqs.last().filter(|_| start < batch.seqs.len()) else {
                continue;
            };
            if client.resync {
                continue;
            }
            client.seq = last;
            client
                .metrics
                .events_sent((batch.seqs.len() - start) as u64);
            let transport = client.transport;
            let frames = batch.frames[start..]
                .iter()
                .map(|frame| frame.bytes(transport));
            match offer(client, frames, self.tick) {
                Ok(true) => blocked.push(key),
                Ok(false) => {}
                Err(Gone) => gone.push(key),
            }
        }
        self.settle(&blocked, &gone);
        true
    }

    /// Watches the clients whose sockets would block, and removes the gone.
    fn settle(&mut self, blocked: &[usize], gone: &[usize]) {
        for &key in blocked {
            self.watch(key, Watch::Write);
        }
        for &key in gone {
            self.remove(key);
        }
    }

    fn settle_one(&mut self, key: usize, outcome: Result<bool, Gone>) {
        match outcome {
            Ok(true) => self.watch(key, Watch::Write),
            Ok(false) => {}
            Err(Gone) => self.remove(key),
        }
    }

    /// The shard fell behind the hub: every client starts afresh.
    fn lagged(&mut self) {
        debug!("a fan-out shard fell behind; sending its clients a fresh snapshot");
        for (_, client) in &mut self.clients {
            client.queue.truncate(1);
            client.resync = true;
        }
        let keys: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, client)| client.queue.is_empty())
            .map(|(key, _)| key)
            .collect();
        if keys.is_empty() {
            return;
        }
        let snapshot = self.hub.start(None);
        let frames: Vec<Frame> = snapshot.iter().map(|event| Frame::event(event)).collect();
        for key in keys {
            self.resynced(key, &snapshot, &frames);
        }
    }

    /// Sends a client that was resynced its fresh start.
    fn resynced(&mut self, key: usize, start: &[Arc<Event>], frames: &[Frame]) {
        let client = &mut self.clients[key];
        debug!(
            transport = client.transport.label(),
            "a client fell behind; sending it a fresh snapshot"
        );
        client.resync = false;
        client.metrics.resynced();
        client.metrics.events_sent(start.len() as u64);
        if let Some(last) = start.last() {
            client.seq = last.seq;
        }
        self.write(key, frames);
    }

    /// Writes `frames` to a client, or queues them behind what waits.
    fn write(&mut self, key: usize, frames: &[Frame]) {
        let client = &mut self.clients[key];
        let transport = client.transport;
        let frames = frames.iter().map(|frame| frame.bytes(transport));
        let outcome = offer(client, frames, self.tick);
        self.settle_one(key, outcome);
    }

    fn watched(&mut self, key: usize, id: u64, watch: Watch, usable: bool) {
        if self.clients.get(key).is_none_or(|client| client.id != id) {
            return;
        }
        if !usable {
            self.remove(key);
            return;
        }
        match watch {
            Watch::Read => self.read(key),
            Watch::Write => self.drain(key),
        }
    }

    /// Reads what an SSE client sent: nothing is expected but its closing.
    fn read(&mut self, key: usize) {
        let mut buf = [0; 512];
        for _ in 0..16 {
            match self.clients[key].socket.stream().try_read(&mut buf) {
                Ok(0) => return self.remove(key),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return self.remove(key),
            }
        }
        self.watch(key, Watch::Read);
    }

    /// Writes what a client's queue holds, now that its socket takes more.
    fn drain(&mut self, key: usize) {
        let client = &mut self.clients[key];
        client.watched = false;
        match flush(client, self.tick) {
            Err(Gone) => self.remove(key),
            Ok(true) => self.watch(key, Watch::Write),
            Ok(false) if client.resync => {
                let start = self.hub.start(None);
                let frames: Vec<Frame> = start.iter().map(|event| Frame::event(event)).collect();
                self.resynced(key, &start, &frames);
            }
            Ok(false) => {}
        }
    }

    /// Every half keep-alive interval: a comment to each SSE client sent
    /// nothing since the tick before last, and each interval a ping to every
    /// WebSocket client; a WebSocket blocked for two intervals is dropped.
    fn keep_alive(&mut self) {
        self.tick += 1;
        let ping = self.tick % 2 == 0;
        let (mut blocked, mut gone, mut stalled) = (Vec::new(), Vec::new(), Vec::new());
        for (key, client) in &mut self.clients {
            let frame = match client.transport {
                Transport::WebSocket if client.blocked.is_some_and(|at| at + 5 <= self.tick) => {
                    stalled.push(key);
                    continue;
                }
                Transport::WebSocket if ping => &self.ping,
                // Last written before the previous tick: between half an
                // interval and one has passed.
                Transport::Sse { .. } if client.written + 2 <= self.tick => &self.comment,
                _ => continue,
            };
            if !client.queue.is_empty() || client.resync {
                continue;
            }
            let transport = client.transport;
            match offer(client, std::iter::once(frame.bytes(transport)), self.tick) {
                Ok(true) => blocked.push(key),
                Ok(false) => {}
                Err(Gone) => gone.push(key),
            }
        }
        for key in stalled {
            debug!(
                "dropped a WebSocket client: its socket took nothing for two keep-alive intervals"
            );
            self.metrics.client_dropped("ws", "stalled");
            self.remove(key);
        }
        self.settle(&blocked, &gone);
    }

    /// Waits for a client's socket to be readable, or writable.
    fn watch(&mut self, key: usize, watch: Watch) {
        let client = &mut self.clients[key];
        if let Watch::Write = watch {
            if client.watched {
                return;
            }
            client.watched = true;
            client.blocked.get_or_insert(self.tick);
        }
        let socket = Arc::clone(&client.socket);
        let id = client.id;
        self.watches.push(Box::pin(async move {
            let stream = socket.stream();
            let ready = match watch {
                Watch::Read => stream.readable().await,
                Watch::Write => stream.writable().await,
            };
            (key, id, watch, ready.is_ok())
        }));
    }

    fn remove(&mut self, key: usize) {
        let client = self.clients.remove(key);
        if client.transport == Transport::WebSocket {
            self.keys.remove(&client.id);
        }
        // Wakes the watches and the reading task, which hold the socket
        // open until they end.
        let _ = SockRef::from(client.socket.stream()).shutdown(Direction::Both);
    }

    /// Ends every stream, on shutdown.
    fn close_all(&mut self) {
        // An empty chunk: HTTP/1.1's last.
        let last = Frame::sse(b"");
        let away = Frame::ws(WsFrame::close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "the server is shutting down".into(),
        })));
        for (_, client) in &mut self.clients {
            let end = match client.transport {
                Transport::Sse { chunked: true } => &last.chunked,
                Transport::Sse { chunked: false } => &last.plain,
                Transport::WebSocket => &away.ws,
            };
            if client.queue.is_empty() && !end.is_empty() {
                let _ = client.socket.stream().try_write(end);
            }
            let _ = SockRef::from(client.socket.stream()).shutdown(Direction::Write);
        }
        self.clients.clear();
    }
}

/// Writes `frames` to the client with one vectored write, or queues what
/// its socket does not take (behind what is queued already). Returns
/// whether the client has a queue, and so needs its socket watched.
fn offer<'a, I>(client: &mut Client, frames: I, tick: u64) -> Result<bool, Gone>
where
    I: Iterator<Item = &'a Bytes> + Clone,
{
    if !client.queue.is_empty() {
        client.queue.extend(frames.cloned());
        if client.queue.len() > CLIENT_QUEUE {
            debug!("an SSE client fell behind; it will get a fresh snapshot");
            client.queue.truncate(1);
            client.resync = true;
        }
        return Ok(true);
    }
    let mut slices = [IoSlice::new(&[]); MAX_SLICES];
    let mut count = 0;
    for (slice, frame) in slices.iter_mut().zip(frames.clone()) {
        *slice = IoSlice::new(frame);
        count += 1;
    }
    let mut written = write_vectored(client.socket.stream(), &slices[..count])?;
    if written > 0 {
        client.written = tick;
    }
    for frame in frames {
        if written >= frame.len() {
            written -= frame.len();
        } else {
            client.queue.push_back(frame.slice(written..));
            written = 0;
        }
    }
    Ok(!client.queue.is_empty())
}

/// Writes as much of the client's queue as its socket takes. Returns
/// whether some is left (the socket would block).
fn flush(client: &mut Client, tick: u64) -> Result<bool, Gone> {
    while !client.queue.is_empty() {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let mut count = 0;
        for (slice, bytes) in slices.iter_mut().zip(&client.queue) {
            *slice = IoSlice::new(bytes);
            count += 1;
        }
        let mut written = write_vectored(client.socket.stream(), &slices[..count])?;
        if written == 0 {
            return Ok(true);
        }
        client.written = tick;
        while let Some(front) = client.queue.front_mut() {
            if written < front.len() {
                let _ = front.split_to(written);
                break;
            }
            written -= front.len();
            client.queue.pop_front();
        }
    }
    client.blocked = None;
    Ok(false)
}

/// One non-blocking vectored write: how much the socket took (none when it
/// would block).
fn write_vectored(socket: &TcpStream, slices: &[IoSlice<'_>]) -> Result<usize, Gone> {
    match socket.try_write_vectored(slices) {
        Ok(written) => Ok(written),
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(_) => Err(Gone),
    }
}
