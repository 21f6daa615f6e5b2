// A chart: one or more traces drawn on a canvas, each as a line that holds
// each value until the next, with a band from the lowest to the highest
// value wherever values moved within a pixel column (in long windows, the
// min/max of the buckets), over a fading fill when the trace is alone, with
// a light grid; and, under the pointer, a crosshair that reads the time and
// the values there.
//
// The vertical range is fixed when the card says so, otherwise the values
// in view, rounded out to a whole step. An automatic range is never
// narrower than `minSpan`, so that a sensor's own noise is drawn as the
// wobble it is rather than blown up to the full height. However many
// points arrive, each trace is drawn as at most one column per pixel, so
// drawing costs the chart's width, not the rate of the data.

import { decimalsOf, formatNumber } from './fields.js';

const GRID = 'rgba(255,255,255,0.06)';
const CROSSHAIR = 'rgba(255,255,255,0.45)';

/** The tidy step nearest above `raw`: 1, 2 or 5 times a power of ten. */
function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

/**
 * `low` and `high` rounded out to whole steps, with the step (3 to 6 of
 * them) that wastes the least height.
 */
function roundOut(low, high) {
  let best = null;
  for (let steps = 3; steps <= 6; steps++) {
    const step = niceStep((high - low) / steps);
    const rounded = { low: Math.floor(low / step) * step, high: Math.ceil(high / step) * step, step };
    if (!best || rounded.high - rounded.low < best.high - best.low) best = rounded;
  }
  return best;
}

/**
 * The range to draw, `{ low, high, step, decimals }`: the configured ends
 * where given, the data's elsewhere, rounded out to whole steps; `decimals`
 * writes both ends.
 */
export function axisRange(dataMin, dataMax, { min, max, minSpan }) {
  let low = min === undefined ? dataMin : Math.min(min, dataMin);
  let high = max === undefined ? dataMax : Math.max(max, dataMax);
  if (high - low < minSpan) {
    const grow = minSpan - (high - low);
    if (min !== undefined && max === undefined) high += grow;
    else if (max !== undefined && min === undefined) low -= grow;
    else {
      low -= grow / 2;
      high += grow / 2;
    }
  }
  const fixedLow = min !== undefined && low === min;
  const fixedHigh = max !== undefined && high === max;
  const rounded = roundOut(low, high);
  return {
    low: fixedLow ? low : rounded.low,
    high: fixedHigh ? high : rounded.high,
    step: rounded.step,
    decimals: Math.max(
      decimalsOf(rounded.step),
      fixedLow ? decimalsOf(low) : 0,
      fixedHigh ? decimalsOf(high) : 0,
    ),
  };
}

/**
 * Keeps each canvas's pixels matched to its size on screen. Sizes arrive by
 * observation rather than being read at every frame, where reading one
 * would make the browser lay the page out again after the numbers changed.
 */
const charts = new WeakMap();
const resizes = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const canvas = entry.target;
    const box = entry.devicePixelContentBoxSize?.[0];
    const ratio = window.devicePixelRatio || 1;
    canvas.width = box ? box.inlineSize : Math.round(entry.contentRect.width * ratio);
    canvas.height = box ? box.blockSize : Math.round(entry.contentRect.height * ratio);
    charts.get(canvas).gradients.clear();
  }
});

export class Chart {
  /**
   * `canvas` to draw on, and `labels`: elements that show the range's ends
   * (`top`, `bottom`) and the crosshair's reading (`readout`).
   */
  constructor(canvas, labels) {
    this.canvas = canvas;
    this.context = canvas.getContext('2d');
    this.labels = labels;
    this.shown = { range: '', readout: '' };
    /** Fill gradients by colour, made again when the size changes. */
    this.gradients = new Map();
    /** Per trace, the columns gathered from it, reused from frame to frame. */
    this.columns = [];
    /** The pointer's distance from the canvas's left edge, in CSS pixels; null when away. */
    this.pointer = null;
    canvas.addEventListener('pointermove', (event) => (this.pointer = event.offsetX));
    canvas.addEventListener('pointerleave', () => (this.pointer = null));
    charts.set(canvas, this);
    // Not drawn until its size is known.
    canvas.width = 0;
    canvas.height = 0;
    resizes.observe(canvas);
  }

  /** Stops following the canvas's size: its card is gone. */
  dispose() {
    resizes.unobserve(this.canvas);
  }

