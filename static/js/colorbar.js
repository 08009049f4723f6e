// The colour bar under an image: exactly the mapping on screen. Its ends are the limits the
// contrast percentiles gave (values beyond them take the end colours: "≤ lo", "≥ hi"), its
// ticks sit where their values land under the linear or log scale; beside it the unit of the
// values, and its caption (the title, and an exported figure's text) names the colour map,
// the scale and the percentiles too.

import { COLORMAPS } from "./colormap.js";
import { ticks } from "./mapping.js";
import { formatNumber, unitCaption } from "./units.js";

export class ColourBar {
  constructor(root) {
    this.root = root;
    root.classList.add("colorbar");
    root.innerHTML = `<canvas class="cb-gradient" width="256" height="1"></canvas>
      <div class="cb-ticks"></div><div class="cb-unit"></div>`;
    this.gradient = root.querySelector(".cb-gradient");
    this.ticks = root.querySelector(".cb-ticks");
    this.unit = root.querySelector(".cb-unit");
    this.state = null;
    this.note = "";
    // the ticks that fit depend on the bar's width
    new ResizeObserver(() => this.state && this.update(this.state, this.note)).observe(root);
  }

  /**
   * Show ``{mapping, cmap, percentiles: [lo, hi], unit}`` (mapping.js, units.js); for null (an
   * image whose colours mean something else, e.g. the COM colour wheel) only ``note``.
   */
  update(state, note = "") {
    this.state = state && Number.isFinite(state.mapping.lo) ? state : null;
    this.note = note;
    this.root.classList.toggle("cb-note-only", !this.state);
    this.root.hidden = !this.state && !note;
    if (!this.state) {
      this.unit.textContent = note;
      this.root.title = note;
      return;
    }
    const { mapping, cmap } = state;
    Object.assign(this.root.dataset, {
      lo: String(mapping.lo), hi: String(mapping.hi), scale: mapping.log ? "log" : "linear", cmap,
    });
    paintGradient(this.gradient, cmap);
    const measure = textMeasure(getComputedStyle(this.ticks).font);
    const labels = fittingLabels(barLabels(mapping), this.ticks.clientWidth, measure);
    this.ticks.replaceChildren(...labels.map((l) => tick(l)));
    this.unit.textContent = unitCaption(state.unit);
    this.root.title = captionText(state);
  }
}

/** The labels of a bar: its two limits ("≤ lo", "≥ hi") and the ticks between them. */
export function barLabels(mapping) {
  return [
    { text: `≤ ${formatNumber(mapping.lo)}`, value: mapping.lo, t: 0, align: "start" },
    ...ticks(mapping).map(({ value, t }) => ({ text: formatNumber(value), value, t, align: "middle" })),
    { text: `≥ ${formatNumber(mapping.hi)}`, value: mapping.hi, t: 1, align: "end" },
  ];
}

/**
 * The labels that fit side by side on a bar ``barWidth`` wide: both limits always, an inner
 * tick only ``gap`` clear of its neighbours. ``measure(text)`` is a label's width.
 */
export function fittingLabels(labels, barWidth, measure, gap = 8) {
  const span = (l) => {
    const w = measure(l.text), x = l.t * barWidth;
    return l.align === "start" ? [x, x + w] : l.align === "end" ? [x - w, x] : [x - w / 2, x + w / 2];
  };
  const first = labels[0], last = labels[labels.length - 1];
  const kept = [first];
  let right = span(first)[1];
  const limit = span(last)[0];
  for (const label of labels.slice(1, -1)) {
    const [a, b] = span(label);
    if (a >= right + gap && b <= limit - gap) {
      kept.push(label);
      right = b;
    }
  }
  return [...kept, last];
}

let measuring = null;

/** A function measuring text in ``font`` (a CSS font). */
export function textMeasure(font) {
  measuring = measuring || document.createElement("canvas").getContext("2d");
  return (text) => {
    measuring.font = font;
    return measuring.measureText(text).width;
  };
}

/** "viridis, log, contrast 1–99 %, counts" */
export function captionText({ mapping, cmap, percentiles, unit }) {
  const parts = [cmap, mapping.log ? "log" : "linear"];
  if (percentiles) parts.push(`contrast ${percentiles[0]}–${percentiles[1]} %`);
  const units = unitCaption(unit);
  if (units) parts.push(units);
  return parts.join(", ");
}

function tick({ text, value, t, align }) {
  const el = document.createElement("span");
  el.className = `cb-tick ${{ start: "cb-lo", end: "cb-hi" }[align] || ""}`.trim();
  el.textContent = text;
  el.dataset.value = String(value);
  el.dataset.t = String(t);
  el.style.left = `${t * 100}%`;
  return el;
}

/** The 256 colours of ``cmap`` side by side: column k is the colour of index k. */
export function paintGradient(canvas, cmap) {
  const lut = COLORMAPS[cmap] || COLORMAPS.viridis;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(256, 1);
  for (let k = 0; k < 256; k++) {
    img.data.set([lut[k * 3], lut[k * 3 + 1], lut[k * 3 + 2], 255], k * 4);
  }
  ctx.putImageData(img, 0, 0);
}

/** A new 256 x 1 canvas holding the colours of ``cmap`` (for figures). */
export function gradientCanvas(cmap) {
  const canvas = document.createElement("canvas");
  canvas.width = 256;
  canvas.height = 1;
  paintGradient(canvas, cmap);
  return canvas;
}
