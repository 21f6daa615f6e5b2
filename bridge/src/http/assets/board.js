// The board as the page lays it out: a card per field present in the data
// (live or in the window's history), in the order the fields first
// appeared, each with its own colour; first, the Esplora's joystick and
// switches when the board sends those fields, and the overlay chart when
// fields are chosen for it. A field that appears mid-stream gets its card
// at the end; a snapshot is the whole state, so the fields it lacks are
// unknown from then on, and their cards go once nothing of them is left in
// the window (unless the snapshot is empty: the daemon has no reading yet).
// Series can be hidden: their cards are not shown.

import { FieldCard } from './card.js';
import { ESPLORA_FIELDS, EsploraCard } from './esplora.js';
import { covered, fill } from './history.js';
import { OverlayCard } from './overlay.js';

const PALETTE = [
  '#7c9cff', '#ff8f6b', '#7ee0a1', '#ffd84d', '#c084fc', '#6be4ff',
  '#ff6b9a', '#f5c26b', '#6bb6ff', '#a3e635', '#f472b6', '#38bdf8',
];

/** Up to this many cards, each gets a taller chart. */
const FEW = 4;

export class Board {
  /**
   * Lays the cards out in `grid`; calls `onLayout()` after an event that
   * brought or took a card, and after new descriptions.
   */
  constructor(grid, onLayout) {
    this.grid = grid;
    this.onLayout = onLayout;
    this.empty = grid.querySelector('.empty');
    /** Field name -> FieldCard, in the order they appeared. */
    this.cards = new Map();
    this.esplora = null;
    this.overlay = new OverlayCard();
    this.overlay.element.hidden = true;
    grid.prepend(this.overlay.element);
    /** The fields chosen for the overlay, and the hidden ones. */
    this.overlaid = new Set();
    this.hidden = new Set();
    this.descriptions = new Map();
    this.colorsUsed = 0;
    /** Whether a card came or went since the last `onLayout()`. */
    this.relaid = false;
    /** Card element -> FieldCard, for the visibility observer. */
    this.byElement = new WeakMap();
    this.visibility = new IntersectionObserver((entries) => {
      for (const entry of entries) this.byElement.get(entry.target).visible = entry.isIntersecting;
    });
  }

  /** Whether the board sends the Esplora's joystick or switches. */
  get isEsplora() {
    return this.esplora !== null;
  }

  /** How many fields the board sends (`buttons` has no card of its own). */
  get fieldCount() {
    return this.cards.size + (this.esplora && this.esplora.buttons !== null ? 1 : 0);
  }

  /**
   * A live event (a snapshot, a delta, or a `gap` the page noted) into the
   * charts, in buckets of `step` ms; a field's values from before
   * `covered.get(name)` are left out, as history already holds them.
   */
  take(type, event, step, covered = new Map()) {
    const time = event.ts_ms;
    const fresh = (name) => !(time < covered.get(name));
    if (type === 'gap') {
      for (const card of this.cards.values()) if (fresh(card.name)) card.gap(time);
      return;
    }
    if (type !== 'snapshot' && type !== 'delta') return;
    const values = event.values ?? {};
    if (type === 'snapshot' && Object.keys(values).length) {
      for (const card of this.cards.values()) {
        if (Object.hasOwn(values, card.name) || !fresh(card.name)) continue;
        card.gone = true;
        card.gap(time);
      }
      if (this.esplora && !ESPLORA_FIELDS.some((name) => Object.hasOwn(values, name))) this.removeEsplora();
    }
    for (const [name, value] of Object.entries(values)) {
      if (typeof value !== 'number') continue;
      if (ESPLORA_FIELDS.includes(name)) this.esploraCard().record(name, value);
      if (name === 'buttons' || !fresh(name)) continue;
      const card = this.card(name);
      // A snapshot states values; only a change moves the chart.
      if (type === 'delta' || card.trace.last !== value) card.record(time, value, step);
    }
    this.laidOut();
  }

  /**
   * The window's history: each field's chart is filled from `answer`, then
   * the recent live `events` (`[type, event]`) that it does not hold are
   * taken again: no gap and no duplicate where they meet. A field the
   * store does not have yet keeps its chart as it is.
   */
  history(answer, events, step) {
    for (const name of Object.keys(answer.fields)) {
      if (name !== 'buttons') this.card(name);
    }
    const until = covered(answer);
    for (const card of this.cards.values()) {
      if (Object.hasOwn(answer.fields, card.name)) {
        fill(card.trace, answer, card.name);
        card.filled();
      } else until.set(card.name, Infinity);
    }
    for (const [type, event] of events) this.take(type, event, step, until);
    this.laidOut();
  }

  /** Calls `onLayout()` if a card came or went. */
  laidOut() {
    if (!this.relaid) return;
    this.relaid = false;
    this.empty.hidden = this.cards.size > 0 || this.esplora !== null;
    // A few cards get room to show more of their charts.
    this.grid.classList.toggle('few', this.cards.size <= FEW);
    this.showOverlay();
    this.onLayout();
  }

  /**
   * Forgets the values from before `start`, and the cards of fields that
   * are gone and have nothing left to show.
   */
  prune(start) {
    for (const card of this.cards.values()) {
      card.trace.dropBefore(start);
      if (card.gone && card.trace.empty) this.remove(card);
    }
    this.laidOut();
  }

  /** The daemon's field descriptions, by name (see fields.js). */
  describe(descriptions) {
    this.descriptions = descriptions;
    for (const [name, card] of this.cards) card.describe(descriptions.get(name) ?? {});
    // The labels may have changed.
    this.showOverlay();
    this.onLayout();
  }

  /** Shows or hides the series of field `name`. */
  show(name, shown) {
    if (shown) this.hidden.delete(name);
    else this.hidden.add(name);
    const card = this.cards.get(name);
    if (card) card.element.hidden = !shown;
    this.showOverlay();
  }

  /** Adds the field `name` to the overlay chart (`on`) or takes it out. */
  overlayField(name, on) {
    if (on) this.overlaid.add(name);
    else this.overlaid.delete(name);
    this.showOverlay();
  }

  showOverlay() {
    this.overlay.show(this.shownCards().filter((card) => this.overlaid.has(card.name)));
  }

  /** The cards shown (not hidden), in order. */
  shownCards() {
    return [...this.cards.values()].filter((card) => !this.hidden.has(card.name));
  }

  /**
   * Draws every chart over `view`, and writes the numbers that changed if
   * `numbers`.
   */
  render(view, numbers) {
    this.esplora?.render();
    this.overlay.render(view);
    for (const card of this.cards.values()) card.render(view, numbers);
  }

  card(name) {
    let card = this.cards.get(name);
    if (card) return card;
    const color = PALETTE[this.colorsUsed++ % PALETTE.length];
    const description = this.descriptions.get(name) ?? {};
    card = new FieldCard(name, color, description, (field, on) => this.overlayField(field, on));
    card.element.hidden = this.hidden.has(name);
    this.byElement.set(card.element, card);
    this.cards.set(name, card);
    this.grid.appendChild(card.element);
    this.visibility.observe(card.element);
    this.relaid = true;
    return card;
  }

  esploraCard() {
    if (!this.esplora) {
      this.esplora = new EsploraCard();
      this.grid.prepend(this.esplora.element);
      this.relaid = true;
    }
    return this.esplora;
  }

  remove(card) {
    this.visibility.unobserve(card.element);
    card.chart.dispose();
    card.element.remove();
    this.cards.delete(card.name);
    this.relaid = true;
  }

  removeEsplora() {
    this.esplora.element.remove();
    this.esplora = null;
    this.relaid = true;
  }
}
