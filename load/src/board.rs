//! The board: writes lines to the daemon's stdin at a steady rate.
//!
//! A plain thread paces the lines, each aimed at its own deadline from the
//! start (so that sleep overshoot never adds up into drift), and stamps
//! each with the time it is written, in µs since the tool started, in its
//! `u:` field. The other fields move the way a board's do (the
//! accelerometer jitters), so that deltas are of a realistic size; `u:`
//! changes on every line, so every line is one delta.

use std::io::Write;
use std::process::ChildStdin;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Board {
    pub rate_hz: f64,
    pub lines: u64,
}

/// What the board wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    /// Fewer than asked when the daemon stopped reading.
    pub lines: u64,
    /// The send times of the first and the last line, in µs.
    pub first_us: u64,
    pub last_us: u64,
}

impl Board {
    /// Starts writing; the thread returns what it wrote.
    pub fn start(self, mut stdin: ChildStdin, start: Instant) -> JoinHandle<Written> {
        std::thread::spawn(move || {
            let begin = Instant::now();
            let mut line = Vec::with_capacity(128);
            let mut written = Written::default();
            for i in 0..self.lines {
                let deadline = begin + Duration::from_secs_f64(i as f64 / self.rate_hz);
                if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                line.clear();
                let jitter = (i % 7) as i64 - 3;
                // A board thread that fell behind writes its late lines in a
                // burst, several within a µs; a repeated `u:` would be no
                // change, and make no event. One µs apart keeps each an event.
                let now = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                let sent = if i == 0 {
                    now
                } else {
                    now.max(written.last_us + 1)
                };
                // `n` is the board's sequence number, which wraps at 16 bits.
                let result = writeln!(
                    line,
                    "s:512,x:{},y:{},z:{},j:0,k:0,l:600,m:20,t:24,u:{sent},b:0,n:{}",
                    jitter,
                    -jitter,
                    128 + jitter,
                    i % 65_536
                )
                .and_then(|()| stdin.write_all(&line));
                if result.is_err() {
                    break;
                }
                if i == 0 {
                    written.first_us = sent;
                }
                written.last_us = sent;
                written.lines = i + 1;
            }
            written
        })
    }
}
