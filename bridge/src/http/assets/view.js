// The view: the stretch of time every chart shows. It is one of WINDOWS
// (the one last chosen in this browser), ending now on the daemon's clock,
// or, when paused, at the moment of the pause (live data keeps arriving
// meanwhile; resuming shows it).
//
// Times are the daemon's clock, ms since the epoch, as events carry them
// (`ts_ms`). The page's clock may differ from it (the daemon runs on
// another machine): the difference is taken from the events, as the
// largest of `ts_ms - Date.now()`, since an event is never seen before it
// is sent.

/**
 * The windows on offer: how long, the step of the buckets the charts are
 * drawn from (about one per pixel, at most 1,000 as /api/history's default
 * gives), and how far apart the time grid's lines are.
 */
export const WINDOWS = [
  { label: '1 min', ms: 60e3, step: 100, grid: 15e3 },
  { label: '10 min', ms: 600e3, step: 1e3, grid: 120e3 },
  { label: '1 h', ms: 3600e3, step: 5e3, grid: 900e3 },
  { label: '24 h', ms: 86400e3, step: 120e3, grid: 6 * 3600e3 },
  { label: '7 d', ms: 604800e3, step: 900e3, grid: 86400e3 },
];

/** Where the browser keeps the window last chosen. */
const KEPT = 'esplora-bridge.window';

export class View {
  constructor() {
    const kept = Number(localStorage.getItem(KEPT));
    this.window = WINDOWS.find((choice) => choice.ms === kept) ?? WINDOWS[0];
    /** The end of a paused view; null while following now. */
    this.pausedAt = null;
    /** The daemon's clock minus the page's, or null before any event. */
    this.skew = null;
  }

  /** Shows `choice`, one of WINDOWS, from now on, here and after a reload. */
  choose(choice) {
    this.window = choice;
    localStorage.setItem(KEPT, String(choice.ms));
  }

  /** An event stamped `ts` (the daemon's clock) has just arrived. */
  observe(ts) {
    const skew = ts - Date.now();
    if (this.skew === null || skew > this.skew) this.skew = skew;
  }

  /** Forgets the clock's difference: a new daemon may run on another clock. */
  forgetClock() {
    this.skew = null;
  }

  /** Now, on the daemon's clock. */
  now() {
    return Date.now() + (this.skew ?? 0);
  }

  get paused() {
    return this.pausedAt !== null;
  }

  pause() {
    this.pausedAt = this.now();
  }

  resume() {
    this.pausedAt = null;
  }

  get end() {
    return this.pausedAt ?? this.now();
  }

  get start() {
    return this.end - this.window.ms;
  }

  /** The time at `t` as the readout writes it: finer in short windows. */
  timeText(t) {
    const date = new Date(t);
    if (this.window.ms > 3600e3) {
      return date.toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit', hour12: false });
    }
    const time = date.toLocaleTimeString([], { hour12: false });
    return this.window.ms > 60e3 ? time : `${time}.${Math.floor(date.getMilliseconds() / 100)}`;
  }
}
