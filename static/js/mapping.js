// How values become colours on screen: the limits applied (the contrast percentiles of the
// image) and a linear or logarithmic scale between them. The image, its colour bar, the
// histogram and an exported figure all use this one mapping, so they cannot disagree.

/**
 * The mapping of values onto 0..1 (then clamped, then 256 colours): ``scale(v)`` and its
 * inverse ``invert(t)``. Log maps ``log(1 + (v - lo))``: zero stays zero, and the values below
 * ``lo`` saturate as in the linear scale.
 */
export function valueMapping({ lo, hi, log }) {
  if (log) {
    const top = Math.log1p(Math.max(hi - lo, 1e-30));
    return {
      lo, hi, log: true,
      scale: (v) => Math.log1p(Math.max(0, v - lo)) / top,
      invert: (t) => lo + Math.expm1(t * top),
    };
  }
  const width = (hi - lo) || 1;
  return { lo, hi, log: false, scale: (v) => (v - lo) / width, invert: (t) => lo + t * width };
}

/** The colour index 0..255 of value ``v`` under ``mapping`` (as colourise() computes it). */
export function colourIndex(mapping, v) {
  return Math.round(Math.min(1, Math.max(0, mapping.scale(v))) * 255);
}

/**
 * Tick marks between the limits: ``[{value, t}]`` with ``t`` the position 0..1 along the bar.
 * Linear: round steps (1, 2 or 5 times a power of ten). Log: values spread evenly along the
 * bar, rounded to two significant digits. Ticks on the ends (whose limits are labelled on
 * their own) are left out; which of the rest fit beside each other is for the bar to decide.
 */
export function ticks(mapping, count = 5) {
  const { lo, hi } = mapping;
  if (!(hi > lo) || !Number.isFinite(hi - lo)) return [];
  const values = mapping.log
    ? Array.from({ length: count - 1 }, (_, k) => roundSignificant(mapping.invert((k + 1) / count), 2))
    : roundSteps(lo, hi, count);
  const seen = new Set();
  return values
    .map((value) => ({ value, t: mapping.scale(value) }))
    .filter(({ value, t }) => t > 0.02 && t < 0.98 && !seen.has(value) && seen.add(value));
}

function roundSteps(lo, hi, count) {
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const out = [];
  for (let k = Math.ceil(lo / step); k * step <= hi; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

export function roundSignificant(v, digits) {
  if (v === 0 || !Number.isFinite(v)) return v;
  const power = 10 ** (Math.floor(Math.log10(Math.abs(v))) - digits + 1);
  return Number((Math.round(v / power) * power).toPrecision(12));
}
