// The board as the page lays it out: a card per field present in the data,
// in the order the fields first appeared, each with its own colour, and,
// first, the Esplora's joystick and switches when the board sends those
// fields. A field that appears mid-stream gets its card at the end; a
// snapshot is the whole state, so the cards of fields it lacks go (unless
// it is empty: the daemon has no reading yet).

import { FieldCard } from './card.js';
import { ESPLORA_FIELDS, EsploraCard } from './esplora.js';

const PALETTE = [
  '#7c9cff', '#ff8f6b', '#7ee0a1', '#ffd84d', '#c084fc', '#6be4ff',
  '#ff6b9a', '#f5c26b', '#6bb6ff', '#a3e635', '#f472b6', '#38bdf8',
];

/** Up to this many cards, each gets a taller chart. */
const FEW = 4;

export class Board {
  /**
   * Lays the cards out in `grid`; calls `onLayout()` after an event that
   * brought or took a card.
   */
  constructor(grid, onLayout) {
    this.grid = grid;
    this.onLayout = onLayout;
    this.empty = grid.querySelector('.empty');
    /** Field name -> FieldCard, in the order they appeared. */
    this.cards = new Map();
    this.esplora = null;
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

  /** A full state: every field the board has, at `time`. */
  snapshot(values, time) {
    const present = (name) => Object.hasOwn(values, name);
    if (Object.keys(values).length) {
      for (const [name, card] of this.cards) {
        if (!present(name)) this.remove(card);
      }
      if (this.esplora && !ESPLORA_FIELDS.some(present)) this.removeEsplora();
    }
    this.update(values, time);
  }

  /** Changed fields, at `time`. */
  update(values, time) {
    for (const [name, value] of Object.entries(values)) {
      if (typeof value !== 'number') continue;
      if (ESPLORA_FIELDS.includes(name)) this.esploraCard().record(name, value);
      if (name !== 'buttons') this.card(name).record(time, value);
    }
    if (this.relaid) {
      this.relaid = false;
      this.empty.hidden = this.cards.size > 0 || this.esplora !== null;
      // A few cards get room to show more of their charts.
      this.grid.classList.toggle('few', this.cards.size <= FEW);
      this.onLayout();
    }
  }

  /** From `time` on, no value is known. */
  gap(time) {
    for (const card of this.cards.values()) card.gap(time);
  }

  /** Forgets the values from before `start`. */
  prune(start) {
    for (const card of this.cards.values()) card.trace.dropBefore(start);
  }

  /** The daemon's field descriptions, by name (see fields.js). */
  describe(descriptions) {
    this.descriptions = descriptions;
    for (const [name, card] of this.cards) card.describe(descriptions.get(name) ?? {});
  }

  /**
   * Draws every chart from `start` to `end`, and writes the numbers that
   * changed if `numbers`.
   */
  render(start, end, numbers) {
    this.esplora?.render();
    for (const card of this.cards.values()) card.render(start, end, numbers);
  }

  card(name) {
    let card = this.cards.get(name);
    if (card) return card;
    const color = PALETTE[this.colorsUsed++ % PALETTE.length];
    card = new FieldCard(name, color, this.descriptions.get(name) ?? {});
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
