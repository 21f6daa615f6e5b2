//! The throttle stage: at most `max_rate_hz` deltas a second.
//!
//! Changes that arrive too soon are merged into one pending delta, where
//! the latest value of each field wins; the pending delta goes out as soon
//! as the rate allows ([`Throttle::due`]), so the trailing value is never
//! lost, only delayed by at most one interval.

use std::time::{Duration, Instant};

use super::Values;

pub struct Throttle {
    /// `None`: no limit.
    interval: Option<Duration>,
    pending: Values,
    /// Before this instant nothing may be published.
    next: Option<Instant>,
}

impl Throttle {
    /// A throttle at `max_rate_hz`; 0 (or anything not positive) means no limit.
    pub fn new(max_rate_hz: f64) -> Self {
        Throttle {
            interval: interval(max_rate_hz),
            pending: Values::new(),
            next: None,
        }
    }

    /// Changes the rate from the next publish on (the one already scheduled
    /// keeps its time): for a consumer whose allowance varies, such as the
    /// relay under a daily budget.
    pub fn set_rate(&mut self, max_rate_hz: f64) {
        self.interval = interval(max_rate_hz);
    }

    /// Takes in changes; returns the delta to publish now, if the rate allows.
    pub fn push(&mut self, changes: &Values, now: Instant) -> Option<Values> {
        self.pending.merge(changes);
        if self.next.is_some_and(|next| now < next) {
            return None;
        }
        self.flush(now)
    }

    /// When the pending delta may go out; `None` when nothing is pending.
    pub fn due(&self) -> Option<Instant> {
        if self.pending.is_empty() {
            return None;
        }
        Some(self.next.unwrap_or_else(Instant::now))
    }

    /// Takes the pending delta regardless of the rate: at its due time, and
    /// before anything that must not overtake it (a status change, the end).
    pub fn flush(&mut self, now: Instant) -> Option<Values> {
        if self.pending.is_empty() {
            return None;
        }
        self.next = self.interval.map(|interval| now + interval);
        Some(std::mem::take(&mut self.pending))
    }
}

fn interval(max_rate_hz: f64) -> Option<Duration> {
    (max_rate_hz > 0.0)
        .then(|| Duration::try_from_secs_f64(1.0 / max_rate_hz).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_passes_everything_at_once() {
        let mut t = Throttle::new(0.0);
        let now = Instant::now();
        assert_eq!(
            t.push(&Values::of(&[("a", 1)]), now),
            Some(Values::of(&[("a", 1)]))
        );
        assert_eq!(
            t.push(&Values::of(&[("a", 2)]), now),
            Some(Values::of(&[("a", 2)]))
        );
        assert_eq!(t.due(), None);
    }

    #[test]
    fn merges_while_limited_and_keeps_the_trailing_value() {
        let mut t = Throttle::new(10.0);
        let start = Instant::now();
        assert!(t.push(&Values::of(&[("a", 1)]), start).is_some());
        assert_eq!(
            t.push(
                &Values::of(&[("a", 2), ("b", 1)]),
                start + Duration::from_millis(10)
            ),
            None
        );
        assert_eq!(
            t.push(&Values::of(&[("a", 3)]), start + Duration::from_millis(20)),
            None
        );
        assert_eq!(t.due(), Some(start + Duration::from_millis(100)));
        let flushed = t.flush(start + Duration::from_millis(100));
        assert_eq!(flushed, Some(Values::of(&[("a", 3), ("b", 1)])));
        assert_eq!(t.due(), None);
        // The next change waits a full interval after that flush.
        assert_eq!(
            t.push(&Values::of(&[("a", 4)]), start + Duration::from_millis(150)),
            None
        );
        assert_eq!(t.due(), Some(start + Duration::from_millis(200)));
    }

    #[test]
    fn a_new_rate_applies_from_the_next_publish() {
        let mut t = Throttle::new(10.0);
        let start = Instant::now();
        assert!(t.push(&Values::of(&[("a", 1)]), start).is_some());
        t.set_rate(1.0);
        assert_eq!(t.push(&Values::of(&[("a", 2)]), start), None);
        assert_eq!(t.due(), Some(start + Duration::from_millis(100)));
        assert!(t.flush(start + Duration::from_millis(100)).is_some());
        assert_eq!(
            t.push(&Values::of(&[("a", 3)]), start + Duration::from_millis(200)),
            None
        );
        assert_eq!(t.due(), Some(start + Duration::from_millis(1100)));
    }
}
