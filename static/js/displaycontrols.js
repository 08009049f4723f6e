// The display controls under an image: its colour bar, colour map, linear/log, contrast
// percentiles with a small histogram, "fit" to undo zoom and pan, and the export of the figure
// on screen. They change only how the browser colours the array it already has, never the job.

import { ColourBar } from "./colorbar.js";
import { COLORMAPS } from "./colormap.js";
import { colourIndex } from "./mapping.js";
import { formatValue } from "./imageview.js";
import { EXPORT_WIDTHS, exportFigure } from "./imageexport.js";

const CMAPS = ["viridis", "inferno", "grey", "coolwarm"];

export function displayControls(root, view, { cmap = "viridis", log = false } = {}) {
  root.classList.add("display-controls");
  // the colour bar and the histogram side by side, the controls in one row below: the pane
  // stays short enough for a laptop screen
  root.innerHTML = `
    <div class="dc-scale"><div class="dc-colorbar"></div>
      <div class="dc-hist" title="Histogram of the values (log counts), coloured as the image is; the lines are the limits">
        <canvas width="160" height="28"></canvas><span class="dc-min"></span><span class="dc-max"></span></div></div>
    <label>Colours <select class="dc-cmap">${CMAPS.map((c) => `<option>${c}</option>`).join("")}</select></label>
    <label><input type="checkbox" class="dc-log"> log</label>
    <label title="Contrast: the lowest and highest percentile of the values mapped to the ends of the colour map">
      contrast <input type="number" class="dc-lo" min="0" max="100" step="0.5" value="1">–<input type="number" class="dc-hi" min="0" max="100" step="0.5" value="99"> %</label>
    <button type="button" class="secondary small dc-fit" title="Undo zoom and pan">Fit</button>
    <details class="dc-export"><summary>Export</summary><div class="dc-export-menu">
      <label>width <select class="dc-width">${EXPORT_WIDTHS.map(([v, t]) => `<option value="${v}">${t}</option>`).join("")}</select></label>
      <button type="button" class="secondary small dc-png">PNG</button>
      <button type="button" class="secondary small dc-svg">SVG</button>
      <span class="muted">the image as shown, with its scale bar and colour bar</span></div></details>`;
  const $ = (s) => root.querySelector(s);
  const bar = new ColourBar($(".dc-colorbar"));
  $(".dc-cmap").value = cmap;
  $(".dc-log").checked = log;
  Object.assign(view.display, { cmap, log });
  const apply = () => {
    const lo = clampPercent($(".dc-lo").value, 0), hi = clampPercent($(".dc-hi").value, 100);
    view.setDisplay({ cmap: $(".dc-cmap").value, log: $(".dc-log").checked, lo: Math.min(lo, hi), hi: Math.max(lo, hi) });
  };
  for (const sel of [".dc-cmap", ".dc-log", ".dc-lo", ".dc-hi"]) $(sel).addEventListener("change", apply);
  $(".dc-fit").addEventListener("click", () => view.resetZoom());
  view.colourBar = bar; // the figure export draws what the bar shows
  view.onRender = (stats) => {
    const state = stats && { mapping: stats.mapping, cmap: view.display.cmap, percentiles: [view.display.lo, view.display.hi], unit: view.valueUnit };
    bar.update(state, view.rgb ? view.rgbCaption : "");
    drawHistogram($(".dc-hist canvas"), stats, view.display.cmap, $(".dc-min"), $(".dc-max"));
  };
  for (const format of ["png", "svg"]) {
    $(`.dc-${format}`).addEventListener("click", () => exportFigure(view, { format, width: $(".dc-width").value }));
  }
  return {
    setColormap(name) { $(".dc-cmap").value = name; apply(); },
    setEnabled(on) { root.classList.toggle("dc-disabled", !on); },
  };
}

function clampPercent(text, fallback) {
  const v = Number(text);
  return Number.isFinite(v) ? Math.min(100, Math.max(0, v)) : fallback;
}

/** Log counts per bin, each bar in the colour its values get on screen; the limits marked. */
function drawHistogram(canvas, stats, cmap, minEl, maxEl) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!stats || !stats.count) { minEl.textContent = maxEl.textContent = ""; return; }
  const { counts, min, max } = stats.hist;
  const lut = COLORMAPS[cmap] || COLORMAPS.viridis;
  const peak = Math.log1p(Math.max(...counts));
  const w = canvas.width / counts.length;
  counts.forEach((c, i) => { // log counts: a few bright pixels stay visible next to the bulk
    const k = colourIndex(stats.mapping, min + ((i + 0.5) / counts.length) * (max - min)) * 3;
    ctx.fillStyle = `rgb(${lut[k]}, ${lut[k + 1]}, ${lut[k + 2]})`;
    const h = Math.max(1, (Math.log1p(c) / (peak || 1)) * canvas.height);
    ctx.fillRect(i * w, canvas.height - h, Math.max(1, w - 1), h);
  });
  const x = (v) => ((v - min) / ((max - min) || 1)) * canvas.width;
  ctx.fillStyle = "rgba(15, 23, 42, 0.9)";
  ctx.fillRect(x(stats.lo) - 1, 0, 2, canvas.height);
  ctx.fillRect(x(stats.hi) - 1, 0, 2, canvas.height);
  minEl.textContent = formatValue(min);
  maxEl.textContent = formatValue(max);
}
