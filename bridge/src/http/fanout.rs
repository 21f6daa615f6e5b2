//! The SSE fan-out: a few writer tasks, one per core, each owning a shard
//! of the SSE clients' sockets (taken from hyper by [`takeover`]) and one
//! broadcast receiver for them all.
//!
//! A shard wakes when events are ready, takes every one of them, encodes
//! each once (the `id:`, `event:` and `data:` lines inside one HTTP/1.1
//! chunk; the same bytes without the chunk's framing for HTTP/1.0), and
//! writes them to each client with one non-blocking vectored write. Only a
//! socket that would block gets a queue of the frames it has still to take
//! (shared bytes, not copies) and a watch for writability. So per event the
//! shard does one system call per client and nothing else per client.
//!
//! What a client is sent, and when, is what it was sent as a hyper stream:
//!
//! - It opens with a `retry:` hint, then resumes after `Last-Event-ID` while
//!   the history holds the missed events, or else starts from a snapshot
//!   ([`Hub::start`]); live events at or below where it started are skipped.
//! - A client whose queue reaches [`CLIENT_QUEUE`] frames (it has stopped
//!   reading) keeps only the frame it is in the middle of, and gets a fresh
//!   snapshot once its socket takes that; the resync is counted. So does
//!   every client of a shard that itself falls that far behind the hub. A
//!   stuck client costs at most its queue and its socket buffers.
//! - One timer per shard, every half keep-alive interval: a client sent
//!   nothing for a whole interval gets a comment line.
//! - Each client's socket is watched for reading: the client closing it (or
//!   a failed write) ends it at once. What a client sends is discarded.
//! - On shutdown each stream is ended (HTTP/1.1's last chunk) and closed;
//!   `EventSource` then reconnects by itself, with `Last-Event-ID`.
//!
//! [`takeover`]: super::takeover

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::Shutdown as Direction;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
use tracing::debug;

use super::limits::Slot;
use crate::hub::{Event, Hub};
use crate::metrics::ClientMetrics;
use crate::shutdown::Shutdown;

/// How many frames a client may have waiting before it is resynced.
const CLIENT_QUEUE: usize = 256;
/// The most frames given to one vectored write.
const MAX_SLICES: usize = 64;
/// How long a browser waits before reconnecting, in ms.
const RETRY: &[u8] = b"retry: 2000\n\n";
const KEEPALIVE: &[u8] = b": keep-alive\n\n";

/// An SSE client as its handler hands it over.
pub struct Joining {
    /// The seq to resume after (`Last-Event-ID`).
    pub since: Option<u64>,
    /// Whether hyper framed the response in chunks (HTTP/1.1), or sends
    /// the body until the connection closes (HTTP/1.0).
    pub chunked: bool,
    /// Keeps the connection counted under `max_connections`.
    pub slot: Option<Slot>,
    /// Keeps the client counted as connected.
    pub metrics: ClientMetrics,
}

/// The shards, each fed new clients through a channel.
pub struct Fanout {
    shards: Vec<mpsc::UnboundedSender<(TcpStream, Joining)>>,
    next: AtomicUsize,
}

impl Fanout {
    /// Starts one shard per core, which end on shutdown.
    pub fn start(hub: &Arc<Hub>, keepalive: Duration, shutdown: &Shutdown) -> Fanout {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let shards = (0..cores)
            .map(|_| {
                let (joins, joined) = mpsc::unbounded_channel();
                let shard = Shard::new(Arc::clone(hub), keepalive);
                shutdown.spawn(shard.run(joined, shutdown.clone()));
                joins
            })
            .collect();
        Fanout {
            shards,
            next: AtomicUsize::new(0),
        }
    }

    /// Hands a client, whose response head has been written, to a shard.
    pub fn join(&self, stream: TcpStream, client: Joining) {
        let shard = self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        // A shard has gone only on shutdown; the client is then dropped.
        let _ = self.shards[shard].send((stream, client));
    }
}

