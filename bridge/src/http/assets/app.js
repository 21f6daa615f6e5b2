// The live page: a card per field the board sends, each a large number and
// a chart of the window on screen, laid out as the data arrives, with the
// window's past filled in from the daemon's history. The modules:
//
// - feed.js: follows /events (reconnects and resumes by itself);
// - fields.js: the daemon's field descriptions (/api/fields), and how a
//   value is written;
// - history.js: the past, from /api/history, and the CSV download;
// - view.js: the window on screen, paused or following now;
// - board.js: which cards there are, and in what order;
// - card.js: one field's card; overlay.js: the chart of chosen fields;
//   trace.js: a field's values over the window; chart.js: drawing traces;
// - esplora.js: the Esplora's joystick and switches;
// - controls.js: the toolbar (window, pause, download, series);
// - commands.js: the board's LED and tone, when commands reach it;
// - status.js: the connection state, the rate, the last update.
//
// This file wires them: events go to the board and the status, history
// fills the charts when a stream opens and when the window changes, and
// the cards are drawn on animation frames.
//
// Where history meets the live events: events are taken as they come, and
// the stream's recent ones are kept (those of the last RECENT_MS, and all
// since history was asked for, until it answers); the answer replaces the
// charts, and the kept events it does not hold are taken again (see
// Board.history), so that changes the store has not written yet are not
// lost. History is asked for once a new stream's first event is in (so
// that the cards keep the board's order), or after FIRST_EVENT_MS if none
// comes.

import { Board } from './board.js';
import { BoardControls } from './commands.js';
import { Controls } from './controls.js';
import { follow } from './feed.js';
import { loadDescriptions } from './fields.js';
import { downloadCsv, loadHistory } from './history.js';
import { Status } from './status.js';
import { View } from './view.js';

/** About 30 frames a second is smooth enough, and half the work of 60. */
const FRAME_MS = 30;
/**
 * Numbers are rewritten at most 10 times a second: faster is unreadable,
 * and each rewrite repaints a large glowing number.
 */
const NUMBERS_MS = 100;
/** How often the rate and "updated … ago" are rewritten, and old points dropped. */
const TICK_MS = 250;
/** How long a new stream's first event is waited for before history is asked for. */
const FIRST_EVENT_MS = 1000;
/** Live events kept to be taken again over history: the store writes every second. */
const RECENT_MS = 5000;

const view = new View();
const status = new Status();
/** Exported for the page's tests, which read its charts. */
export const board = new Board(document.getElementById('grid'), onLayout);
const controls = new Controls(view, board, {
  onWindow: () => backfill(startJoin()),
  onDownload: download,
});
const boardControls = new BoardControls();

/** While history is awaited: `{ asked }`, whether it was asked for. */
let join = null;
/** The stream's recent live events, `[type, event, arrival]` (see above). */
const recent = [];
/**
 * When the stream was lost (the daemon's clock), until history has filled
 * the charts since: they break there unless history goes on past it (the
 * daemon may have restarted, and not yet have written its start).
 */
let lostAt = null;

function startJoin() {
  join = { asked: false };
  return join;
}

/** Asks for the window's history, once per join, and fills the charts with it. */
async function backfill(current) {
  if (current !== join || current.asked) return;
  current.asked = true;
  const answer = await loadHistory(view);
  if (current !== join) return;
  join = null;
  if (!answer) return;
  const events = lostAt === null ? recent : [['gap', { ts_ms: lostAt }], ...recent];
  board.history(answer, events, view.window.step);
  lostAt = null;
}

/** A live event (or a gap the page noted) into the charts. */
function take(type, event) {
  board.take(type, event, view.window.step);
  recent.push([type, event, performance.now()]);
}

/** The header names the board: an Esplora, or any sketch. */
function showBoardName() {
  const name = board.isEsplora ? 'Esplora' : 'Sketch';
  const count = board.fieldCount;
  document.getElementById('board-name').textContent = name;
  document.getElementById('subtitle').textContent =
    `${count} ${count === 1 ? 'field' : 'fields'} · live from the board`;
  document.title = `${name} · live`;
}

function onLayout() {
  showBoardName();
  controls.showSeries();
}

/** Shows the connection's state; the charts stop at `time` where it stops being live. */
function showStatus(change, time) {
  const wasLive = status.live;
  change();
  if (wasLive && !status.live) take('gap', { ts_ms: time });
}

function onEvent(type, event) {
  view.observe(event.ts_ms);
  take(type, event);
  showStatus(() => status.event(event, performance.now()), event.ts_ms);
  if (join) backfill(join);
}

/** Asks the daemon again how to show its fields: a new daemon may say otherwise. */
async function describe() {
  const { descriptions, commands } = await loadDescriptions();
  board.describe(descriptions);
  boardControls.enable(commands);
}

/** Downloads the CSV of the series on screen, over the window on screen. */
async function download() {
  const fields = board.shownCards().map((card) => card.name);
  if (!fields.length) {
    controls.note('no series on screen');
    return;
  }
  controls.note('');
  try {
    await downloadCsv(view, fields);
  } catch (error) {
    controls.note(error.message);
  }
}

let lastFrame = 0;
let lastNumbers = 0;
function frame(now) {
  if (now - lastFrame >= FRAME_MS) {
    lastFrame = now;
    const numbers = now - lastNumbers >= NUMBERS_MS;
    if (numbers) lastNumbers = now;
    board.render(view, numbers);
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
      // A new daemon may run on another clock, and has its own history,
      // which the old stream's events must not be taken over.
      view.forgetClock();
      recent.length = 0;
      const current = startJoin();
      setTimeout(() => backfill(current), FIRST_EVENT_MS);
      showStatus(() => status.opened(), view.now());
    },
    onLost() {
      lostAt ??= view.now();
      showStatus(() => status.lost(), lostAt);
    },
    onEvent,
  });
  requestAnimationFrame(frame);
  // Runs in a hidden tab too (where frames do not), so that traces stay short.
  setInterval(() => {
    const now = performance.now();
    status.tick(now);
    board.prune(view.start);
    if (!join) {
      let old = 0;
      while (old < recent.length && recent[old][2] < now - RECENT_MS) old++;
      recent.splice(0, old);
    }
  }, TICK_MS);
}

status.show();
start();
