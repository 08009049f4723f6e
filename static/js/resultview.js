// Putting a job's results on screen: scan-shaped results on the scan view, detector-shaped
// ones on the detector view; 3-d results one channel or their sum; a declared vector field
// (COM's x, y) also as a colour wheel. How each result is shown comes from its declaration.
// Each pane says what it shows (which result of which job, partial or final) and nothing stale
// stays: a job without a scan image clears the scan pane, a failed job clears its image.

import { channel, channelSum, fetchNpy } from "./npy.js";
import { comFieldRGBA } from "./comfield.js";
import { resultUrl } from "./resultspanel.js";
import { plotData, plotKind } from "./resultplot.js";
import { formatNumber, formatQuantity, valueUnit } from "./units.js";

const $ = (id) => document.getElementById(id);

export class ResultView {
  /** ``onDetectorResult(label)`` fires when a result takes over the detector view. */
  /** ``plot``: the ProfilePlot for 1-d results; ``picked()``: the scan position whose
   * profile is plotted; ``pixelSize`` (cfg.dataset.pixel_size) and ``dtype``: the units of
   * the values. */
  constructor({
    analyses, detectorView, scanView, scanControls, onDetectorResult, plot, picked, pixelSize = null, dtype = "",
    calibrated = null, slices = null,
  }) {
    this.slices = slices; // ScanSlices: a scan of more than two axes shows one slice at a time
    this.calibrated = calibrated; // the quantities a phase in rad needs (units.js)
    this.plot = plot;
    this.picked = picked;
    this.shownAnalysis = null;
    this.analyses = analyses;
    this.detectorView = detectorView;
    this.scanView = scanView;
    this.scanControls = scanControls;
    this.onDetectorResult = onDetectorResult;
    this.channelIndex = 0; // -1: the sum over the last axis (never the default: see prepare)
    this.pixelSize = pixelSize;
    this.dtype = dtype;
  }

  spec(job) {
    return this.analyses.find((a) => a.name === job.analysis);
  }

  /** "detector" when result ``name`` of ``job`` (default: its preview) is a detector
   * image, else "scan". */
  pane(job, name = null) {
    const spec = this.spec(job);
    const result = spec && spec.results.find((r) => r.name === (name || spec.preview));
    return result && result.shape.startsWith("sig") ? "detector" : "scan"; // sig, sig+clusters
  }

  /** The view for result ``name`` of ``job``. */
  target(job, name) {
    return this.pane(job, name) === "detector" ? this.detectorView : this.scanView;
  }

  /** Put result ``name`` of ``job`` (``final`` or a partial image) on its pane, labelled. */
  show(job, name, arr, { final = false } = {}) {
    this.lastShown = { job, name, arr, final };
    let slice = "";
    if (this.slices && this.slices.active && this.pane(job, name) === "scan") {
      arr = this.slices.cut(arr);
      slice = `, scan slice ${this.slices.index + 1} of ${this.slices.count}`;
    }
    if (arr.shape.length === 4) { // bins x orders: one channel each, bin-major
      const [h, w, b, o] = arr.shape;
      arr = { ...arr, shape: [h, w, b * o] };
    }
    let part = "";
    if (arr.shape.length === 3) {
      const k = Math.min(this.channelIndex, arr.shape[2] - 1);
      part = k < 0 ? ", sum of all channels" : `, channel ${k} of ${arr.shape[2]}`;
      arr = k < 0 ? channelSum(arr) : channel(arr, k);
    }
    const label = `${name} of job ${job.id}${part}${slice}${final ? "" : " (partial)"}`;
    if (this.pane(job, name) === "detector") this.onDetectorResult(label);
    else $("scan-source").textContent = label;
    const view = this.target(job, name);
    const result = this.spec(job) && this.spec(job).results.find((r) => r.name === name);
    view.valueUnit = valueUnit(result || null, this.pixelSize, this.dtype, this.calibrated);
    view.exportName = `job-${job.id}-${name}`;
    view.setArray(arr);
  }

  /** A failed job's image is gone: its pane says so instead of showing an older one. */
  failed(job) {
    this.showPlot(null);
    const text = `Job ${job.id} failed, so there is no image; the message above says why.`;
    if (this.pane(job) === "detector") {
      this.detectorView.clear(text);
      this.onDetectorResult(`job ${job.id} failed`);
    } else {
      this.scanView.clear(text);
      $("scan-source").textContent = `job ${job.id} failed`;
    }
  }

  /** Mark the scan image as what was done before the job was cancelled. */
  cancelled(job) {
    if (this.pane(job) === "scan" && this.scanView.image) $("scan-source").textContent += " — cancelled";
  }

  /** The result whose partial images ``job`` shows while it runs: the selected one if the
   * analysis sends it live, else the preview. */
  liveName(job) {
    const spec = this.spec(job);
    const selected = $("result-select").value;
    return spec && (spec.live || []).includes(selected) ? selected : spec && spec.preview;
  }