  /**
   * Draws `series` (each `{ trace, color, write }`, `write` giving a value
   * as text) over the view's window. `scale` is `{ fixed, minSpan }`:
   * `fixed`, if not null, is the `{ low, high }` to show. Returns the range
   * drawn, or null if there was nothing to draw.
   */
  draw(series, view, scale) {
    const { canvas, context } = this;
    const { width, height } = canvas;
    if (!width || !height) return null;
    context.clearRect(0, 0, width, height);
    const { start, end } = view;
    const pixelsPerMs = width / (end - start);
    let min = Infinity;
    let max = -Infinity;
    series.forEach(({ trace }, i) => {
      this.columns[i] ??= { xs: [], lows: [], highs: [], exits: [], starts: [], open: false };
      const extent = gather(trace, start, end, pixelsPerMs, this.columns[i]);
      min = Math.min(min, extent.min);
      max = Math.max(max, extent.max);
    });
    if (min === Infinity) {
      this.showReadout('');
      return null;
    }

    const { fixed } = scale;
    const range = fixed
      ? axisRange(fixed.low, fixed.high, { min: fixed.low, max: fixed.high, minSpan: 0 })
      : axisRange(min, max, { minSpan: scale.minSpan });
    const ratio = window.devicePixelRatio || 1;
    const pad = 4 * ratio;
    const y = (v) => pad + (1 - (v - range.low) / (range.high - range.low)) * (height - 2 * pad);
    this.drawGrid(range, y, start, pixelsPerMs, view.window.grid);
    const stepPixels = Math.max(1, view.window.step * pixelsPerMs);
    series.forEach(({ color }, i) => {
      this.drawTrace(this.columns[i], color, y, ratio, stepPixels, series.length === 1);
    });
    this.showRange(range);
    this.drawCrosshair(series, view, pixelsPerMs, ratio);
    return range;
  }

  /** Lines at every step of the range, and every `gridMs` of time, moving with it. */
  drawGrid(range, y, start, pixelsPerMs, gridMs) {
    const { context } = this;
    const { width, height } = this.canvas;
    context.strokeStyle = GRID;
    context.lineWidth = 1;
    context.beginPath();
    const first = Math.ceil(range.low / range.step);
    const last = Math.floor(range.high / range.step);
    for (let k = first; k <= last && k - first < 50; k++) {
      const gy = Math.round(y(k * range.step)) + 0.5;
      context.moveTo(0, gy);
      context.lineTo(width, gy);
    }
    for (let t = Math.ceil(start / gridMs) * gridMs; (t - start) * pixelsPerMs < width; t += gridMs) {
      const gx = Math.round((t - start) * pixelsPerMs) + 0.5;
      context.moveTo(gx, 0);
      context.lineTo(gx, height);
    }
    context.stroke();
  }

  /**
   * One trace's columns: the band where values moved, the held line, a
   * glow under it, the fill under both when `alone`, and a dot at the end
   * when the trace runs on to it.
   */
  drawTrace(columns, color, y, ratio, stepPixels, alone) {
    const { context } = this;
    const { width, height } = this.canvas;
    const { xs, lows, highs, exits, starts, open } = columns;
    const line = new Path2D();
    const fill = new Path2D();
    const band = new Path2D();
    for (let s = 0; s < starts.length; s++) {
      const from = starts[s];
      const to = s + 1 < starts.length ? starts[s + 1] : xs.length;
      const runsOn = open && s === starts.length - 1;
      line.moveTo(xs[from], y(exits[from]));
      fill.moveTo(xs[from], height);
      fill.lineTo(xs[from], y(exits[from]));
      for (let c = from; c < to; c++) {
        const x = xs[c];
        if (c > from) {
          for (const v of [exits[c - 1], exits[c]]) {
            line.lineTo(x, y(v));
            fill.lineTo(x, y(v));
          }
        }
        if (highs[c] > lows[c]) {
          const next = c + 1 < to ? xs[c + 1] : x + stepPixels;
          const top = y(highs[c]);
          band.rect(x, top, Math.max(1, Math.min(next - x, stepPixels)), y(lows[c]) - top);
        }
      }
      const endX = runsOn ? width : xs[to - 1];
      line.lineTo(endX, y(exits[to - 1]));
      fill.lineTo(endX, y(exits[to - 1]));
      fill.lineTo(endX, height);
      fill.closePath();
    }

    if (alone) {
      if (!this.gradients.has(color)) {
        const gradient = context.createLinearGradient(0, 0, 0, height);
        gradient.addColorStop(0, color + '50');
        gradient.addColorStop(1, color + '00');
        this.gradients.set(color, gradient);
      }
      context.fillStyle = this.gradients.get(color);
      context.fill(fill);
    }
    context.fillStyle = color + '60';
    context.fill(band);
    context.lineJoin = 'round';
    context.strokeStyle = color + '30';
    context.lineWidth = 5 * ratio;
    context.stroke(line);
    context.strokeStyle = color;
    context.lineWidth = 1.6 * ratio;
    context.stroke(line);

    if (open) {
      const dotY = y(exits[exits.length - 1]);
      context.beginPath();
      context.arc(width - 3.5 * ratio, dotY, 6 * ratio, 0, Math.PI * 2);
      context.fillStyle = color + '40';
      context.fill();
      context.beginPath();
      context.arc(width - 3.5 * ratio, dotY, 3 * ratio, 0, Math.PI * 2);
      context.fillStyle = '#fff';
      context.fill();
    }
  }

