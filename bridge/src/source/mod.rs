//! Sources: where the board's lines come from.
//!
//! Every source runs as its own task and sends [`SourceEvent`]s down one
//! channel to the pipeline. The channel closing is the end of the input.
//! Sources frame their own byte streams (with the parser crate's bounded
//! [`LineFramer`]) because only a source knows when its stream restarts
//! mid-line, and a replay needs whole lines to pace them.
//!
//! - [`serial`]: a USB serial board (`serial:PATH[@BAUD]`, `auto`), reopened
//!   whenever it goes away;
//! - [`replay`]: a capture from a file or stdin, raw or timed;
//! - [`demo`]: a simulated Esplora.

pub mod demo;
pub mod replay;
pub mod serial;

use std::os::fd::AsFd;

use anyhow::Context;
use bytes::Bytes;
use esplora_config::{InputSpec, ReplayRate};
use esplora_parser::{LineError, LineFramer};
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

use crate::command::Inbox;

/// What a source tells the pipeline.
#[derive(Debug)]
pub enum SourceEvent {
    /// A board (or a capture) started sending. `origin` names it for logs.
    Connected { origin: String },
    /// One line as sent, without its `\n`.
    Line(Bytes),
    /// A line the framer refused before it could be parsed.
    Rejected(LineError),
    /// The board went away; the source keeps trying to get it back.
    Disconnected { reason: String },
}

/// The pipeline stopped listening; the source should stop too.
#[derive(Debug)]
pub struct Closed;

/// A source, opened and ready to run.
pub enum Source {
    Serial(serial::Port),
    Replay(replay::Replay),
    /// The demo board, at this rate.
    Demo(Option<ReplayRate>),
}

impl Source {
    /// Opens what must exist at start-up (a capture file), so that a typo is
    /// an error now rather than an empty pipeline later. Serial devices may
    /// come and go, so they are only opened by [`Source::run`].
    pub async fn open(spec: &InputSpec, rate: Option<ReplayRate>) -> anyhow::Result<Source> {
        Ok(match spec {
            InputSpec::Auto => Source::Serial(serial::Port::Auto),
            InputSpec::Serial { path, baud } => Source::Serial(serial::Port::Path {
                path: path.clone(),
                baud: *baud,
            }),
            InputSpec::File(path) => {
                let file = tokio::fs::File::open(path)
                    .await
                    .with_context(|| format!("cannot open the capture {}", path.display()))?;
                Source::Replay(replay::Replay::new(
                    Box::new(file),
                    path.display().to_string(),
                    rate,
                ))
            }
            InputSpec::Stdin => {
                Source::Replay(replay::Replay::new(stdin(), "stdin".to_owned(), rate))
            }
            InputSpec::Demo => Source::Demo(rate),
        })
    }

    /// Whether the input is a serial board, the only kind that can be sent
    /// commands.
    pub fn is_serial(&self) -> bool {
        matches!(self, Source::Serial(_))
    }

    /// Runs until the input ends or the pipeline stops listening. Commands
    /// from `inbox` are written to a serial board; other sources never see
    /// any, since [`crate::command::Commands`] refuses them up front.
    pub async fn run(self, tx: mpsc::Sender<SourceEvent>, inbox: Inbox) {
        let result = match self {
            Source::Serial(port) => serial::run(port, &tx, inbox).await,
            Source::Replay(replay) => replay.run(&tx).await,
            Source::Demo(rate) => demo::run(&tx, rate).await,
        };
        if let Err(error) = result {
            tracing::error!("the input failed: {error:#}");
        }
    }
}

/// Frames `bytes` and appends what came out to `out`, ready to send.
/// Stdin as an async reader. A pipe is read through the reactor, as the
/// serial port is; anything else (a file, a terminal) through tokio's
/// stdin, which reads on a blocking thread and hands each read over to the
/// runtime: at a board's 100 lines a second, that hand-off was most of
/// what the idle daemon cost (0.8 to 1.3% of a core, against 0.1 to 0.2%
/// through the reactor; see BENCHMARKS.md).
fn stdin() -> Box<dyn AsyncRead + Unpin + Send> {
    let pipe = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(tokio::net::unix::pipe::Receiver::from_owned_fd);
    match pipe {
        Ok(pipe) => Box::new(pipe),
        Err(_) => Box::new(tokio::io::stdin()),
    }
}

fn frame(framer: &mut LineFramer, bytes: &[u8], out: &mut Vec<SourceEvent>) {
    framer.push(bytes, |line| out.push(framed(line)));
}

/// Hands over what the framer still holds at the end of a stream.
fn finish(framer: &mut LineFramer, out: &mut Vec<SourceEvent>) {
    framer.finish(|line| out.push(framed(line)));
}

fn framed(line: Result<&[u8], LineError>) -> SourceEvent {
    match line {
        Ok(line) => SourceEvent::Line(Bytes::copy_from_slice(line)),
        Err(error) => SourceEvent::Rejected(error),
    }
}

/// Sends events in order; `Err` once the pipeline has gone.
async fn send_all(
    tx: &mpsc::Sender<SourceEvent>,
    events: &mut Vec<SourceEvent>,
) -> Result<(), Closed> {
    for event in events.drain(..) {
        tx.send(event).await.map_err(|_| Closed)?;
    }
    Ok(())
}
