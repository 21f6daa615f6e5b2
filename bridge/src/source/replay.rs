//! The replay source: a capture from a file or stdin, played at a pace.
//!
//! A raw capture plays at `--replay-rate` lines a second (100, the board's
//! rate, by default); a timed capture (see [`crate::capture`]) plays with
//! its recorded timing unless a rate is given; `max` plays as fast as the
//! pipeline takes it. Pacing aims each line at its own deadline from the
//! start rather than sleeping between lines, so timer granularity never
//! accumulates into drift and rates above the timer's resolution still work.

use std::time::{Duration, Instant};

use esplora_config::ReplayRate;
use esplora_parser::{LineFramer, MAX_LINE_LEN};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tracing::info;

use super::{SourceEvent, finish, frame};
use crate::capture;

const A_YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

pub struct Replay {
    reader: Box<dyn AsyncRead + Unpin + Send>,
    origin: String,
    rate: Option<ReplayRate>,
}

impl Replay {
    pub fn new(
        reader: Box<dyn AsyncRead + Unpin + Send>,
        origin: String,
        rate: Option<ReplayRate>,
    ) -> Self {
        Replay {
            reader,
            origin,
            rate,
        }
    }

    pub async fn run(mut self, tx: &mpsc::Sender<SourceEvent>) -> anyhow::Result<()> {
        let origin = std::mem::take(&mut self.origin);
        if tx
            .send(SourceEvent::Connected {
                origin: origin.clone(),
            })
            .await
            .is_err()
        {
            return Ok(());
        }
        let mut framer = LineFramer::with_max_len(MAX_LINE_LEN + capture::PREFIX_MAX);
        let mut framed = Vec::new();
        let mut buf = vec![0; 64 * 1024];
        let mut player = Player::new(self.rate);
        loop {
            let n = self.reader.read(&mut buf).await?;
            if n == 0 {
                finish(&mut framer, &mut framed);
            } else {
                frame(&mut framer, &buf[..n], &mut framed);
            }
            for event in framed.drain(..) {
                if let Some(event) = player.pace(event).await {
                    if tx.send(event).await.is_err() {
                        return Ok(());
                    }
                }
            }
            if n == 0 {
                break;
            }
        }
        info!(
            capture = %origin,
            lines = player.lines,
            secs = player.start.elapsed().as_secs_f64(),
            "replay finished"
        );
        let _ = tx
            .send(SourceEvent::Disconnected {
                reason: "end of the capture".to_owned(),
            })
            .await;
        Ok(())
    }
}

/// Decides, line by line, what to send and when.
struct Player {
    rate: Option<ReplayRate>,
    /// Whether this is a timed capture; known from its first line.
    timed: Option<bool>,
    start: Instant,
    lines: u64,
}

impl Player {
    fn new(rate: Option<ReplayRate>) -> Self {
        Player {
            rate,
            timed: None,
            start: Instant::now(),
            lines: 0,
        }
    }

    /// Waits for the event's turn and returns what to send, if anything.
    async fn pace(&mut self, event: SourceEvent) -> Option<SourceEvent> {
        let SourceEvent::Line(line) = event else {
            return Some(event);
        };
        let timed = match self.timed {
            Some(timed) => timed,
            None => {
                let timed = *line == *capture::HEADER;
                self.timed = Some(timed);
                self.start = Instant::now();
                if timed {
                    return None;
                }
                timed
            }
        };
        let (recorded, line) = match capture::parse_record(&line) {
            Some((time, rest)) if timed => (Some(time), line.slice_ref(rest)),
            _ => (None, line),
        };
        // A given rate wins; else a timed capture keeps its timing, and a
        // raw one plays at the board's own rate.
        let rate = match (self.rate, timed) {
            (Some(rate), _) => Some(rate),
            (None, true) => None,
            (None, false) => Some(ReplayRate::DEFAULT),
        };
        let due = match rate {
            Some(ReplayRate::Max) => None,
            Some(ReplayRate::Hz(hz)) => Some(self.lines as f64 / hz),
            None => recorded.map(|time| time.as_secs_f64()),
        };
        if let Some(due) = due {
            // A rate as slow as the config allows (any positive number) may
            // put a line beyond what a Duration holds: cap it at a year.
            let due = Duration::try_from_secs_f64(due)
                .unwrap_or(Duration::MAX)
                .min(A_YEAR);
            tokio::time::sleep_until((self.start + due).into()).await;
        }
        self.lines += 1;
        Some(SourceEvent::Line(line))
    }
}
