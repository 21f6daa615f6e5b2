// A field's card: its label, its value as a large number with its unit,
// and a chart of the window on screen, with two switches in its head: the
// chart's vertical range, automatic (the values in view) or fixed (the
// field's configured min and max, else the range shown when it was fixed),
// and whether the field joins the overlay chart. The decimals come from
// the field's description when it has them, else from the values seen.

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
  /**
   * The card of field `name`, drawn in `color`, shown as `description`
   * says; `onOverlay(name, on)` when its overlay switch is flipped.
   */
  constructor(name, color, description, onOverlay) {
    this.name = name;
    this.color = color;
    const element = template.content.firstElementChild.cloneNode(true);
    element.dataset.field = name;
    element.style.setProperty('--accent', color);
    this.element = element;
    this.label = element.querySelector('.label');
    this.range = element.querySelector('.range');
    this.number = element.querySelector('.number');
    this.number.dataset.value = name;
    this.unit = element.querySelector('.unit');
    this.chart = new Chart(element.querySelector('canvas'), {
      top: element.querySelector('.top'),
      bottom: element.querySelector('.bottom'),
      readout: element.querySelector('.readout'),
    });
    this.trace = new Trace();
    /** Whether the card is on screen: a chart off screen is not drawn. */
    this.visible = true;
    /** Whether a snapshot came without the field: the card goes once its chart is empty. */
    this.gone = false;
    this.value = null;
    /** Whether the number needs writing again. */
    this.changed = false;
    this.seenDecimals = 0;
    this.seenMin = Infinity;
    this.seenMax = -Infinity;
    /** The range last drawn, what "fixed" keeps where nothing is configured. */
    this.drawn = null;
    /** The fixed range, or null: automatic. */
    this.fixed = null;
    /** Whether the user chose the range's mode (else it follows the description). */
    this.chose = false;
    this.scaleButton = element.querySelector('.scale');
    this.scaleButton.addEventListener('click', () => {
      this.chose = true;
      this.fix(this.fixed === null);
    });
    this.overlayButton = element.querySelector('.overlay-switch');
    this.overlayButton.addEventListener('click', () => {
      const on = this.overlayButton.getAttribute('aria-pressed') !== 'true';
      this.overlayButton.setAttribute('aria-pressed', String(on));
      onOverlay(name, on);
    });
    this.write = (value) => {
      const text = formatNumber(value, this.decimals);
      return this.description.unit ? `${text} ${this.description.unit}` : text;
    };
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
    // A configured range is fixed until the user says otherwise.
    if (!this.chose) this.fix(description.min !== undefined && description.max !== undefined);
  }

  /**
   * Fixes the chart's range (`on`) or lets it follow the values: fixed at
   * the configured ends, and elsewhere at the range last drawn.
   */
  fix(on) {
    const { min, max } = this.description;
    const low = min ?? this.drawn?.low;
    const high = max ?? this.drawn?.high;
    this.fixed = on && low < high ? { low, high } : null;
    this.scaleButton.textContent = this.fixed ? 'Y fixed' : 'Y auto';
    this.scaleButton.setAttribute('aria-pressed', String(this.fixed !== null));
  }

  /** A new value, from `time`, in buckets of `step` ms. */
  record(time, value, step) {
    this.gone = false;
    this.value = value;
    this.changed = true;
    this.trace.add(time, value, step);
    this.see(value);
  }

  see(value) {
    const decimals = decimalsOf(value);
    if (decimals > this.seenDecimals) this.seenDecimals = decimals;
    if (value < this.seenMin) this.seenMin = value;
    if (value > this.seenMax) this.seenMax = value;
  }

  /**
   * The trace was filled from history: its values count as seen, and the
   * last is shown if no live value has been.
   */
  filled() {
    const { lows, highs, values } = this.trace;
    let last = null;
    for (let i = 0; i < values.length; i++) {
      if (values[i] === null) continue;
      this.see(lows[i]);
      this.see(highs[i]);
      last = values[i];
      this.gone = false;
    }
    if (this.value === null && last !== null) {
      this.value = last;
      this.changed = true;
    }
  }

  /** From `time` on, the value is not known. */
  gap(time) {
    this.trace.gap(time);
  }

  get decimals() {
    return this.description.decimals ?? this.seenDecimals;
  }

  /**
   * The narrowest automatic range: a few steps of the last decimal, or a
   * twentieth of all the values seen, so that noise does not fill the chart.
   */
  get minSpan() {
    return Math.max(4 * 10 ** -this.decimals, (this.seenMax - this.seenMin) / 20);
  }

  /** Draws the chart over `view`, and writes the number if it changed and `number`. */
  render(view, number) {
    if (number && this.changed && this.value !== null) {
      this.changed = false;
      const text = formatNumber(this.value, this.decimals);
      this.number.textContent = text;
      this.element.classList.toggle('long', text.length > LONG && text.length <= LONGER);
      this.element.classList.toggle('longer', text.length > LONGER);
    }
    if (!this.visible || this.element.hidden) return;
    const series = [{ trace: this.trace, color: this.color, write: this.write }];
    this.drawn = this.chart.draw(series, view, { fixed: this.fixed, minSpan: this.minSpan }) ?? this.drawn;
  }
}
