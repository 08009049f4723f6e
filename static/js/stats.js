// Statistics of an image for display: percentiles for contrast, a histogram for the controls.
// Large images are sampled: contrast limits need ~1e5 values, not every pixel.

const MAX_SAMPLE = 1 << 17;

/** Sorted finite values of ``values`` (a strided sample for large arrays). */
export function sortedSample(values) {
  const step = Math.max(1, Math.floor(values.length / MAX_SAMPLE));
  const out = new Float32Array(Math.ceil(values.length / step));
  let n = 0;
  for (let i = 0; i < values.length; i += step) {
    const v = values[i];
    if (Number.isFinite(v)) out[n++] = v;
  }
  return out.subarray(0, n).sort();
}

/** The ``p``-th percentile (0..100) of sorted values, linear between neighbours. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const pos = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** ``bins`` counts over [min, max] of the sorted sample. */
export function histogram(sorted, bins = 64) {
  const counts = new Uint32Array(bins);
  if (sorted.length === 0) return { counts, min: 0, max: 0 };
  const min = sorted[0], max = sorted[sorted.length - 1];
  const width = (max - min) || 1;
  for (const v of sorted) counts[Math.min(bins - 1, Math.floor(((v - min) / width) * bins))]++;
  return { counts, min, max };
}
