// A field's card: its label, its value as a large number with its unit,
// and a chart of its last minute. The decimals and the chart's range come
// from the field's description when it has them, else from the values the
// card has seen.

import { Chart } from './chart.js';
import { decimalsOf, formatNumber } from './fields.js';
import { Trace } from './trace.js';

const template = document.getElementById('field-card');

/** Past this many characters, the number is set smaller to fit its card. */
const LONG = 8;
const LONGER = 12;

/** The configured range as the card's head shows it, or ''. */
function rangeText({ min, max, unit }) {
  const write = (v) => formatNumber(v, decimalsOf(v));
  let text;
  if (min !== undefined && max !== undefined) text = `${write(min)} – ${write(max)}`;
  else if (min !== undefined) text = `≥ ${write(min)}`;
  else if (max !== undefined) text = `≤ ${write(max)}`;
  else return '';
  return unit ? `${text} ${unit}` : text;
}

export class FieldCard {
  /** The card of field `name`, drawn in `color`, shown as `description` says. */
  constructor(name, color, description) {
    this.name = name;
    const element = template.content.firstElementChild.cloneNode(true);
    element.dataset.field = name;
    element.style.setProperty('--accent', color);
    this.element = element;
    this.label = element.querySelector('.label');
    this.range = element.querySelector('.range');
    this.number = element.querySelector('.number');
    this.number.dataset.value = name;
    this.unit = element.querySelector('.unit');
    this.chart = new Chart(element.querySelector('canvas'), color, {
      top: element.querySelector('.top'),
      bottom: element.querySelector('.bottom'),
    });
    this.trace = new Trace();
    /** Whether the card is on screen: a chart off screen is not drawn. */
    this.visible = true;
    this.value = null;
    /** Whether the number needs writing again. */
    this.changed = false;
    this.seenDecimals = 0;
    this.seenMin = Infinity;
    this.seenMax = -Infinity;
    this.describe(description);
  }

  /** Shows the field as `description` says (see fields.js). */
  describe(description) {
    this.description = description;
    this.label.textContent = description.label ?? this.name;
    this.label.title = description.label === undefined ? '' : this.name;
    this.unit.textContent = description.unit ?? '';
    this.range.textContent = rangeText(description);
    this.changed = true;
  }

  /** A new value, which arrived at `time`. */
  record(time, value) {
    this.value = value;
    this.changed = true;
    this.trace.push(time, value);
    const decimals = decimalsOf(value);
    if (decimals > this.seenDecimals) this.seenDecimals = decimals;
    if (value < this.seenMin) this.seenMin = value;
    if (value > this.seenMax) this.seenMax = value;
  }

  /** From `time` on, the value is not known. */
  gap(time) {
    this.trace.gap(time);
  }

  get decimals() {
    return this.description.decimals ?? this.seenDecimals;
  }

  /** Draws the chart from `start` to `end`, and writes the number if it changed and `number`. */
  render(start, end, number) {
    if (number && this.changed && this.value !== null) {
      this.changed = false;
      const text = formatNumber(this.value, this.decimals);
      this.number.textContent = text;
      this.element.classList.toggle('long', text.length > LONG && text.length <= LONGER);
      this.element.classList.toggle('longer', text.length > LONGER);
    }
    this.trace.dropBefore(start);
    if (!this.visible) return;
    const { min, max } = this.description;
    // The narrowest range: a few steps of the last decimal, or a twentieth
    // of all the values seen, so that noise does not fill the chart.
    const minSpan = Math.max(4 * 10 ** -this.decimals, (this.seenMax - this.seenMin) / 20);
    this.chart.draw(this.trace, start, end, { min, max, minSpan });
  }
}
