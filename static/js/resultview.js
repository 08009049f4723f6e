// Putting a job's results on screen: scan-shaped results on the scan view, detector-shaped
// ones (sum, pick) on the detector view; 3-d results (radial bins, mask stacks) one channel
// or their sum; COM as single components or the colour-wheel field.

import { channel, channelSum, fetchNpy } from "./npy.js";
import { comFieldRGBA } from "./comfield.js";
import { resultUrl } from "./resultspanel.js";

const $ = (id) => document.getElementById(id);
const SIGNED = new Set(["x", "y", "divergence", "curl"]); // shown with a diverging colour map

export class ResultView {
  /** ``onDetectorResult(label)`` fires when a result takes over the detector view. */
  constructor({ analyses, detectorView, scanView, scanControls, onDetectorResult }) {
    this.analyses = analyses;
    this.detectorView = detectorView;
    this.scanView = scanView;
    this.scanControls = scanControls;
    this.onDetectorResult = onDetectorResult;
    this.channelIndex = -1; // -1: the sum over the last axis
  }

  spec(job) {
    return this.analyses.find((a) => a.name === job.analysis);
  }

  /** The view for result ``name`` of ``job``. */
  target(job, name) {
    const spec = this.spec(job);
    const result = spec && spec.results.find((r) => r.name === name);
    if (!result || result.shape !== "sig") return this.scanView;
    this.onDetectorResult(`${job.analysis} job ${job.id}: ${name}`);
    return this.detectorView;
  }

  show(view, arr) {
    if (arr.shape.length === 3) {
      const k = Math.min(this.channelIndex, arr.shape[2] - 1);
      arr = k < 0 ? channelSum(arr) : channel(arr, k);
    }
    view.setArray(arr);
  }

  /** Fill the result selector for ``job`` (its preview first) and reset the extras. */
  prepare(job) {
    const spec = this.spec(job);
    const names = spec ? spec.results.map((r) => r.name) : [];
    if (job.analysis === "com") names.push("field");
    const select = $("result-select");
    select.innerHTML = names
      .map((n) => `<option value="${n}">${n === "field" ? "field (colour wheel)" : n}</option>`)
      .join("");
    select.value = spec ? spec.preview : names[0];
    $("result-choice").hidden = names.length < 2;
    $("channel-controls").hidden = !(spec && spec.results.some((r) => r.shape.startsWith("nav+")));
    $("wheel-legend").hidden = true;
  }

  /** Show the selected final result of ``job``; resolves to the array shown (or null). */
  async showSelected(job, isCurrent) {
    const name = $("result-select").value;
    if (name === "field") return this.showField(job, isCurrent);
    $("wheel-legend").hidden = true;
    this.scanControls.setEnabled(true);
    if (job.analysis === "com") this.scanControls.setColormap(SIGNED.has(name) ? "coolwarm" : "viridis");
    const arr = await this.array(job, name);
    if (!isCurrent()) return null;
    this.show(this.target(job, name), arr);
    if (arr.shape.length === 3) this.channelRange(arr);
    return arr;
  }

  array(job, name) {
    job.cache = job.cache || {};
    const r = (job.results || []).find((x) => x.name === name);
    const url = (r && r.urls && r.urls.npy) || resultUrl(job.id, name, "npy");
    job.cache[name] = job.cache[name] || fetchNpy(url);
    return job.cache[name];
  }

  async showField(job, isCurrent) {
    const [x, y] = await Promise.all([this.array(job, "x"), this.array(job, "y")]);
    if (!isCurrent()) return null;
    const { rgba, magnitude } = comFieldRGBA(x, y);
    const [h, w] = x.shape;
    this.scanView.setRGB(rgba, w, h, magnitude);
    $("wheel-legend").hidden = false;
    this.scanControls.setEnabled(false); // the colours are fixed by direction and length
    return null;
  }

  channelRange(arr) {
    $("channel-index").max = String(arr.shape[2] - 1);
    $("channel-label").textContent =
      this.channelIndex < 0 ? "sum of all" : `${this.channelIndex} of ${arr.shape[2]}`;
  }
}
