// Colour maps as 256-entry lookup tables, and the colour wheel for vector fields.
// viridis and inferno are perceptually uniform, so equal steps in value look like equal steps
// in brightness; the LUTs come from the degree-6 polynomial fits by Matt Zucker (CC0,
// shadertoy WlfXRN), which match matplotlib's tables to within about 1 %.

const POLY = {
  viridis: [
    [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
    [0.1050930431085774, 1.404613529898575, 1.384590162594685],
    [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
    [-4.634230498983486, -5.799100973351585, -19.33244095627987],
    [6.228269936347081, 14.17993336680509, 56.69055260068105],
    [4.776384997670288, -13.74514537774601, -65.35303263337234],
    [-5.435455855934631, 4.645852612178535, 26.3124352495832],
  ],
  inferno: [
    [0.0002189403691192265, 0.001651004631001012, -0.01948089843709184],
    [0.1065134194856116, 0.5639564367884091, 3.932712388889277],
    [11.60249308247187, -3.972853965665698, -15.9423941062914],
    [-41.70399613139459, 17.43639888205313, 44.35414519872813],
    [77.162935699427, -33.40235894210092, -81.80730925738993],
    [-71.31942824499214, 32.62606426397723, 73.20951985803202],
    [25.13112622477341, -12.24266895238567, -23.07032500287172],
  ],
};

function polyLut(coeffs) {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    for (let c = 0; c < 3; c++) {
      let v = 0;
      for (let k = coeffs.length - 1; k >= 0; k--) v = v * t + coeffs[k][c];
      lut[i * 3 + c] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  return lut;
}

function greyLut() {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) lut.fill(i, i * 3, i * 3 + 3);
  return lut;
}

export const COLORMAPS = {
  viridis: polyLut(POLY.viridis),
  inferno: polyLut(POLY.inferno),
  grey: greyLut(),
};

/** Diverging maps suit signed results (divergence, curl, COM x/y); a grey-free blue-red. */
COLORMAPS.coolwarm = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  const lo = [59, 76, 192], mid = [221, 221, 221], hi = [180, 4, 38];
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    const [a, b, s] = t < 0.5 ? [lo, mid, t * 2] : [mid, hi, (t - 0.5) * 2];
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = a[c] + (b[c] - a[c]) * s;
  }
  return lut;
})();

/**
 * Colour ``values`` into ``rgba`` (4 bytes each) with colour map ``name``; ``scale(v)`` maps a
 * value to 0..1 (clamped). Non-finite values (not computed yet, outside the ROI) stay
 * transparent.
 */
export function colourise(rgba, values, name, scale) {
  const lut = COLORMAPS[name] || COLORMAPS.viridis;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const o = i * 4;
    if (!Number.isFinite(v)) { rgba[o + 3] = 0; continue; }
    const k = Math.round(Math.min(1, Math.max(0, scale(v))) * 255) * 3;
    rgba[o] = lut[k]; rgba[o + 1] = lut[k + 1]; rgba[o + 2] = lut[k + 2]; rgba[o + 3] = 255;
  }
}

/** The CSS gradient of a LUT (the comparison's shared colour bar). */
export function cssGradient(name) {
  const lut = COLORMAPS[name];
  const stops = [];
  for (let i = 0; i <= 8; i++) {
    const k = Math.round((i / 8) * 255) * 3;
    stops.push(`rgb(${lut[k]},${lut[k + 1]},${lut[k + 2]}) ${i * 12.5}%`);
  }
  return `linear-gradient(to right, ${stops.join(", ")})`;
}

/**
 * HSV colour of a vector (dx, dy): hue = direction, value = length / maxLength.
 * Writes r, g, b into ``out`` at ``offset``.
 */
export function wheelColour(dx, dy, maxLength, out, offset) {
  if (!Number.isFinite(dx) || !Number.isFinite(dy)) {
    out[offset] = out[offset + 1] = out[offset + 2] = 0;
    return;
  }
  const hue = (Math.atan2(dy, dx) / (2 * Math.PI) + 1) % 1;
  const value = Math.min(1, Math.hypot(dx, dy) / (maxLength || 1));
  const h6 = hue * 6;
  const sector = Math.floor(h6) % 6;
  const f = h6 - Math.floor(h6);
  const p = 0, q = value * (1 - f), t = value * f;
  const rgb = [[value, t, p], [q, value, p], [p, value, t], [p, q, value], [t, p, value], [value, p, q]][sector];
  out[offset] = rgb[0] * 255;
  out[offset + 1] = rgb[1] * 255;
  out[offset + 2] = rgb[2] * 255;
}
