// A trace: the recent values of one field, as (time, value) points in the
// order they arrived. Points arrive only when a value changes, so each
// value holds until the next one. A null value is a gap: from there until
// the next value, nothing is known (the page was not live).
//
// Times are the page's clock (performance.now(), in ms).

// Dropped points are removed in batches, so that dropping is cheap.
const COMPACT_AT = 1024;

export class Trace {
  constructor() {
    this.times = [];
    this.values = [];
    /** Index of the first kept point: those before it are dropped. */
    this.head = 0;
  }

  /** The last value, or null if there is none or the trace is in a gap. */
  get last() {
    return this.values.length > this.head ? this.values[this.values.length - 1] : null;
  }

  push(time, value) {
    this.times.push(time);
    this.values.push(value);
  }

  /** Marks a gap at `time`, unless the trace is already in one. */
  gap(time) {
    if (this.last !== null) this.push(time, null);
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
      times.splice(0, head);
      this.values.splice(0, head);
      this.head = 0;
    }
  }
}
