// The centre-of-mass shift as one picture: hue = direction of (x, y), brightness = length,
// scaled so the 99th percentile of the length is full brightness (a few outliers would
// otherwise leave everything else dark).

import { wheelColour } from "./colormap.js";
import { percentile, sortedSample } from "./stats.js";

export function comFieldRGBA(xArr, yArr) {
  const n = xArr.values.length;
  const mag = new Float32Array(n);
  for (let i = 0; i < n; i++) mag[i] = Math.hypot(xArr.values[i], yArr.values[i]);
  const scale = percentile(sortedSample(mag), 99) || 1;
  const rgba = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    wheelColour(xArr.values[i], yArr.values[i], scale, rgba, i * 4);
    rgba[i * 4 + 3] = Number.isFinite(mag[i]) ? 255 : 0;
  }
  return { rgba, magnitude: mag, saturation: scale }; // full brightness from `saturation` on
}

/** A small colour-wheel legend: the colour of each direction at full and zero length. */
export function drawWheel(canvas) {
  const size = canvas.width, r = size / 2;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(size, size);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const dx = px - r + 0.5, dy = py - r + 0.5;
      const o = (py * size + px) * 4;
      if (Math.hypot(dx, dy) > r) continue;
      wheelColour(dx, dy, r, img.data, o);
      img.data[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}
