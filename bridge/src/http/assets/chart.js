// A chart: one trace drawn on a canvas, as a line that holds each value
// until the next, over a fading fill, with a light grid.
//
// The vertical range is the field's configured min and max when it has
// them (widened if a value falls outside), otherwise the values in view,
// rounded out to a whole step. A range is never narrower than `minSpan`, so
// that a sensor's own noise is drawn as the wobble it is rather than blown
// up to the full height. However many points arrive, at most one vertical
// stroke is drawn per pixel column, so drawing costs the chart's width,
// not the rate of the data.

import { decimalsOf, formatNumber } from './fields.js';

const GRID = 'rgba(255,255,255,0.06)';
const TIME_GRID_MS = 15000;

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
    charts.get(canvas).gradient = null;
  }
});

export class Chart {
  /**
   * `canvas` to draw on, `color` of the line, and `labels.top` and
   * `labels.bottom`: elements that show the range's ends.
   */
  constructor(canvas, color, labels) {
    this.canvas = canvas;
    this.context = canvas.getContext('2d');
    this.color = color;
    this.labels = labels;
    this.shownRange = '';
    this.gradient = null;
    // Columns gathered from the trace, reused from frame to frame: per
    // column, x, the lowest and highest value drawn there, and the value
    // it leaves with; `starts` are the columns that begin a segment.
    this.xs = [];
    this.lows = [];
    this.highs = [];
    this.exits = [];
    this.starts = [];
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
   * Draws `trace` from `start` to `end` (page clock, ms). `scale` holds the
   * field's configured `min` and `max` (either may be undefined) and its
   * `minSpan`. Returns whether anything was drawn.
   */
  draw(trace, start, end, scale) {
    const { canvas, context } = this;
    const { width, height } = canvas;
    if (!width || !height) return false;
    context.clearRect(0, 0, width, height);
    const extent = this.gather(trace, start, width / (end - start));
    if (!extent) return false;

    const range = axisRange(extent.min, extent.max, scale);
    const ratio = window.devicePixelRatio || 1;
    const pad = 4 * ratio;
    const y = (v) => pad + (1 - (v - range.low) / (range.high - range.low)) * (height - 2 * pad);
    this.drawGrid(range, y, start, end);
    this.drawLine(y, width, height, ratio, extent.open);
    this.showRange(range);
    return true;
  }

  /**
   * One pass over the trace's points in view: fills the columns, and
   * returns the extent of the values, and whether the last segment is still
   * open (the trace is not in a gap); null if there is nothing to draw.
   */
  gather(trace, start, pixelsPerMs) {
    const { xs, lows, highs, exits, starts } = this;
    xs.length = lows.length = highs.length = exits.length = starts.length = 0;
    const { times, values } = trace;
    let min = Infinity;
    let max = -Infinity;
    let open = false;
    let last = 0;
    for (let i = trace.head; i < times.length; i++) {
      const v = values[i];
      const x = Math.max(0, Math.floor((times[i] - start) * pixelsPerMs));
      if (v === null) {
        // The segment runs on at its last value up to the gap.
        if (open) this.column(x, last, last, last);
        open = false;
        continue;
      }
      if (v < min) min = v;
      if (v > max) max = v;
      const n = xs.length - 1;
      if (open && xs[n] === x) {
        if (v < lows[n]) lows[n] = v;
        if (v > highs[n]) highs[n] = v;
        exits[n] = v;
      } else if (open) {
        this.column(x, Math.min(last, v), Math.max(last, v), v);
      } else {
        starts.push(xs.length);
        this.column(x, v, v, v);
        open = true;
      }
      last = v;
    }
    return min === Infinity ? null : { min, max, open };
  }

  column(x, low, high, exit) {
    this.xs.push(x);
    this.lows.push(low);
    this.highs.push(high);
    this.exits.push(exit);
  }

  /** Lines at every step of the range, and every 15 s, moving with time. */
  drawGrid(range, y, start, end) {
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
    const epoch = performance.timeOrigin;
    const msPerPixel = (end - start) / width;
    for (let t = Math.ceil((epoch + start) / TIME_GRID_MS) * TIME_GRID_MS - epoch; t < end; t += TIME_GRID_MS) {
      const gx = Math.round((t - start) / msPerPixel) + 0.5;
      context.moveTo(gx, 0);
      context.lineTo(gx, height);
    }
    context.stroke();
  }

  /** The line, a glow under it, the fill under both, and a dot at now. */
  drawLine(y, width, height, ratio, open) {
    const { context, xs, lows, highs, exits, starts, color } = this;
    const line = new Path2D();
    const fill = new Path2D();
    for (let s = 0; s < starts.length; s++) {
      const from = starts[s];
      const to = s + 1 < starts.length ? starts[s + 1] : xs.length;
      line.moveTo(xs[from], y(lows[from]));
      fill.moveTo(xs[from], height);
      for (let c = from; c < to; c++) {
        const x = xs[c];
        if (c > from) {
          const held = y(exits[c - 1]);
          line.lineTo(x, held);
          fill.lineTo(x, held);
        }
        for (const v of [lows[c], highs[c], exits[c]]) {
          line.lineTo(x, y(v));
          fill.lineTo(x, y(v));
        }
      }
      let endX = xs[to - 1];
      if (s === starts.length - 1 && open) {
        endX = width;
        line.lineTo(width, y(exits[to - 1]));
        fill.lineTo(width, y(exits[to - 1]));
      }
      fill.lineTo(endX, height);
      fill.closePath();
    }

    if (!this.gradient) {
      this.gradient = context.createLinearGradient(0, 0, 0, height);
      this.gradient.addColorStop(0, color + '50');
      this.gradient.addColorStop(1, color + '00');
    }
    context.fillStyle = this.gradient;
    context.fill(fill);
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

  /** Writes the range's ends beside the chart, when they change. */
  showRange(range) {
    const top = formatNumber(range.high, range.decimals);
    const bottom = formatNumber(range.low, range.decimals);
    const key = top + '\n' + bottom;
    if (key === this.shownRange) return;
    this.shownRange = key;
    this.labels.top.textContent = top;
    this.labels.bottom.textContent = bottom;
  }
}
