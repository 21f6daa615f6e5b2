// The event feed: follows the daemon's /events with EventSource. The
// browser reconnects by itself and sends the last event id back, so the
// daemon resumes where the page left off; if the browser gives up (an HTTP
// error closes the source), a new EventSource starts afresh a little later.

const RECONNECT_MS = 2000;
const TYPES = ['snapshot', 'delta', 'status'];

/**
 * Follows /events until the page closes: `onOpen()` when a stream opens,
 * `onLost()` when it breaks, and `onEvent(type, event)` for every
 * snapshot, delta and status, with the event's JSON parsed.
 */
export function follow({ onOpen, onLost, onEvent }) {
  const connect = () => {
    const source = new EventSource('/events');
    source.onopen = () => onOpen();
    source.onerror = () => {
      onLost();
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, RECONNECT_MS);
    };
    for (const type of TYPES) {
      source.addEventListener(type, (message) => onEvent(type, JSON.parse(message.data)));
    }
  };
  connect();
}
