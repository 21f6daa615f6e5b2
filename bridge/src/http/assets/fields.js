// What the daemon says about each field, and how a value is written.
//
// GET /api/fields describes fields by name: a label, a unit, a chart range
// and a number of decimals, each optional; and says whether commands reach
// a board. A daemon without that route, or one that cannot be reached,
// describes nothing and takes no commands: the page then shows each field
// by its own name, with the decimals and range its data shows.

const MAX_DECIMALS = 6;
const MINUS = '\u2212';

/** A field's description: every key is optional and checked. */
function description(raw) {
  const described = {};
  if (typeof raw !== 'object' || raw === null) return described;
  if (typeof raw.label === 'string' && raw.label) described.label = raw.label;
  if (typeof raw.unit === 'string' && raw.unit) described.unit = raw.unit;
  if (Number.isFinite(raw.min)) described.min = raw.min;
  if (Number.isFinite(raw.max)) described.max = raw.max;
  if (Number.isInteger(raw.decimals)) {
    described.decimals = Math.min(Math.max(raw.decimals, 0), MAX_DECIMALS);
  }
  return described;
}

/**
 * `{ descriptions, commands }`: the daemon's field descriptions, by name
 * (empty if it has none), and whether its commands reach a board.
 */
export async function loadDescriptions() {
  try {
    const response = await fetch('/api/fields', { cache: 'no-store' });
    if (!response.ok) return { descriptions: new Map(), commands: false };
    const body = await response.json();
    const fields = body && typeof body.fields === 'object' && body.fields ? body.fields : {};
    return {
      descriptions: new Map(Object.entries(fields).map(([name, raw]) => [name, description(raw)])),
      commands: body.commands === true,
    };
  } catch {
    return { descriptions: new Map(), commands: false };
  }
}

/** How many decimals `value` was written with (at most MAX_DECIMALS). */
export function decimalsOf(value) {
  if (Number.isInteger(value)) return 0;
  const text = String(value);
  const exponent = text.indexOf('e');
  if (exponent >= 0) return Math.min(MAX_DECIMALS, Math.max(0, -Number(text.slice(exponent + 1))));
  return Math.min(MAX_DECIMALS, text.length - text.indexOf('.') - 1);
}

/** `value` with `decimals` decimals and a typographic minus sign. */
export function formatNumber(value, decimals) {
  const text = value.toFixed(decimals);
  if (!text.startsWith('-')) return text;
  // A value that rounds to zero shows no sign.
  return /[1-9]/.test(text) ? MINUS + text.slice(1) : text.slice(1);
}
