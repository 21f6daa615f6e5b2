// The past, from /api/history: what fills the charts when the page opens,
// when the feed reconnects (a restarted daemon, say) and when the window
// changes; and the CSV of what is on screen.
//
// The answer is columnar: bucket starts, and per field min, max, mean,
// last and count per bucket; each field's value before the first bucket;
// and the marks (daemon start and stop, board connected and disconnected).
// The store keeps changes only, so a bucket with no change (count 0) holds
// the value before it; the line breaks at a mark that says nothing is known
// from then on (a disconnect or stop; a start, after a stop that a crash
// left unrecorded), until the next change.
//
// A daemon with history off (or one without the route) answers 404: the
// charts then show what arrives live, as before.

/**
 * The marks that break the line: a stop or a disconnect from its time on,
 * so after the changes of the bucket it falls in (they came before it); a
 * start before the changes of its bucket (they came after it).
 */
const BREAKS_AFTER = new Set(['daemon_stop', 'board_disconnected']);
const BREAKS_BEFORE = new Set(['daemon_start']);

/** The query for `from` to `to` in the window's step, `fields` (all, if none), as `format`. */
function query(view, from, to, fields, format) {
  const params = new URLSearchParams({ from, to, step: String(view.window.step), format });
  if (fields.length) params.set('fields', fields.join(','));
  return '/api/history?' + params;
}

/**
 * The history of every field from the view's start until now, or null
 * if the daemon has none to give.
 */
export async function loadHistory(view) {
  try {
    const response = await fetch(query(view, String(Math.floor(view.start)), 'now', [], 'json'), {
      cache: 'no-store',
    });
    if (!response.ok) return null;
    const answer = await response.json();
    return Array.isArray(answer?.t) && answer.fields ? answer : null;
  } catch {
    return null;
  }
}

/** Fills `trace` with field `name`'s buckets in `answer`. */
export function fill(trace, answer, name) {
  const { t } = answer;
  const { min, max, last, count } = answer.fields[name];
  const before = answer.before?.[name];
  const times = (kinds) =>
    (answer.marks ?? [])
      .filter((mark) => kinds.has(mark.kind))
      .map((mark) => mark.t_ms)
      .sort((a, b) => a - b);
  const stops = times(BREAKS_AFTER);
  const starts = times(BREAKS_BEFORE);
  trace.clear();
  if (typeof before === 'number' && t.length && !count[0]) trace.bucket(t[0], before, before, before);
  let stop = 0;
  let start = 0;
  for (let i = 0; i < t.length; i++) {
    while (stop < stops.length && stops[stop] <= t[i]) trace.gap(stops[stop++]);
    while (start < starts.length && starts[start] < t[i] + answer.step) {
      trace.gap(Math.min(starts[start++], t[i]));
    }
    if (count[i]) trace.bucket(t[i], min[i], max[i], last[i]);
  }
  for (const time of [...stops.slice(stop), ...starts.slice(start)]) trace.gap(time);
}

/**
 * Until when `answer` holds each field: the end of its last bucket with a
 * change. A live change from then on is not in the answer; one before it
 * is. (A change the store has not written yet is not in the answer either,
 * and is past that end.)
 */
export function covered(answer) {
  const until = new Map();
  for (const [name, { count }] of Object.entries(answer.fields)) {
    let i = count.length - 1;
    while (i >= 0 && !count[i]) i--;
    if (i >= 0) until.set(name, answer.t[i] + answer.step);
  }
  return until;
}

/**
 * Downloads `fields` over the window on screen as CSV, from /api/history
 * with the same window and step, so that it is exactly what that route
 * gives. Throws with the daemon's reason if it refuses.
 */
export async function downloadCsv(view, fields) {
  const end = Math.floor(view.end);
  const url = query(view, String(end - view.window.ms), String(end), fields, 'csv');
  const response = await fetch(url, { cache: 'no-store' });
  if (!response.ok) throw new Error((await response.text()).trim() || `HTTP ${response.status}`);
  const blob = await response.blob();
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = `esplora-${new Date(end).toISOString().replace(/[:.]/g, '-')}.csv`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 60e3);
}
