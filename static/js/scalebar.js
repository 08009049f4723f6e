// A scale bar: a round physical length (1, 2 or 5 times a power of ten) drawn to scale in the
// bottom right corner of an image, labelled with the length. Used on screen (an overlay of an
// ImageView, redrawn with every zoom) and in exported figures.

import { formatQuantity } from "./units.js";

/**
 * The bar for pixels of ``unitsPerPixel`` shown ``screenPerPixel`` screen px wide: the round
 * length whose bar is nearest ``target`` screen px, ``{value, units, label, length}`` with
 * ``length`` in screen px.
 */
export function chooseScaleBar(unitsPerPixel, units, screenPerPixel, target = 100) {
  const perScreenPx = unitsPerPixel / screenPerPixel;
  const wanted = target * perScreenPx;
  const power = 10 ** Math.floor(Math.log10(wanted));
  let best = null;
  for (const m of [1, 2, 5, 10]) {
    const value = Number((m * power).toPrecision(12));
    const length = value / perScreenPx;
    if (!best || Math.abs(Math.log(length / target)) < Math.abs(Math.log(best.length / target))) {
      best = { value, units, label: formatQuantity(value, units), length };
    }
  }
  return best;
}

/**
 * Where the bar and its label go in a ``width`` x ``height`` image area (any pixel unit):
 * ``{x, y, w, h, textX, textY, font}``, right-aligned with a margin.
 */
export function scaleBarBox(bar, width, height, unit = 1) {
  const margin = 12 * unit, h = 5 * unit;
  return {
    x: width - margin - bar.length, y: height - margin - h, w: bar.length, h,
    textX: width - margin - bar.length / 2, textY: height - margin - h - 4 * unit, font: 12 * unit,
  };
}

/** Draw ``bar`` into a 2-d context: a white bar with a dark edge, its label above. */
export function paintScaleBar(ctx, bar, box) {
  ctx.save();
  ctx.fillStyle = "rgba(0, 0, 0, 0.75)";
  ctx.fillRect(box.x - 1, box.y - 1, box.w + 2, box.h + 2);
  ctx.fillStyle = "#fff";
  ctx.fillRect(box.x, box.y, box.w, box.h);
  ctx.font = `${box.font}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.lineWidth = Math.max(2, box.font / 4);
  ctx.strokeStyle = "rgba(0, 0, 0, 0.8)";
  ctx.strokeText(bar.label, box.textX, box.textY);
  ctx.fillText(bar.label, box.textX, box.textY);
  ctx.restore();
}

/** The scale bar overlay of an ImageView whose pixels are ``size`` ({x, y, units}) large. */
export class ScaleBar {
  constructor(size) {
    this.size = size;
    this.last = null; // the bar last drawn, {value, units, label, length (CSS px), box}: for tests
  }

  draw(ctx, view) {
    const dpr = window.devicePixelRatio || 1;
    const bar = chooseScaleBar(this.size.x, this.size.units, view.scale);
    const { clientWidth: W, clientHeight: H } = view.root;
    // drawn in device pixels, with the bar's ends on whole pixels, so its length is exact
    const device = { ...bar, length: Math.round(bar.length * dpr) };
    const box = scaleBarBox(device, Math.round(W * dpr), Math.round(H * dpr), dpr);
    box.x = Math.round(box.x);
    box.y = Math.round(box.y);
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    paintScaleBar(ctx, device, box);
    ctx.restore();
    this.last = { ...bar, box };
  }
}