  /** Fill the result selector for ``job`` (the result chosen for the same analysis before,
   * else its preview) and reset the extras; results of a few values are no image. */
  prepare(job) {
    const spec = this.spec(job);
    const names = spec ? spec.results.filter((r) => r.shape !== "values").map((r) => r.name) : [];
    if (spec && spec.field) names.push("field");
    const select = $("result-select");
    const before = job.analysis === this.shownAnalysis && names.includes(select.value) ? select.value : null;
    select.innerHTML = names
      .map((n) => `<option value="${n}">${n === "field" ? "field (colour wheel)" : n}</option>`)
      .join("");
    select.value = before || (spec ? spec.preview : names[0]);
    $("result-choice").hidden = names.length < 2;
    $("channel-controls").hidden = !(spec && spec.results.some((r) => r.display === "channels"));
    $("wheel-legend").hidden = true;
    this.showPlot(null);
    // a new analysis starts at its first channel (not a silent sum of all masks or bins)
    if (job.analysis !== this.shownAnalysis) this.channelIndex = 0;
    this.shownAnalysis = job.analysis;
    $("channel-index").value = String(this.channelIndex);
    // the selector sits on the pane whose image it changes
    const pane = this.pane(job);
    document.querySelector(`#${pane}-pane .an-pane-head`).append($("result-choice"));
    if (pane === "detector" && spec) { // no scan image: nothing of an earlier job stays
      this.scanView.clear(`Job ${job.id} (${spec.title}) has no scan image: its result is a detector image, shown on the left.`);
      $("scan-source").textContent = "";
    }
  }

  /** Show the selected final result of ``job``; resolves to the array shown (or null). */
  async showSelected(job, isCurrent) {
    const name = $("result-select").value;
    if (name === "field") return this.showField(job, isCurrent);
    $("wheel-legend").hidden = true;
    this.scanControls.setEnabled(true);
    const results = this.spec(job).results;
    if (results.some((r) => r.display === "signed image")) { // diverging colours for signed values
      const signed = results.find((r) => r.name === name).display === "signed image";
      this.scanControls.setColormap(signed ? "coolwarm" : "viridis");
    }
    const result = results.find((r) => r.name === name);
    const arr = await this.array(job, name);
    if (!isCurrent()) return null;
    if (plotKind(result) === "line") { // nothing to show as an image: the plot takes the pane
      $("scan-source").textContent = `${name} of job ${job.id}, plotted`;
      this.showPlot({ job, result, arr }, { large: true });
      return arr;
    }
    this.show(job, name, arr, { final: true });
    const shown = this.slices ? this.slices.cut(arr) : arr; // one scan slice of a longer scan
    if (shown.shape.length >= 3) this.channelRange(shown);
    this.showPlot(plotKind(result) ? { job, result, arr: shown } : null);
    return arr;
  }

  /** Plot ``shown`` ({job, result, arr}; null: no plot), ``large`` in place of the scan
   * image. */
  showPlot(shown, { large = false } = {}) {
    this.plotted = shown;
    $("scan-view").hidden = large;
    $("scan-display").hidden = large;
    $("result-plot").classList.toggle("plot-large", large);
    this.replot();
  }

  /** Draw the plot again (after a new pick: the profile at that position). */
  replot() {
    const s = this.plotted;
    const detector = this.pixelSize && this.pixelSize.detector;
    const data = s && plotData(s.job, s.result, s.arr, this.picked(), detector);
    $("result-plot").hidden = !data;
    if (data) this.plot.show(data);
    else this.plot.clear();
  }

  array(job, name) {
    job.cache = job.cache || {};
    const r = (job.results || []).find((x) => x.name === name);
    const url = (r && r.urls && r.urls.npy) || resultUrl(job.id, name, "npy");
    job.cache[name] = job.cache[name] || fetchNpy(url);
    return job.cache[name];
  }

  async showField(job, isCurrent) {
    const [xName, yName] = this.spec(job).field;
    let [x, y] = await Promise.all([this.array(job, xName), this.array(job, yName)]);
    if (!isCurrent()) return null;
    this.lastShown = { job, field: true };
    if (this.slices) [x, y] = [this.slices.cut(x), this.slices.cut(y)];
    this.showPlot(null);
    const { rgba, magnitude, saturation } = comFieldRGBA(x, y);
    const [h, w] = x.shape;
    const unit = valueUnit(this.spec(job).results.find((r) => r.name === xName), this.pixelSize, this.dtype);
    this.scanView.valueUnit = { ...unit, label: `${unit.label} (shift length)` };
    this.scanView.exportName = `job-${job.id}-field`;
    this.scanView.rgbCaption = fieldCaption(saturation, unit);
    this.scanView.setRGB(rgba, w, h, magnitude);
    $("scan-source").textContent = `field of job ${job.id} (colour = direction, brightness = length)`;
    $("wheel-legend").hidden = false;
    this.scanControls.setEnabled(false); // the colours are fixed by direction and length
    return null;
  }

  /** Show the last image again (another scan slice was chosen). */
  reshow() {
    const s = this.lastShown;
    if (!s) return;
    if (s.field) this.showField(s.job, () => true);
    else if (s.final) this.showSelected(s.job, () => true);
    else this.show(s.job, s.name, s.arr);
  }

  channelRange(arr) {
    const channels = arr.shape.slice(2).reduce((a, b) => a * b, 1);
    $("channel-index").max = String(channels - 1);
    $("channel-label").textContent =
      this.channelIndex < 0 ? "sum of all" : `${this.channelIndex} of ${channels}`;
  }
}

/** The legend of the colour-wheel view: what colour and brightness mean, up to which length. */
function fieldCaption(saturation, unit) {
  const physical = unit.physical ? ` = ${formatQuantity(saturation * unit.physical.scale, unit.physical.units)}` : "";
  return `colour: direction of the shift; brightness: its length, full from ${formatNumber(saturation)} ${unit.label}${physical} (99th percentile)`;
}
