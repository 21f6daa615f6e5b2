// The live page: a card per field the board sends, each a large number and
// a chart of its last minute, laid out as the data arrives. The modules:
//
// - feed.js: follows /events (reconnects and resumes by itself);
// - fields.js: the daemon's field descriptions (/api/fields), and how a
//   value is written;
// - board.js: which cards there are, and in what order;
// - card.js: one field's card; trace.js: its last minute of values;
//   chart.js: drawing a trace;
// - esplora.js: the Esplora's joystick and switches;
// - status.js: the connection state, the rate, the last update.
//
// This file wires them: events go to the board and the status, and the
// cards are drawn on animation frames.

import { Board } from './board.js';
import { follow } from './feed.js';
import { loadDescriptions } from './fields.js';
import { Status } from './status.js';

/** Every chart shows the last minute. */
const WINDOW_MS = 60000;
/** About 30 frames a second is smooth enough, and half the work of 60. */
const FRAME_MS = 30;
/**
 * Numbers are rewritten at most 10 times a second: faster is unreadable,
 * and each rewrite repaints a large glowing number.
 */
const NUMBERS_MS = 100;
/** How often the rate and "updated … ago" are rewritten, and old points dropped. */
const TICK_MS = 250;

const status = new Status();
const board = new Board(document.getElementById('grid'), showBoardName);

/** The header names the board: an Esplora, or any sketch. */
function showBoardName() {
  const name = board.isEsplora ? 'Esplora' : 'Sketch';
  const count = board.fieldCount;
  document.getElementById('board-name').textContent = name;
  document.getElementById('subtitle').textContent =
    `${count} ${count === 1 ? 'field' : 'fields'} · live from the board`;
  document.title = `${name} · live`;
}

/** Shows the connection's state; the charts stop where it stops being live. */
function showStatus(change) {
  const wasLive = status.live;
  change();
  if (wasLive && !status.live) board.gap(performance.now());
}

function onEvent(type, event) {
  const now = performance.now();
  if (type === 'snapshot') board.snapshot(event.values ?? {}, now);
  else if (type === 'delta') board.update(event.values ?? {}, now);
  showStatus(() => status.event(event, now));
}

/** Asks the daemon again how to show its fields: a new daemon may say otherwise. */
async function describe() {
  board.describe(await loadDescriptions());
}

let lastFrame = 0;
let lastNumbers = 0;
function frame(now) {
  if (now - lastFrame >= FRAME_MS) {
    lastFrame = now;
    const numbers = now - lastNumbers >= NUMBERS_MS;
    if (numbers) lastNumbers = now;
    board.render(now - WINDOW_MS, now, numbers);
  }
  requestAnimationFrame(frame);
}

async function start() {
  // The descriptions first, so that the first cards show with their labels.
  await describe();
  let opens = 0;
  follow({
    onOpen() {
      if (opens++) describe();
      showStatus(() => status.opened());
    },
    onLost() {
      showStatus(() => status.lost());
    },
    onEvent,
  });
  requestAnimationFrame(frame);
  // Runs in a hidden tab too (where frames do not), so that traces stay short.
  setInterval(() => {
    const now = performance.now();
    status.tick(now);
    board.prune(now - WINDOW_MS);
  }, TICK_MS);
}

status.show();
start();
