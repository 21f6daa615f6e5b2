// The live page: follows /events and shows every field as a large number
// and a rolling one-minute chart, the buttons as lit indicators, and the
// state of the connection. EventSource reconnects by itself and sends the
// last event id back, so the daemon resumes where the page left off; if the
// browser gives up (an HTTP error), a new EventSource starts afresh.
'use strict';

const WINDOW_MS = 60000;
const RECONNECT_MS = 2000;
const RATE_WINDOW_MS = 5000;

// Known fields, in the order they are laid out. Others get a card at the end.
// `span` is the smallest range a chart shows, so that a sensor's own noise
// is drawn as the wobble it is rather than blown up to the full height.
const FIELDS = {
  slider: { label: 'Slider', range: '0 – 1023', color: '#7c9cff', span: 64 },
  light: { label: 'Light', range: '0 – 1023', color: '#ffd84d', span: 64 },
  microphone: { label: 'Microphone', range: '0 – 1023', color: '#c084fc', span: 64 },
  temperature: { label: 'Temperature', unit: '°C', color: '#ff8f6b', span: 4 },
  accel_x: { label: 'Accel X', range: '≈ 160 per g', color: '#ff6b9a', span: 48 },
  accel_y: { label: 'Accel Y', range: '≈ 160 per g', color: '#ff9b6b', span: 48 },
  accel_z: { label: 'Accel Z', range: '≈ 160 per g', color: '#f5c26b', span: 48 },
  joystick_x: { label: 'Joystick X', range: '−512 – 511', color: '#6be4ff', span: 64 },
  joystick_y: { label: 'Joystick Y', range: '−512 – 511', color: '#6bb6ff', span: 64 },
  user: { label: 'User', color: '#7ee0a1', span: 8 },
};
const DEFAULT_SPAN = 8;
const SPARE_COLORS = ['#a3e635', '#f472b6', '#38bdf8', '#fbbf24', '#a78bfa'];

const state = {
  open: false,
  everOpen: false,
  board: null,
  seq: null,
  lastEventAt: null,
  arrivals: [],
};
const series = new Map();
const grid = document.getElementById('grid');
const template = document.getElementById('card-template');

function seriesFor(field) {
  let s = series.get(field);
  if (s) return s;
  const known = FIELDS[field];
  const meta = known || {
    label: field.replace(/_/g, ' '),
    color: SPARE_COLORS[series.size % SPARE_COLORS.length],
  };
  const card = template.content.firstElementChild.cloneNode(true);
  card.dataset.field = field;
  card.style.setProperty('--accent', meta.color);
  card.querySelector('.label').textContent = meta.label;
  card.querySelector('.range').textContent = meta.range || '';
  card.querySelector('.unit').textContent = meta.unit || '';
  const number = card.querySelector('.number');
  number.id = 'value-' + field;
  grid.appendChild(card);
  s = {
    field,
    color: meta.color,
    span: meta.span || DEFAULT_SPAN,
    number,
    canvas: card.querySelector('canvas'),
    maxLabel: card.querySelector('.max'),
    minLabel: card.querySelector('.min'),
    points: [],
    value: null,
  };
  series.set(field, s);
  return s;
}

function setValue(field, value, now) {
  if (field === 'buttons') {
    showButtons(value);
    return;
  }
  const s = seriesFor(field);
  s.number.textContent = String(value);
  s.value = value;
  s.points.push([now, value]);
  if (field === 'joystick_x' || field === 'joystick_y') moveKnob();
}

function showButtons(mask) {
  document.getElementById('value-buttons').textContent = String(mask);
  for (const el of document.querySelectorAll('[data-button]')) {
    el.classList.toggle('lit', (mask >> Number(el.dataset.button)) & 1);
  }
}

function moveKnob() {
  const knob = document.getElementById('stick-knob');
  const at = (field) => {
    const s = series.get(field);
    return s && s.value !== null ? Math.max(-1, Math.min(1, s.value / 512)) : 0;
  };
  knob.setAttribute('cx', (at('joystick_x') * 41).toFixed(1));
  knob.setAttribute('cy', (-at('joystick_y') * 41).toFixed(1));
}

function handle(type, event) {
  const now = performance.now();
  state.seq = event.seq;
  state.lastEventAt = now;
  state.arrivals.push(now);
  if (event.board) state.board = event.board;
  for (const [field, value] of Object.entries(event.values || {})) {
    setValue(field, value, now);
  }
  document.getElementById('seq').textContent = 'seq ' + event.seq;
  showConnection();
}

function showConnection() {
  let mode;
  let text;
  if (!state.open) {
    mode = state.everOpen ? 'reconnecting' : 'connecting';
    text = state.everOpen ? 'Reconnecting…' : 'Connecting…';
  } else if (state.board === 'disconnected') {
    mode = 'board-disconnected';
    text = 'Board disconnected';
  } else {
    mode = 'live';
    text = 'Live';
  }
  if (document.body.dataset.connection === 'live' && mode !== 'live') {
    const now = performance.now();
    for (const s of series.values()) s.points.push([now, null]);
  }
  document.body.dataset.connection = mode;
  document.getElementById('connection-text').textContent = text;
}

