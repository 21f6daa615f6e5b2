// A trace: one field's values over time, as points in time order. A point
// is a bucket of the window's step: the lowest and the highest value in it,
// and the value it ended with, which holds until the next point. A point
// whose value is null is a gap: from there until the next point nothing is
// known (the daemon or the board was away).
//
// Points come from /api/history's buckets and from live changes; a change
// joins the bucket its time falls in, so a trace grows with the window's
// buckets, not with the board's rate. Times are the daemon's clock, in ms
// since the epoch.

// Dropped points are removed in batches, so that dropping is cheap.
const COMPACT_AT = 1024;

export class Trace {
  constructor() {
    this.clear();
  }

  clear() {
    this.times = [];
    this.lows = [];
    this.highs = [];
    this.values = [];
    /** Index of the first kept point: those before it are dropped. */
    this.head = 0;
  }

  /** The last value, or null if there is none or the trace is in a gap. */
  get last() {
    return this.values.length > this.head ? this.values[this.values.length - 1] : null;
  }

  /** Whether the trace has nothing to draw: no point, or only a gap. */
  get empty() {
    return this.last === null && this.values.length - this.head <= 1;
  }

  /** A bucket at `time` whose values went from `low` to `high` and ended at `value`. */
  bucket(time, low, high, value) {
    this.times.push(time);
    this.lows.push(low);
    this.highs.push(high);
    this.values.push(value);
  }

  /**
   * A change to `value` at `time`, in buckets of `step` ms: it joins the
   * last point if that is of the same bucket, else starts one (never
   * before the last point, which may be a gap inside the bucket).
   */
  add(time, value, step) {
    const n = this.values.length - 1;
    const bucket = Math.floor(time / step);
    if (n >= this.head && this.values[n] !== null && Math.floor(this.times[n] / step) === bucket) {
      if (value < this.lows[n]) this.lows[n] = value;
      if (value > this.highs[n]) this.highs[n] = value;
      this.values[n] = value;
      return;
    }
    const start = bucket * step;
    this.bucket(n >= 0 ? Math.max(start, this.times[n]) : start, value, value, value);
  }

  /** Marks a gap at `time`, unless the trace is already in one. */
  gap(time) {
    if (this.last !== null) this.bucket(time, null, null, null);
  }

  /** The point in force at `time` (the last at or before it), or -1. */
  at(time) {
    let low = this.head;
    let high = this.times.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (this.times[mid] <= time) {
        found = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    return found;
  }

  /**
   * Drops the points before `start`, but keeps the last of them: it is the
   * value at `start`.
   */
  dropBefore(start) {
    const { times } = this;
    let head = this.head;
    while (head + 1 < times.length && times[head + 1] <= start) head++;
    this.head = head;
    if (head >= COMPACT_AT && head * 2 >= times.length) {
      for (const list of [times, this.lows, this.highs, this.values]) list.splice(0, head);
      this.head = 0;
    }
  }
}
