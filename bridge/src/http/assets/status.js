// The page's header and footer: the state of the connection (connecting,
// live, board disconnected, reconnecting), the last event's sequence
// number, the rate of events, and how long ago the last one came.

const RATE_WINDOW_MS = 5000;

const element = (id) => document.getElementById(id);

export class Status {
  constructor() {
    this.open = false;
    this.everOpen = false;
    /** The board's state from the last snapshot or status: "connected" or "disconnected". */
    this.board = null;
    this.seq = null;
    this.lastEventAt = null;
    /** Arrival times of the events in the last RATE_WINDOW_MS. */
    this.arrivals = [];
    this.shown = null;
  }

  /** Whether the page is following a board that is connected. */
  get live() {
    return this.mode === 'live';
  }

  get mode() {
    if (!this.open) return this.everOpen ? 'reconnecting' : 'connecting';
    return this.board === 'disconnected' ? 'board-disconnected' : 'live';
  }

  opened() {
    this.open = true;
    this.everOpen = true;
    this.show();
  }

  lost() {
    this.open = false;
    this.show();
  }

  /** An event of any type arrived at `time`. */
  event(event, time) {
    this.lastEventAt = time;
    this.arrivals.push(time);
    this.seq = event.seq;
    if (event.board) this.board = event.board;
    this.show();
  }

  show() {
    const mode = this.mode;
    if (mode === this.shown) return;
    this.shown = mode;
    document.body.dataset.connection = mode;
    element('connection-text').textContent = {
      connecting: 'Connecting…',
      reconnecting: 'Reconnecting…',
      'board-disconnected': 'Board disconnected',
      live: 'Live',
    }[mode];
  }

  /** Updates the sequence number, the rate and the time since the last event. */
  tick(now) {
    if (this.seq !== null) element('seq').textContent = 'seq ' + this.seq;
    const { arrivals } = this;
    let old = 0;
    while (old < arrivals.length && arrivals[old] < now - RATE_WINDOW_MS) old++;
    arrivals.splice(0, old);
    const rate = arrivals.length / (RATE_WINDOW_MS / 1000);
    element('rate').textContent = (rate < 10 ? rate.toFixed(1) : Math.round(rate)) + ' ev/s';
    if (this.lastEventAt !== null) {
      const ago = (now - this.lastEventAt) / 1000;
      element('updated').textContent = ago < 1 ? 'updated just now' : `updated ${ago.toFixed(0)} s ago`;
    }
  }
}
