//! `esplora-bridge record`: writes an input to a timed capture (see
//! [`crate::capture`]) until the input ends or Ctrl-C, showing progress.
//!
//! Every framed line is recorded as it arrived, the ones the parser would
//! reject included, so that replaying the capture reproduces the session.
//! Only lines the framer itself dropped (too long, or the partial line after
//! a connect) cannot be recorded; they are counted and reported.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use esplora_config::{InputSpec, ReplayRate};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tracing::info;

use crate::capture;
use crate::command::Inbox;
use crate::source::{Source, SourceEvent};

const PROGRESS_EVERY: Duration = Duration::from_secs(1);

pub async fn run(spec: &InputSpec, rate: Option<ReplayRate>, output: &Path) -> anyhow::Result<()> {
    let source = Source::open(spec, rate).await?;
    let file = tokio::fs::File::create(output)
        .await
        .with_context(|| format!("cannot create {}", output.display()))?;
    let mut writer = tokio::io::BufWriter::new(file);
    let mut record = Vec::with_capacity(1024);
    record.extend_from_slice(capture::HEADER);
    record.push(b'\n');

    let (tx, mut rx) = mpsc::channel(1024);
    tokio::spawn(source.run(tx, Inbox::default()));
    let start = Instant::now();
    let mut progress = Progress::new(output);
    let mut ticks = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(SourceEvent::Line(line)) => {
                    capture::write_record(&mut record, start.elapsed(), &line);
                    progress.lines += 1;
                }
                Some(SourceEvent::Rejected(_)) => progress.dropped += 1,
                Some(SourceEvent::Connected { origin }) => info!("recording from {origin}"),
                Some(SourceEvent::Disconnected { reason }) => info!("the input went away: {reason}"),
                None => break,
            },
            _ = ticks.tick() => progress.show(),
            _ = tokio::signal::ctrl_c() => break,
        }
        if record.len() >= 64 * 1024 {
            writer
                .write_all(&record)
                .await
                .context("cannot write the capture")?;
            record.clear();
        }
    }
    writer
        .write_all(&record)
        .await
        .context("cannot write the capture")?;
    writer.flush().await.context("cannot write the capture")?;
    progress.done();
    Ok(())
}

/// The running count on stderr: rewritten in place on a terminal, a log
/// line every ten seconds elsewhere (journald, a pipe).
struct Progress<'a> {
    output: &'a Path,
    lines: u64,
    dropped: u64,
    terminal: bool,
    last_logged: Instant,
}

impl<'a> Progress<'a> {
    fn new(output: &'a Path) -> Self {
        Progress {
            output,
            lines: 0,
            dropped: 0,
            terminal: std::io::stderr().is_terminal(),
            last_logged: Instant::now(),
        }
    }

    fn show(&mut self) {
        if self.terminal {
            eprint!(
                "\rrecorded {} lines ({} dropped by the framer)",
                self.lines, self.dropped
            );
        } else if self.last_logged.elapsed() >= Duration::from_secs(10) {
            self.last_logged = Instant::now();
            info!(lines = self.lines, dropped = self.dropped, "recording");
        }
    }

    fn done(&self) {
        if self.terminal {
            eprintln!();
        }
        info!(
            lines = self.lines,
            dropped = self.dropped,
            "recorded {} lines to {}",
            self.lines,
            self.output.display()
        );
    }
}
