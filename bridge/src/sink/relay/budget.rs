//! The daily message budget: how fast the relay may publish so that
//! `daily_message_budget` lasts until midnight UTC, when Pusher resets its
//! count.
//!
//! Pusher counts a message for every publish and one more for every
//! delivery, so an event costs `1 + subscribers`. The allowed rate is what
//! is left, in events, spread evenly over the seconds left in the UTC day:
//! it is recomputed before every publish, so a quiet morning leaves more
//! for the afternoon and a busy one slows the rest of the day down, without
//! ever planning ahead. Once the budget is spent the rate is one event at
//! midnight. The count starts afresh when the daemon starts: Pusher's own
//! count is not readable over the HTTP API.
//!
//! Time is an argument (seconds since the Unix epoch), so the arithmetic is
//! tested without a clock.

const DAY_SECS: u64 = 24 * 60 * 60;

#[derive(Debug)]
pub struct Budget {
    daily: u64,
    remaining: u64,
    /// The UTC day `remaining` belongs to, in days since the epoch.
    day: u64,
}

impl Budget {
    pub fn new(daily: u64, now_secs: u64) -> Self {
        Budget {
            daily,
            remaining: daily,
            day: now_secs / DAY_SECS,
        }
    }

    /// Messages left today.
    pub fn remaining(&mut self, now_secs: u64) -> u64 {
        self.roll(now_secs);
        self.remaining
    }

    /// How many events of `cost` messages each are still affordable today.
    pub fn affordable(&mut self, now_secs: u64, cost: u64) -> u64 {
        self.remaining(now_secs) / cost.max(1)
    }

    /// The rate, in events a second, that spends what is left evenly until
    /// midnight UTC; never below one event by midnight.
    pub fn rate(&mut self, now_secs: u64, cost: u64) -> f64 {
        let events = self.affordable(now_secs, cost);
        let secs_left = DAY_SECS - now_secs % DAY_SECS;
        events.max(1) as f64 / secs_left as f64
    }

    /// Counts messages sent (after the relay accepted them).
    pub fn spend(&mut self, now_secs: u64, messages: u64) {
        self.roll(now_secs);
        self.remaining = self.remaining.saturating_sub(messages);
    }

    fn roll(&mut self, now_secs: u64) {
        let day = now_secs / DAY_SECS;
        if day != self.day {
            self.day = day;
            self.remaining = self.daily;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-25 00:00:00 UTC.
    const MIDNIGHT: u64 = 1_795_564_800;

    #[test]
    fn the_budget_is_spread_over_what_is_left_of_the_day() {
        // The sandbox plan, one subscriber: at midnight, 100 000 events over
        // 86 400 s.
        let mut budget = Budget::new(200_000, MIDNIGHT);
        let rate = budget.rate(MIDNIGHT, 2);
        assert!((rate - 100_000.0 / 86_400.0).abs() < 1e-9, "{rate}");
        // At noon with half of it spent, the same rate holds.
        budget.spend(MIDNIGHT + DAY_SECS / 2, 100_000);
        let rate = budget.rate(MIDNIGHT + DAY_SECS / 2, 2);
        assert!((rate - 50_000.0 / 43_200.0).abs() < 1e-9, "{rate}");
        // Ten subscribers make every event eleven messages.
        let rate = budget.rate(MIDNIGHT + DAY_SECS / 2, 11);
        assert!(
            (rate - (100_000 / 11) as f64 / 43_200.0).abs() < 1e-9,
            "{rate}"
        );
    }

    #[test]
    fn a_quiet_morning_leaves_more_for_the_evening() {
        let mut budget = Budget::new(86_400, MIDNIGHT);
        let evening = MIDNIGHT + 18 * 3600;
        let rate = budget.rate(evening, 1);
        assert!((rate - 86_400.0 / (6.0 * 3600.0)).abs() < 1e-9, "{rate}");
    }

    #[test]
    fn a_spent_budget_allows_one_event_by_midnight_then_renews() {
        let mut budget = Budget::new(1000, MIDNIGHT);
        let late = MIDNIGHT + DAY_SECS - 100;
        budget.spend(late, 999);
        assert_eq!(budget.affordable(late, 2), 0);
        let rate = budget.rate(late, 2);
        assert!((rate - 1.0 / 100.0).abs() < 1e-12, "{rate}");
        assert_eq!(budget.remaining(MIDNIGHT + DAY_SECS), 1000);
        assert_eq!(budget.affordable(MIDNIGHT + DAY_SECS, 3), 333);
    }

    #[test]
    fn spending_more_than_is_left_stops_at_zero() {
        let mut budget = Budget::new(10, MIDNIGHT);
        budget.spend(MIDNIGHT, 25);
        assert_eq!(budget.remaining(MIDNIGHT + 1), 0);
    }
}
