//! Bucket maths: aggregates of changes ([`Agg`]), and how a time range is
//! cut into buckets ([`Buckets`]), with the default step. No I/O and no
//! clock: times are given.

use esplora_parser::Number;

/// Min, max, sum, last and count of the changes in one bucket. Integers
/// stay integers (the sum too, until it would overflow); a decimal among
/// them makes the sum a decimal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agg {
    pub min: Number,
    pub max: Number,
    pub sum: Number,
    pub last: Number,
    pub count: u64,
}

impl Agg {
    pub fn of(value: Number) -> Agg {
        Agg {
            min: value,
            max: value,
            sum: value,
            last: value,
            count: 1,
        }
    }

    /// Adds a later change.
    pub fn push(&mut self, value: Number) {
        self.merge(&Agg::of(value));
    }

    /// Adds the aggregate of later changes.
    pub fn merge(&mut self, later: &Agg) {
        if later.min.as_f64() < self.min.as_f64() {
            self.min = later.min;
        }
        if later.max.as_f64() > self.max.as_f64() {
            self.max = later.max;
        }
        self.sum = match (self.sum, later.sum) {
            (Number::Int(a), Number::Int(b)) => match a.checked_add(b) {
                Some(sum) => Number::Int(sum),
                None => Number::Float(a as f64 + b as f64),
            },
            (a, b) => Number::Float(a.as_f64() + b.as_f64()),
        };
        self.last = later.last;
        self.count += later.count;
    }

    pub fn mean(&self) -> f64 {
        self.sum.as_f64() / self.count as f64
    }

    /// Into `slot`, which may be empty.
    pub fn merge_into(&self, slot: &mut Option<Agg>) {
        match slot {
            Some(agg) => agg.merge(self),
            None => *slot = Some(*self),
        }
    }
}

/// The start of the bucket of `step` ms that holds `t_ms`.
pub fn floor(t_ms: i64, step: i64) -> i64 {
    t_ms.div_euclid(step) * step
}

/// Buckets of `step` ms aligned to multiples of `step` since the epoch:
/// the first holds `from`, the last holds `to - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub start: i64,
    pub step: i64,
    pub count: usize,
}

impl Buckets {
    /// The buckets covering `[from, to)`; `from < to` and `step >= 1`.
    pub fn covering(from: i64, to: i64, step: i64) -> Buckets {
        let start = floor(from, step);
        let last = floor(to - 1, step);
        Buckets {
            start,
            step,
            count: usize::try_from((last - start) / step + 1).unwrap_or(usize::MAX),
        }
    }

    /// One past the end of the last bucket.
    pub fn end(&self) -> i64 {
        self.start + self.step * self.count as i64
    }

    /// The index of the bucket holding `t_ms`, if any does.
    pub fn index(&self, t_ms: i64) -> Option<usize> {
        if t_ms < self.start || t_ms >= self.end() {
            return None;
        }
        usize::try_from((t_ms - self.start) / self.step).ok()
    }

    pub fn starts(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.count as i64).map(|i| self.start + i * self.step)
    }
}

/// The steps the default picks from, in ms: 1, 2, 5 x 10^k ms; 1, 2, 5,
/// 10, 15, 30 s and min; 1, 2, 3, 6, 12 h; 1 d.
const NICE_STEPS: [i64; 27] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000,
    120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000,
    43_200_000, 86_400_000,
];

/// The default bucket count at most.
pub const DEFAULT_BUCKETS: usize = 1_000;

/// The smallest nice step that cuts `[from, to)` into at most
/// [`DEFAULT_BUCKETS`] buckets; past 1 d, whole days.
pub fn nice_step(from: i64, to: i64) -> i64 {
    for &step in &NICE_STEPS {
        if Buckets::covering(from, to, step).count <= DEFAULT_BUCKETS {
            return step;
        }
    }
    let day = 86_400_000;
    let mut days = ((to - from) / day / DEFAULT_BUCKETS as i64).max(1);
    while Buckets::covering(from, to, days * day).count > DEFAULT_BUCKETS {
        days += 1;
    }
    days * day
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_keep_integers_and_the_last_change() {
        let mut agg = Agg::of(Number::Int(5));
        for v in [3, 9, 4] {
            agg.push(Number::Int(v));
        }
        assert_eq!(agg.min, Number::Int(3));
        assert_eq!(agg.max, Number::Int(9));
        assert_eq!(agg.sum, Number::Int(21));
        assert_eq!(agg.last, Number::Int(4));
        assert_eq!(agg.count, 4);
        assert_eq!(agg.mean(), 5.25);
        agg.push(Number::Float(0.5));
        assert_eq!(agg.min, Number::Float(0.5));
        assert_eq!(agg.sum, Number::Float(21.5));
        let mut big = Agg::of(Number::Int(i64::MAX));
        big.push(Number::Int(1));
        assert_eq!(big.sum, Number::Float(i64::MAX as f64 + 1.0));
    }

    #[test]
    fn merging_parts_equals_pushing_all() {
        let values = [4, -2, 7, 7, 0, 3];
        let mut whole = Agg::of(Number::Int(values[0]));
        values[1..].iter().for_each(|&v| whole.push(Number::Int(v)));
        let mut left: Option<Agg> = None;
        let mut right = Agg::of(Number::Int(values[3]));
        values[4..].iter().for_each(|&v| right.push(Number::Int(v)));
        for &v in &values[..3] {
            Agg::of(Number::Int(v)).merge_into(&mut left);
        }
        right.merge_into(&mut left);
        assert_eq!(left, Some(whole));
    }

    #[test]
    fn buckets_are_aligned_to_the_step_and_hold_to_minus_one() {
        let b = Buckets::covering(1_050, 3_000, 1_000);
        assert_eq!((b.start, b.count, b.end()), (1_000, 2, 3_000));
        assert_eq!(Buckets::covering(1_050, 3_001, 1_000).count, 3);
        assert_eq!(b.index(999), None);
        assert_eq!(b.index(1_000), Some(0));
        assert_eq!(b.index(2_999), Some(1));
        assert_eq!(b.index(3_000), None);
        assert_eq!(b.starts().collect::<Vec<_>>(), [1_000, 2_000]);
        let before_epoch = Buckets::covering(-1_500, -1, 1_000);
        assert_eq!((before_epoch.start, before_epoch.count), (-2_000, 2));
    }

    #[test]
    fn the_default_step_is_the_smallest_nice_one_within_a_thousand_buckets() {
        let now = 1_764_000_123_456;
        let cases = [
            (60_000, 100),         // 1 min
            (600_000, 1_000),      // 10 min
            (3_600_000, 5_000),    // 1 h
            (86_400_000, 120_000), // 24 h: 1 min would be 1441 buckets
            (7 * 86_400_000, 900_000),
            (999, 1),
            (3_000 * 86_400_000, 4 * 86_400_000),
        ];
        for (span, step) in cases {
            assert_eq!(nice_step(now - span, now), step, "span {span}");
            assert!(Buckets::covering(now - span, now, step).count <= DEFAULT_BUCKETS);
        }
    }
}
