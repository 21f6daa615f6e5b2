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

impl Board {
    /// Starts writing; the thread returns how many lines were written
    /// (fewer than asked when the daemon stopped reading).
    pub fn start(self, mut stdin: ChildStdin, start: Instant) -> JoinHandle<u64> {
        std::thread::spawn(move || {
            let begin = Instant::now();
            let mut line = Vec::with_capacity(128);
            for i in 0..self.lines {
                let deadline = begin + Duration::from_secs_f64(i as f64 / self.rate_hz);
                if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                line.clear();
                let jitter = (i % 7) as i64 - 3;
                let sent = start.elapsed().as_micros();
                let written = writeln!(
                    line,
                    "s:512,x:{},y:{},z:{},j:0,k:0,l:600,m:20,t:24,u:{sent},b:0,n:0",
                    jitter,
                    -jitter,
                    128 + jitter
                )
                .and_then(|()| stdin.write_all(&line));
                if written.is_err() {
                    return i;
                }
            }
            self.lines
        })
    }
}