/// One event, or a fixed line, framed once for every client of a shard.
#[derive(Clone)]
struct Frame {
    /// Inside one HTTP/1.1 chunk.
    chunked: Bytes,
    /// The SSE text alone (a slice of `chunked`).
    plain: Bytes,
}

impl Frame {
    fn new(text: &[u8]) -> Frame {
        let size = format!("{:x}\r\n", text.len());
        let mut chunk = BytesMut::with_capacity(size.len() + text.len() + 2);
        chunk.put_slice(size.as_bytes());
        chunk.put_slice(text);
        chunk.put_slice(b"\r\n");
        let chunked = chunk.freeze();
        let plain = chunked.slice(size.len()..size.len() + text.len());
        Frame { chunked, plain }
    }

    fn event(event: &Event) -> Frame {
        let head = format!("id: {}\nevent: {}\ndata: ", event.seq, event.kind.as_str());
        let mut text = Vec::with_capacity(head.len() + event.json.len() + 2);
        text.extend_from_slice(head.as_bytes());
        text.extend_from_slice(&event.json);
        text.extend_from_slice(b"\n\n");
        Frame::new(&text)
    }

    fn bytes(&self, chunked: bool) -> &Bytes {
        if chunked { &self.chunked } else { &self.plain }
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
    socket: Arc<TcpStream>,
    /// Tells this client from an earlier one under the same slab key, for
    /// a watch that completes after its client has gone.
    id: u64,
    chunked: bool,
    /// The seq of the last event written or queued.
    seq: u64,
    /// Bytes the socket has yet to take, in order; the first may be the
    /// rest of a frame partly written.
    queue: VecDeque<Bytes>,
    /// Whether the queue is being watched for writability.
    watched: bool,
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
    events: broadcast::Receiver<Arc<Event>>,
    clients: Slab<Client>,
    watches: FuturesUnordered<BoxFuture<'static, Ready>>,
    next_id: u64,
    keepalive: Duration,
    tick: u64,
    retry: Frame,
    comment: Frame,
}

impl Shard {
    fn new(hub: Arc<Hub>, keepalive: Duration) -> Shard {
        Shard {
            events: hub.receiver(),
            hub,
            clients: Slab::new(),
            watches: FuturesUnordered::new(),
            next_id: 0,
            keepalive,
            tick: 0,
            retry: Frame::new(RETRY),
            comment: Frame::new(KEEPALIVE),
        }
    }

