// The display controls under an image: colour map, linear/log, contrast percentiles with a
// small histogram, and "fit" to undo zoom and pan. They change only how the browser colours
// the array it already has, never the job.

import { cssGradient } from "./colormap.js";
import { formatValue } from "./imageview.js";

const CMAPS = ["viridis", "inferno", "grey", "coolwarm"];

export function displayControls(root, view, { cmap = "viridis", log = false } = {}) {
  root.classList.add("display-controls");
  root.innerHTML = `
    <label>Colours <select class="dc-cmap">${CMAPS.map((c) => `<option>${c}</option>`).join("")}</select></label>
    <label><input type="checkbox" class="dc-log"> log</label>
    <label title="Contrast: the lowest and highest percentile of the values mapped to the ends of the colour map">
      contrast <input type="number" class="dc-lo" min="0" max="100" step="0.5" value="1">–<input type="number" class="dc-hi" min="0" max="100" step="0.5" value="99"> %</label>
    <button type="button" class="secondary dc-fit" title="Undo zoom and pan">Fit</button>
    <div class="dc-hist"><canvas width="240" height="40"></canvas><div class="dc-bar"></div>
      <div class="dc-range"><span class="dc-min"></span><span class="dc-max"></span></div></div>`;
  const $ = (s) => root.querySelector(s);
  $(".dc-cmap").value = cmap;
  $(".dc-log").checked = log;
  Object.assign(view.display, { cmap, log });
  const apply = () => {
    const lo = clampPercent($(".dc-lo").value, 0), hi = clampPercent($(".dc-hi").value, 100);
    view.setDisplay({ cmap: $(".dc-cmap").value, log: $(".dc-log").checked, lo: Math.min(lo, hi), hi: Math.max(lo, hi) });
    $(".dc-bar").style.background = cssGradient($(".dc-cmap").value);
  };
  for (const sel of [".dc-cmap", ".dc-log", ".dc-lo", ".dc-hi"]) $(sel).addEventListener("change", apply);
  $(".dc-fit").addEventListener("click", () => view.resetZoom());
  $(".dc-bar").style.background = cssGradient(cmap);
  view.onRender = (stats) => drawHistogram($(".dc-hist canvas"), stats, $(".dc-min"), $(".dc-max"));
  return {
    setColormap(name) { $(".dc-cmap").value = name; apply(); },
    setEnabled(on) { root.classList.toggle("dc-disabled", !on); },
  };
}

function clampPercent(text, fallback) {
  const v = Number(text);
  return Number.isFinite(v) ? Math.min(100, Math.max(0, v)) : fallback;
}

function drawHistogram(canvas, stats, minEl, maxEl) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!stats || !stats.count) { minEl.textContent = maxEl.textContent = ""; return; }
  const { counts, min, max } = stats.hist;
  const peak = Math.log1p(Math.max(...counts));
  const w = canvas.width / counts.length;
  ctx.fillStyle = "#94a3b8";
  counts.forEach((c, i) => { // log counts: a few bright pixels stay visible next to the bulk
    const h = (Math.log1p(c) / (peak || 1)) * canvas.height;
    ctx.fillRect(i * w, canvas.height - h, Math.max(1, w - 1), h);
  });
  const x = (v) => ((v - min) / ((max - min) || 1)) * canvas.width;
  ctx.fillStyle = "rgba(36, 99, 235, 0.9)";
  ctx.fillRect(x(stats.lo) - 1, 0, 2, canvas.height);
  ctx.fillRect(x(stats.hi) - 1, 0, 2, canvas.height);
  minEl.textContent = formatValue(min);
  maxEl.textContent = formatValue(max);
}