  /** The crosshair at the pointer, and its reading: the time, and each trace's value there. */
  drawCrosshair(series, view, pixelsPerMs, ratio) {
    if (this.pointer === null) {
      this.showReadout('');
      return;
    }
    const { context } = this;
    const x = Math.round(this.pointer * ratio) + 0.5;
    context.strokeStyle = CROSSHAIR;
    context.lineWidth = 1;
    context.beginPath();
    context.moveTo(x, 0);
    context.lineTo(x, this.canvas.height);
    context.stroke();
    const time = view.start + x / pixelsPerMs;
    const readings = series.map(({ trace, write }) => {
      const i = trace.at(time);
      const value = i < 0 ? null : trace.values[i];
      if (value === null) return '–';
      const moved = trace.highs[i] > trace.lows[i];
      return moved ? `${write(value)} (${write(trace.lows[i])} – ${write(trace.highs[i])})` : write(value);
    });
    this.showReadout([view.timeText(time), ...readings].join(' · '));
  }

  /** Writes the range's ends beside the chart, when they change. */
  showRange(range) {
    const top = formatNumber(range.high, range.decimals);
    const bottom = formatNumber(range.low, range.decimals);
    const key = top + '\n' + bottom;
    if (key === this.shown.range) return;
    this.shown.range = key;
    this.labels.top.textContent = top;
    this.labels.bottom.textContent = bottom;
  }

  showReadout(text) {
    if (text === this.shown.readout) return;
    this.shown.readout = text;
    this.labels.readout.textContent = text;
    this.labels.readout.hidden = !text;
  }
}

/**
 * One pass over `trace`'s points from `start` to `end`: fills `columns`
 * (per pixel column: x, the lowest and highest value there, the value it
 * leaves with; `starts`: the columns that begin a segment; `open`: whether
 * the last segment runs on to the end), and returns the values' extent.
 */
function gather(trace, start, end, pixelsPerMs, columns) {
  const { xs, lows, highs, exits, starts } = columns;
  xs.length = lows.length = highs.length = exits.length = starts.length = 0;
  const column = (x, low, high, exit) => {
    xs.push(x);
    lows.push(low);
    highs.push(high);
    exits.push(exit);
  };
  const { times, values } = trace;
  let min = Infinity;
  let max = -Infinity;
  let open = false;
  let last = 0;
  for (let i = trace.head; i < times.length && times[i] <= end; i++) {
    const v = values[i];
    const x = Math.max(0, Math.floor((times[i] - start) * pixelsPerMs));
    if (v === null) {
      // The segment runs on at its last value up to the gap.
      if (open) column(x, last, last, last);
      open = false;
      continue;
    }
    const low = trace.lows[i];
    const high = trace.highs[i];
    if (low < min) min = low;
    if (high > max) max = high;
    const n = xs.length - 1;
    if (open && xs[n] === x) {
      if (low < lows[n]) lows[n] = low;
      if (high > highs[n]) highs[n] = high;
      exits[n] = v;
    } else {
      if (!open) starts.push(xs.length);
      column(x, low, high, v);
      open = true;
    }
    last = v;
  }
  columns.open = open;
  return { min, max };
}