    async fn run(
        mut self,
        mut joined: mpsc::UnboundedReceiver<(TcpStream, Joining)>,
        shutdown: Shutdown,
    ) {
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
                Some((stream, client)) = joined.recv() => self.admit(stream, client),
                _ = ticks.tick() => self.keep_alive(),
            }
        }
        self.close_all();
    }

    fn admit(&mut self, stream: TcpStream, joining: Joining) {
        let first = self.hub.start(joining.since);
        self.next_id += 1;
        let socket = Arc::new(stream);
        let key = self.clients.insert(Client {
            socket: Arc::clone(&socket),
            id: self.next_id,
            chunked: joining.chunked,
            seq: first
                .last()
                .map(|event| event.seq)
                .or(joining.since)
                .unwrap_or_default(),
            queue: VecDeque::new(),
            watched: false,
            resync: false,
            written: self.tick,
            metrics: joining.metrics,
            _slot: joining.slot,
        });
        self.watch(key, Watch::Read);
        let mut frames = vec![self.retry.clone()];
        frames.extend(first.iter().map(|event| Frame::event(event)));
        self.clients[key].metrics.events_sent(first.len() as u64);
        if self.write(key, &frames).is_err() {
            self.remove(key);
        }
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
            let chunked = client.chunked;
            let frames = batch.frames[start..]
                .iter()
                .map(|frame| frame.bytes(chunked));
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

    /// The shard fell behind the hub: every client starts afresh.
    fn lagged(&mut self) {
        debug!("an SSE shard fell behind; sending its clients a fresh snapshot");
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
        client.resync = false;
        client.metrics.resynced();
        client.metrics.events_sent(start.len() as u64);
        if let Some(last) = start.last() {
            client.seq = last.seq;
        }
        if self.write(key, frames).is_err() {
            self.remove(key);
        }
    }

    /// Writes `frames` to a client, or queues them behind what waits.
    fn write(&mut self, key: usize, frames: &[Frame]) -> Result<(), Gone> {
        let client = &mut self.clients[key];
        let chunked = client.chunked;
        if offer(
            client,
            frames.iter().map(|frame| frame.bytes(chunked)),
            self.tick,
        )? {
            self.watch(key, Watch::Write);
        }
        Ok(())
    }

    fn watched(&mut self, key: usize, id: u64, watch: Watch, usable: bool) {
        if self.clients.get(key).is_none_or(|client| client.id != id) {
            return;
        }
        let outcome = if !usable {
            Err(Gone)
        } else {
            match watch {
                Watch::Read => self.read(key),
                Watch::Write => self.drain(key),
            }
        };
        if outcome.is_err() {
            self.remove(key);
        }
    }

    /// Reads what the client sent: nothing is expected but its closing.
    fn read(&mut self, key: usize) -> Result<(), Gone> {
        let mut buf = [0; 512];
        for _ in 0..16 {
            match self.clients[key].socket.try_read(&mut buf) {
                Ok(0) => return Err(Gone),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Err(Gone),
            }
        }
        self.watch(key, Watch::Read);
        Ok(())
    }

    /// Writes what a client's queue holds, now that its socket takes more.
    fn drain(&mut self, key: usize) -> Result<(), Gone> {
        let client = &mut self.clients[key];
        client.watched = false;
        if flush(client, self.tick)? {
            self.watch(key, Watch::Write);
        } else if client.resync {
            let start = self.hub.start(None);
            let frames: Vec<Frame> = start.iter().map(|event| Frame::event(event)).collect();
            self.resynced(key, &start, &frames);
        }
        Ok(())
    }

    /// A comment to every client sent nothing for a keep-alive interval.
    fn keep_alive(&mut self) {
        self.tick += 1;
        let (mut blocked, mut gone) = (Vec::new(), Vec::new());
        for (key, client) in &mut self.clients {
            // Written two ticks ago or earlier, and not since: at least one
            // interval (two ticks) has passed.
            if client.written + 3 > self.tick || !client.queue.is_empty() || client.resync {
                continue;
            }
            let comment = self.comment.bytes(client.chunked);
            match offer(client, std::iter::once(comment), self.tick) {
                Ok(true) => blocked.push(key),
                Ok(false) => {}
                Err(Gone) => gone.push(key),
            }
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
        }
        let socket = Arc::clone(&client.socket);
        let id = client.id;
        self.watches.push(Box::pin(async move {
            let ready = match watch {
                Watch::Read => socket.readable().await,
                Watch::Write => socket.writable().await,
            };
            (key, id, watch, ready.is_ok())
        }));
    }

    fn remove(&mut self, key: usize) {
        let client = self.clients.remove(key);
        // Wakes the client's watches, which hold the socket open until then.
        let _ = SockRef::from(&*client.socket).shutdown(Direction::Both);
    }

    /// Ends every stream, on shutdown.
    fn close_all(&mut self) {
        // An empty chunk: HTTP/1.1's last.
        let last = Frame::new(b"");
        for (_, client) in &mut self.clients {
            if client.chunked && client.queue.is_empty() {
                let _ = client.socket.try_write(&last.chunked);
            }
            let _ = SockRef::from(&*client.socket).shutdown(Direction::Write);
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
    let mut written = write_vectored(&client.socket, &slices[..count])?;
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
        let mut written = write_vectored(&client.socket, &slices[..count])?;
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
