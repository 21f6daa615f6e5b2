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
        let interval = (max_rate_hz > 0.0)
            .then(|| Duration::try_from_secs_f64(1.0 / max_rate_hz).ok())
            .flatten();
        Throttle {
            interval,
            pending: Values::new(),
            next: None,
        }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn values(pairs: &[(&str, i64)]) -> Values {
        let mut v = Values::new();
        for (name, value) in pairs {
            v.set(&Arc::from(*name), *value);
        }
        v
    }

    #[test]
    fn unlimited_passes_everything_at_once() {
        let mut t = Throttle::new(0.0);
        let now = Instant::now();
        assert_eq!(t.push(&values(&[("a", 1)]), now), Some(values(&[("a", 1)])));
        assert_eq!(t.push(&values(&[("a", 2)]), now), Some(values(&[("a", 2)])));
        assert_eq!(t.due(), None);
    }

    #[test]
    fn merges_while_limited_and_keeps_the_trailing_value() {
        let mut t = Throttle::new(10.0);
        let start = Instant::now();
        assert!(t.push(&values(&[("a", 1)]), start).is_some());
        assert_eq!(
            t.push(
                &values(&[("a", 2), ("b", 1)]),
                start + Duration::from_millis(10)
            ),
            None
        );
        assert_eq!(
            t.push(&values(&[("a", 3)]), start + Duration::from_millis(20)),
            None
        );
        assert_eq!(t.due(), Some(start + Duration::from_millis(100)));
        let flushed = t.flush(start + Duration::from_millis(100));
        assert_eq!(flushed, Some(values(&[("a", 3), ("b", 1)])));
        assert_eq!(t.due(), None);
        // The next change waits a full interval after that flush.
        assert_eq!(
            t.push(&values(&[("a", 4)]), start + Duration::from_millis(150)),
            None
        );
        assert_eq!(t.due(), Some(start + Duration::from_millis(200)));
    }
}
