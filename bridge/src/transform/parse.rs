//! The parse stage: one framed line to a [`Reading`], or a counted rejection.
//!
//! Rejections are logged at warn level, but rate-limited: a board that sends
//! only noise must not flood the journal. The board's sequence number (`n`
//! unless `[input] sequence_key` says otherwise) is used here, and only
//! here, to count lines lost on the way; values the board printed as `nan`,
//! `inf`, `-inf` or `ovf` are counted here too.

use std::fmt::Display;
use std::sync::Arc;
use std::time::{Duration, Instant};

use esplora_parser::{Grammar, Reading, excerpt};
use tracing::warn;

use crate::metrics::Metrics;

/// At most this many rejections are logged in each [`WARN_WINDOW`].
const WARN_BURST: u32 = 10;
const WARN_WINDOW: Duration = Duration::from_secs(10);

pub struct Parse {
    grammar: Grammar,
    last_seq: Option<u16>,
    warnings: WarnLimit,
    metrics: Arc<Metrics>,
}

impl Parse {
    pub fn new(grammar: Grammar, metrics: Arc<Metrics>) -> Self {
        Parse {
            grammar,
            last_seq: None,
            warnings: WarnLimit::default(),
            metrics,
        }
    }

    /// A new connection: the board's sequence starts afresh.
    pub fn reset(&mut self) {
        self.last_seq = None;
    }

    /// Parses one line; a rejected line is counted and logged, and gives
    /// `None`. Acceptance is counted by the caller, once the later stages
    /// have taken the reading too.
    pub fn line<'a>(&mut self, line: &'a [u8]) -> Option<Reading<'a>> {
        match self.grammar.parse(line) {
            Ok(reading) => {
                if let Some(seq) = reading.seq {
                    self.count_lost(seq);
                }
                for (_, word) in &reading.skipped {
                    self.metrics.value_skipped(word.as_str());
                }
                Some(reading)
            }
            Err(error) => {
                self.reject(error.reason(), &error, Some(line));
                None
            }
        }
    }

    /// Counts and logs a rejected line; `line` is what is left of it, if anything.
    pub fn reject(&mut self, reason: &'static str, error: &dyn Display, line: Option<&[u8]>) {
        self.metrics.line_rejected(reason);
        let now = Instant::now();
        if let Some(suppressed) = self.warnings.roll(now) {
            warn!(suppressed, "more bad lines were rejected and not logged");
        }
        if self.warnings.allow() {
            match line {
                Some(line) => warn!(reason, line = %excerpt(line), "rejected a line: {error}"),
                None => warn!(reason, "rejected a line: {error}"),
            }
        }
    }

    fn count_lost(&mut self, seq: u16) {
        if let Some(last) = self.last_seq {
            let lost = seq.wrapping_sub(last).wrapping_sub(1);
            // A gap of 65535 is a repeated line, not 65535 lost ones.
            if lost != 0 && lost != u16::MAX {
                self.metrics.lines_lost(u64::from(lost));
            }
        }
        self.last_seq = Some(seq);
    }
}

/// A fixed-window limiter for log lines.
#[derive(Default)]
pub(crate) struct WarnLimit {
    window_start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl WarnLimit {
    /// Starts a new window when the old one is over, returning how many
    /// warnings the old one suppressed, if any.
    pub(crate) fn roll(&mut self, now: Instant) -> Option<u64> {
        let expired = self
            .window_start
            .is_none_or(|start| now.duration_since(start) >= WARN_WINDOW);
        if !expired {
            return None;
        }
        self.window_start = Some(now);
        self.logged = 0;
        Some(std::mem::take(&mut self.suppressed)).filter(|&n| n > 0)
    }

    pub(crate) fn allow(&mut self) -> bool {
        if self.logged < WARN_BURST {
            self.logged += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_in_n_count_as_lost_across_the_wrap() {
        let metrics = Arc::new(Metrics::new());
        let mut parse = Parse::new(Grammar::ESPLORA, Arc::clone(&metrics));
        let lines = [
            "s:1,n:65533",
            "s:1,n:65535",
            "s:1,n:1",
            "s:1,n:1",
            "bad",
            "s:1,n:2",
        ];
        let accepted = lines
            .iter()
            .filter(|line| parse.line(line.as_bytes()).is_some())
            .count();
        assert_eq!(accepted, 5);
        parse.reset();
        parse.line(b"s:1,n:900");
        let text = metrics.encode();
        // 65534 and 0 were lost; the repeated 1 is not a loss; the reset is not a gap.
        assert!(text.contains("esplora_lines_lost_total 2\n"), "{text}");
        assert!(
            text.contains("esplora_lines_rejected_total{reason=\"bad_number\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn the_sequence_key_is_the_grammar_s_and_nan_words_are_counted() {
        let metrics = Arc::new(Metrics::new());
        let mut parse = Parse::new(Grammar::with_sequence_key(None), Arc::clone(&metrics));
        let reading = parse.line(b"n:3,t:nan,h:inf").unwrap();
        assert_eq!(reading.seq, None);
        assert_eq!(reading.fields.len(), 1);
        parse.line(b"1.5 nan ovf -inf");
        let text = metrics.encode();
        assert!(
            text.contains("esplora_values_skipped_total{value=\"nan\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("esplora_values_skipped_total{value=\"-inf\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn warnings_are_limited_per_window() {
        let mut limit = WarnLimit::default();
        let start = Instant::now();
        assert_eq!(limit.roll(start), None);
        let allowed = (0..25).filter(|_| limit.allow()).count();
        assert_eq!(allowed, WARN_BURST as usize);
        assert_eq!(limit.roll(start + Duration::from_secs(1)), None);
        assert_eq!(limit.roll(start + WARN_WINDOW), Some(15));
        assert!(limit.allow());
    }
}