function connect() {
  const source = new EventSource('/events');
  source.onopen = () => {
    state.open = true;
    state.everOpen = true;
    showConnection();
  };
  source.onerror = () => {
    state.open = false;
    showConnection();
    if (source.readyState === EventSource.CLOSED) {
      setTimeout(connect, RECONNECT_MS);
    }
  };
  for (const type of ['snapshot', 'delta', 'status']) {
    source.addEventListener(type, (message) => handle(type, JSON.parse(message.data)));
  }
}

// Charts: every field's last minute, redrawn on animation frames. Points
// arrive only when a value changes, so the line holds each value until the
// next. While the page is not live nothing is known, so the line stops: a
// null point marks where it went stale.
function drawChart(s, now) {
  const canvas = s.canvas;
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(canvas.clientWidth * ratio);
  const height = Math.round(canvas.clientHeight * ratio);
  if (!width || !height) return;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const start = now - WINDOW_MS;
  // Keep one point from before the window: it is the value at its left edge.
  let drop = 0;
  while (drop + 1 < s.points.length && s.points[drop + 1][0] <= start) drop++;
  if (drop) s.points.splice(0, drop);
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, width, height);
  if (!s.points.length) return;

  let min = Infinity;
  let max = -Infinity;
  for (const [, v] of s.points) {
    if (v === null) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min === Infinity) return;
  s.maxLabel.textContent = String(max);
  s.minLabel.textContent = String(min);
  // A flat line sits in the middle.
  const span = Math.max(max - min, s.span);
  const mid = (max + min) / 2;
  const low = mid - span * 0.6;
  const high = mid + span * 0.6;
  const pad = 3 * ratio;
  const y = (v) => pad + (1 - (v - low) / (high - low)) * (height - 2 * pad);
  const x = (t) => Math.max(0, ((t - start) / WINDOW_MS) * width);

  // A faint grid: quarters of the height, and every 15 s, moving with time.
  ctx.strokeStyle = 'rgba(255,255,255,0.05)';
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (const f of [0.25, 0.5, 0.75]) {
    ctx.moveTo(0, Math.round(height * f) + 0.5);
    ctx.lineTo(width, Math.round(height * f) + 0.5);
  }
  const epoch = performance.timeOrigin;
  for (let t = Math.ceil((epoch + start) / 15000) * 15000 - epoch; t < now; t += 15000) {
    const gx = Math.round(x(t)) + 0.5;
    ctx.moveTo(gx, 0);
    ctx.lineTo(gx, height);
  }
  ctx.stroke();

  // Each value holds until the next; a gap (null) ends a segment, and the
  // last segment runs on to now only while the page is live.
  const segments = [];
  let segment = null;
  let last = null;
  for (const [t, v] of s.points) {
    const px = Math.floor(x(t));
    if (v === null) {
      if (segment) segment.push([px, y(last)]);
      segment = null;
      continue;
    }
    if (!segment) {
      segment = [];
      segments.push(segment);
    } else {
      segment.push([px, y(last)]);
    }
    segment.push([px, y(v)]);
    last = v;
  }
  if (segment) segment.push([width, y(last)]);

  const gradient = ctx.createLinearGradient(0, 0, 0, height);
  gradient.addColorStop(0, s.color + '55');
  gradient.addColorStop(1, s.color + '00');
  const line = new Path2D();
  const fill = new Path2D();
  for (const points of segments) {
    line.moveTo(points[0][0], points[0][1]);
    fill.moveTo(points[0][0], height);
    for (const [px, py] of points) {
      line.lineTo(px, py);
      fill.lineTo(px, py);
    }
    fill.lineTo(points[points.length - 1][0], height);
    fill.closePath();
  }
  ctx.fillStyle = gradient;
  ctx.fill(fill);
  ctx.lineJoin = 'round';
  ctx.lineWidth = 1.6 * ratio;
  ctx.strokeStyle = s.color;
  ctx.shadowColor = s.color;
  ctx.shadowBlur = 8 * ratio;
  ctx.stroke(line);
  ctx.shadowBlur = 0;

  if (segment) {
    ctx.beginPath();
    ctx.arc(width - 3 * ratio, y(last), 3 * ratio, 0, Math.PI * 2);
    ctx.fillStyle = '#fff';
    ctx.shadowColor = s.color;
    ctx.shadowBlur = 10 * ratio;
    ctx.fill();
    ctx.shadowBlur = 0;
  }
}

let lastFrame = 0;
function frame(now) {
  // About 30 frames a second is smooth enough, and half the work of 60.
  if (now - lastFrame >= 30) {
    lastFrame = now;
    for (const s of series.values()) drawChart(s, now);
  }
  requestAnimationFrame(frame);
}

function tick() {
  const now = performance.now();
  while (state.arrivals.length && state.arrivals[0] < now - RATE_WINDOW_MS) state.arrivals.shift();
  const rate = state.arrivals.length / (RATE_WINDOW_MS / 1000);
  document.getElementById('rate').textContent = (rate < 10 ? rate.toFixed(1) : Math.round(rate)) + ' ev/s';
  const updated = document.getElementById('updated');
  if (state.lastEventAt !== null) {
    const ago = (now - state.lastEventAt) / 1000;
    updated.textContent = ago < 1 ? 'updated just now' : 'updated ' + ago.toFixed(0) + ' s ago';
  }
}

for (const field of Object.keys(FIELDS)) seriesFor(field);
showConnection();
connect();
requestAnimationFrame(frame);
setInterval(tick, 250);
