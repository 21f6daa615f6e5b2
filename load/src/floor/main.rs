//! esplora-floor: the least a fan-out server can do, as the bridge's yardstick.
//!
//! It reads the same board lines on stdin as the daemon gets from the load
//! tool, and serves the same `GET /events` (SSE) and `GET /ws` (WebSocket)
//! streams, doing only the work no design can avoid: each line is diffed
//! against the last and, when something changed, encoded once per
//! transport (see [`event`]); the same bytes then go to every socket, with
//! non-blocking writes, from one epoll loop per core (see [`worker`]). A new
//! client is sent a snapshot first. Everything else the bridge does
//! (resume, keep-alives, limits, checks, the slow-client policy) is left
//! out on purpose: `esplora-load --compare-floor` measures the bridge
//! against this.
//!
//! The loops are plain mio, not tokio: a floor must not pay for a task
//! wake-up per client per event, and with mio one readiness loop writes
//! straight to every socket of its shard in one pass.
//!
//! It runs until a signal ends it, serving on after stdin ends, as the
//! daemon does.
//!
//! Threads: one reads stdin and publishes (see [`event::Publisher`]), one
//! accepts and deals connections out to the workers in turn, and each
//! worker owns its shard of clients.

mod event;
mod worker;

use std::io::BufRead;
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

use event::Publisher;
use worker::Worker;

/// A minimal fan-out server: board lines on stdin, SSE and WebSocket out.
#[derive(Debug, Parser)]
#[command(name = "esplora-floor", version)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Writer threads [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("esplora-floor: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let listener = TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let publisher = Arc::new(Publisher::default());
    let mut handles = Vec::with_capacity(threads);
    for _ in 0..threads.max(1) {
        let (worker, handle) = Worker::new(Arc::clone(&publisher))?;
        publisher.add(handle.events.clone(), Arc::clone(&handle.waker));
        std::thread::spawn(move || {
            if let Err(error) = worker.run() {
                eprintln!("esplora-floor: a worker stopped: {error:#}");
                std::process::exit(1);
            }
        });
        handles.push(handle);
    }
    let addr = listener.local_addr()?;
    eprintln!("esplora-floor listening on http://{addr}");
    std::thread::spawn(move || accept(&listener, &handles));
    let stdin = std::io::stdin().lock();
    for line in stdin.split(b'\n') {
        let line = line.context("cannot read stdin")?;
        publisher.line(&line);
    }
    // Like the daemon, it serves on after its input ends, until it is
    // stopped (SIGTERM ends it).
    loop {
        std::thread::park();
    }
}

/// Accepts connections and hands them to the workers in turn.
fn accept(listener: &TcpListener, handles: &[worker::Handle]) {
    let mut next = 0;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let Some(handle) = handles.get(next % handles.len()) else {
            return;
        };
        next += 1;
        if handle.streams.send(stream).is_err() || handle.waker.wake().is_err() {
            return;
        }
    }
}
