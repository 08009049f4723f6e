// The analysis page: a detector view with draggable detector shapes on the left, the live
// scan image of the current job on the right. Every finished edit of a shape (or a
// parameter, or the scan ROI) replaces the running job with a new one after a short pause,
// so dragging a detector feels live; the websocket streams progress and partial images.

import { channel, channelSum, fetchNpy } from "./npy.js";
import { ImageView } from "./imageview.js";
import { displayControls } from "./displaycontrols.js";
import { ShapeEditor, defaultParams } from "./shapes.js";
import { RoiTool } from "./roi.js";
import { JobSocket, TERMINAL, jobApi, jobsOf } from "./jobclient.js";
import { MODE_FIELDS, analysisOf, paramsForm, specOf } from "./paramsform.js";
import { copyText, pythonSnippet, renderDownloads, resultUrl } from "./resultspanel.js";
import { comFieldRGBA, drawWheel } from "./comfield.js";

const DEBOUNCE_MS = 150;
const SHAPE_OF_MODE = { com: "com", radial: "radial" };
const SCAN_ANALYSES = new Set(["virtual", "com", "radial", "masks"]);
const SIGNED = new Set(["x", "y", "divergence", "curl"]); // shown with a diverging colour map

const cfg = JSON.parse(document.getElementById("analysis-config").textContent);
const $ = (id) => document.getElementById(id);
const [SY, SX] = cfg.dataset.sig_shape;
const NAV = cfg.dataset.nav_shape.length === 1 ? [1, cfg.dataset.nav_shape[0]] : cfg.dataset.nav_shape;

const S = {
  mode: "virtual:ring",
  geometry: {}, // remembered per mode, so switching back restores the shape
  job: null, // {id, analysis, params, roi, status, ...} of the scan/detector result shown
  socket: null,
  seq: 0, // submissions; an older submission's answer is ignored
  timer: null,
  mean: null, // the mean frame (float array) once known
  detector: "mean", // what the detector view shows: mean | frame | result
  picked: null,
  maskId: null,
  channelIndex: -1, // -1 = sum over the last axis (radial bins, masks)
  releaseAt: null, // performance.now() of the last shape release, for the timing report
};
window.__analysisTimings = []; // release -> first / final image per job, read by the browser tests

// ---------------------------------------------------------------- views and controls

const detectorView = new ImageView($("detector-view"));
const scanView = new ImageView($("scan-view"), { onClick: pickAt });
// diffraction patterns span orders of magnitude: log scale by default on the detector
displayControls($("detector-display"), detectorView, { cmap: "inferno", log: true });
const scanControls = displayControls($("scan-display"), scanView, { cmap: "viridis" });
const editor = new ShapeEditor(detectorView, { onChange: shapeChanged });
const roiTool = new RoiTool(scanView, { onChange: roiChanged });
detectorView.tool = editor;
scanView.tool = roiTool;
detectorView.setPlaceholder("Loading the mean diffraction pattern…");
scanView.setPlaceholder("The scan image appears here when a job runs.");
let form = null;
// A handle for the browser tests and the devtools console; the page does not use it.
window.__analysisPage = { state: S, detectorView, scanView, editor, roiTool };

function setMode(mode, { run = true } = {}) {
  S.mode = mode;
  $("analysis-select").value = mode;
  const values = S.geometry[mode] || initialValues(mode);
  S.geometry[mode] = values;
  form = paramsForm($("params"), { analyses: cfg.analyses, mode, values, onInput: formChanged });
  const kind = mode.startsWith("virtual:") ? mode.slice(8) : SHAPE_OF_MODE[mode];
  editor.setShape(kind || null, values);
  $("masks-upload").hidden = mode !== "masks";
  $("polygon-restart").hidden = mode !== "virtual:polygon";
  $("mode-help").textContent = MODE_HELP[mode] || "";
  if (run) scheduleRun();
}

function initialValues(mode) {
  const kind = mode.startsWith("virtual:") ? mode.slice(8) : SHAPE_OF_MODE[mode];
  const values = kind ? defaultParams(kind, SY, SX) : {};
  if (mode === "com") Object.assign(values, { scan_rotation: 0, flip_y: false });
  if (mode === "radial") values.bins = 16;
  if (mode === "pick") Object.assign(values, S.picked || { y: Math.floor(NAV[0] / 2), x: Math.floor(NAV[1] / 2) });
  return values;
}

const MODE_HELP = {
  "virtual:polygon": "Click to add corners, double-click to close. Drag corners or the inside to edit.",
  "virtual:point": "Click or drag on the detector to place the pixel.",
  sum: "Sum, mean and maximum over all frames (or the scan ROI), shown on the detector view.",
  pick: "Click a scan position on the right; the frame is read by a job and shown on the left.",
  masks: "Upload a .npy of shape (sy, sx) or (m, sy, sx) matching the detector.",
};

function shapeChanged(values, final) {
  Object.assign(S.geometry[S.mode], values);
  form.set(values);
  if (final) {
    S.releaseAt = performance.now();
    performance.mark("shape-release");
    scheduleRun();
  }
}

function formChanged(values) {
  Object.assign(S.geometry[S.mode], values);
  const kind = S.mode.startsWith("virtual:") ? S.mode.slice(8) : SHAPE_OF_MODE[S.mode];
  if (kind) editor.setShape(kind, S.geometry[S.mode]);
  if (S.mode === "radial") editor.shape.bins = values.bins || 1;
  S.releaseAt = performance.now();
  scheduleRun();
}

function roiChanged(roi) {
  $("roi-text").textContent = roi ? describeRoi(roi) : "whole scan";
  $("roi-clear").disabled = !roi;
  scheduleRun();
}

function describeRoi(roi) {
  return roi.shape === "rect"
    ? `rows ${roi.y}–${roi.y + roi.height - 1}, columns ${roi.x}–${roi.x + roi.width - 1}`
    : `disk at row ${roi.cy}, column ${roi.cx}, radius ${roi.r}`;
}

// ---------------------------------------------------------------- jobs

function jobBody() {
  const analysis = analysisOf(S.mode);
  let params = { ...S.geometry[S.mode] };
  if (S.mode.startsWith("virtual:")) params = { shape: S.mode.slice(8), ...params };
  if (S.mode === "masks") {
    if (!S.maskId) return null;
    params = { masks: S.maskId };
  }
  if (S.mode === "virtual:polygon" && !editor.shape.closed) return null;
  const fields = MODE_FIELDS[S.mode].filter((f) => f !== "masks");
  if (fields.length) params = { ...(params.shape ? { shape: params.shape } : {}), ...pick(params, fields) };
  const body = { dataset: cfg.dataset.id, analysis, params };
  const roi = roiTool.roi();
  if (roi && analysis !== "pick") body.roi = roi;
  return body;
}

function pick(obj, keys) {
  return Object.fromEntries(keys.filter((k) => obj[k] !== undefined).map((k) => [k, obj[k]]));
}

function scheduleRun() {
  clearTimeout(S.timer);
  if (!$("auto-run").checked) return;
  S.timer = setTimeout(runJob, DEBOUNCE_MS);
}

async function runJob() {
  clearTimeout(S.timer);
  const body = jobBody();
  if (!body) return;
  const seq = ++S.seq;
  const previous = S.job;
  if (previous && !TERMINAL.has(previous.status)) {
    previous.replaced = true;
    jobApi.cancel(previous.id).catch(() => {}); // it may just have finished: nothing to do
  }
  closeSocket();
  setJobState("submitting", "Starting a job…");
  const releaseAt = S.releaseAt;
  S.releaseAt = null;
  let created;
  try {
    created = await jobApi.submit(body);
  } catch (err) {
    if (seq === S.seq) showRefusal(err);
    return;
  }
  if (seq !== S.seq) { // a newer edit came in while this one was being submitted
    jobApi.cancel(created.id).catch(() => {});
    return;
  }
  const job = { ...body, id: created.id, status: "queued", submittedAt: performance.now(), releaseAt };
  if (releaseAt) job.submitMs = job.submittedAt - releaseAt; // debounce + POST round trip
  startWatching(job, created.ws);
}

function startWatching(job, wsPath) {
  S.job = job;
  job.results = null;
  showMessage("");
  setJobState(job.status);
  setProgress(job, job.frames_done || 0, job.frames_total || 0);
  prepareResultSelect(job);
  renderDownloads($("downloads"), null, []);
  updateSnippet();
  S.socket = new JobSocket(wsPath || `/ws/jobs/${job.id}/`, {
    onMessage: (msg) => jobMessage(job, msg),
    onPartial: (header, values) => jobPartial(job, header, values),
    onState: (state, wait) => socketState(job, state, wait),
    onReconnect: (again) => again && catchUp(job), // the server's status message covers the first
  });
}

function closeSocket() {
  if (S.socket) S.socket.close();
  S.socket = null;
}

function jobMessage(job, msg) {
  if (job !== S.job) return;
  // On (re)connect the server sends the whole job as a "status" message: it may be final.
  const kind = msg.type === "status" && TERMINAL.has(msg.status) ? msg.status : msg.type;
  if (msg.type === "status" && msg.progress) setProgress(job, msg.progress.done, msg.progress.total, msg);
  if (kind === "progress") setProgress(job, msg.done, msg.total, msg);
  else if (kind === "status") setJobState(msg.status || "running");
  else if (kind === "finished") finish(job, msg);
  else if (kind === "failed") fail(job, msg.error);
  else if (kind === "cancelled") cancelled(job);
}

function jobPartial(job, header, values) {
  if (job !== S.job || job.finalShown) return;
  const [h, w] = header.shape;
  if (values.length !== h * w) return; // a frame we cannot lay out: wait for the final result
  if (header.done !== undefined) setProgress(job, header.done, header.total);
  showArray(targetView(job, header.name), { shape: [h, w], values });
  if (job.releaseAt && job.firstImageMs === undefined) job.firstImageMs = performance.now() - job.releaseAt;
}

function socketState(job, state, wait) {
  if (job !== S.job) return;
  if (state === "lost") {
    showMessage(`Lost the live connection to the server; reconnecting in ${(wait / 1000).toFixed(1)} s. ` +
      "The job keeps running on the server.", "warn");
  } else if (state === "refused") {
    showMessage("The server refused the live connection to this job (it may have been deleted).", "error");
  } else if (state === "live") {
    showMessage("");
  }
}

/** Re-read the job from the API: after every (re)connect, so nothing sent meanwhile is lost. */
async function catchUp(job) {
  let data;
  try {
    data = await jobApi.get(job.id);
  } catch (err) {
    if (job === S.job) showMessage(`Could not read job ${job.id}: ${err.message}`, "error");
    return;
  }
  if (job !== S.job) return;
  if (TERMINAL.has(data.status)) closeSocket();
  setProgress(job, progressOf(data).done, progressOf(data).total, data);
  if (data.status === "finished") finish(job, data);
  else if (data.status === "failed") fail(job, data.error);
  else if (data.status === "cancelled") cancelled(job);
  else {
    setJobState(data.status);
    if (!job.finalShown) loadPartial(job);
  }
}

function progressOf(data) {
  const p = data.progress || {};
  return { done: p.done ?? data.frames_done ?? 0, total: p.total ?? data.frames_total ?? 0 };
}

async function loadPartial(job) {
  const spec = cfg.analyses.find((a) => a.name === job.analysis);
  if (!spec) return;
  try {
    const arr = await fetchNpy(`/api/jobs/${job.id}/partial/${spec.preview}.npy`);
    if (job === S.job && !job.finalShown) showArray(targetView(job, spec.preview), arr);
  } catch { /* no preview saved yet, or the job just ended: its final result will come */ }
}

async function finish(job, data) {
  job.status = "finished";
  setJobState("finished");
  if (job.finishing) return;
  job.finishing = true;
  if (!data || !data.results) data = await jobApi.get(job.id).catch(() => ({}));
  if (job !== S.job) return;
  const total = data.total ?? progressOf(data).total;
  if (total) setProgress(job, total, total, data);
  job.results = resultsOf(job, data);
  if (data.throughput_gbs === undefined) { // the server's own measure of the finished run
    jobApi.get(job.id).then((d) => job === S.job && setProgress(job, total || progressOf(d).total, total || progressOf(d).total, d)).catch(() => {});
  }
  renderDownloads($("downloads"), job.id, job.results);
  updateSnippet();
  await showSelectedResult(job);
  job.finalShown = true;
  reportTiming(job);
}

function resultsOf(job, data) {
  if (Array.isArray(data.results) && data.results.length) {
    return data.results.map((r) => (typeof r === "string" ? { name: r } : r));
  }
  const spec = cfg.analyses.find((a) => a.name === job.analysis);
  return spec ? spec.results.map((r) => ({ name: r.name })) : [];
}

function fail(job, error) {
  job.status = "failed";
  setJobState("failed");
  showMessage(`The job failed: ${error || "no reason was given"}. Change the parameters to try again.`, "error");
}

function cancelled(job) {
  job.status = "cancelled";
  setJobState("cancelled");
  if (!job.replaced) showMessage("The job was cancelled before it finished; the image shows what was done.", "warn");
}

function showRefusal(err) {
  setJobState("refused", "not started");
  const fields = Object.entries(err.fields || {}).map(([k, v]) => `${k}: ${v}`).join("; ");
  const prefix = err.status === 0 ? "" : "The server did not start the job: ";
  showMessage(`${prefix}${err.message}${fields && !err.message.includes(fields) ? ` (${fields})` : ""}`, "error");
}

function reportTiming(job) {
  if (!job.releaseAt) return;
  const finalMs = performance.now() - job.releaseAt;
  const entry = {
    job: job.id, analysis: job.analysis, submitMs: job.submitMs,
    firstImageMs: job.firstImageMs ?? finalMs, finalMs, partialSeen: job.firstImageMs !== undefined,
  };
  window.__analysisTimings.push(entry);
  performance.mark("job-final-image");
  console.log(`[timing] job ${job.id}: release→submitted ${entry.submitMs.toFixed(0)} ms, ` +
    `→first image ${entry.firstImageMs.toFixed(0)} ms, →final ${finalMs.toFixed(0)} ms`);
}

// ---------------------------------------------------------------- results on screen

function targetView(job, name) {
  const spec = cfg.analyses.find((a) => a.name === job.analysis);
  const result = spec && spec.results.find((r) => r.name === name);
  const sig = result ? result.shape === "sig" : !SCAN_ANALYSES.has(job.analysis);
  if (sig) {
    S.detector = "result";
    $("detector-source").textContent = `${job.analysis} job ${job.id}: ${name}`;
    $("show-mean").hidden = !S.mean;
  }
  return sig ? detectorView : scanView;
}

function showArray(view, arr) {
  if (arr.shape.length === 3) {
    arr = S.channelIndex < 0 ? channelSum(arr) : channel(arr, Math.min(S.channelIndex, arr.shape[2] - 1));
  }
  view.setArray(arr);
}

function prepareResultSelect(job) {
  const spec = cfg.analyses.find((a) => a.name === job.analysis);
  const names = spec ? spec.results.map((r) => r.name) : [];
  if (job.analysis === "com") names.push("field");
  const select = $("result-select");
  select.innerHTML = names.map((n) => `<option value="${n}">${n === "field" ? "field (colour wheel)" : n}</option>`).join("");
  select.value = spec ? spec.preview : names[0];
  $("result-choice").hidden = names.length < 2;
  $("channel-controls").hidden = !(spec && spec.results.some((r) => r.shape.startsWith("nav+")));
  $("wheel-legend").hidden = true;
}

async function showSelectedResult(job) {
  const name = $("result-select").value;
  try {
    if (name === "field") return await showField(job);
    $("wheel-legend").hidden = true;
    scanControls.setEnabled(true);
    if (job.analysis === "com") scanControls.setColormap(SIGNED.has(name) ? "coolwarm" : "viridis");
    const arr = await resultArray(job, name);
    if (job !== S.job) return;
    showArray(targetView(job, name), arr);
    if (job.analysis === "sum" && name === "mean") S.mean = arr;
    if (job.analysis === "radial" || job.analysis === "masks") updateChannelRange(arr);
  } catch (err) {
    showMessage(err.message, "error");
  }
}

function resultArray(job, name) {
  job.cache = job.cache || {};
  const r = (job.results || []).find((x) => x.name === name);
  const url = (r && r.urls && r.urls.npy) || resultUrl(job.id, name, "npy");
  job.cache[name] = job.cache[name] || fetchNpy(url);
  return job.cache[name];
}

async function showField(job) {
  const [x, y] = await Promise.all([resultArray(job, "x"), resultArray(job, "y")]);
  if (job !== S.job) return;
  const { rgba, magnitude } = comFieldRGBA(x, y);
  const [h, w] = x.shape;
  scanView.setRGB(rgba, w, h, magnitude);
  $("wheel-legend").hidden = false;
  scanControls.setEnabled(false); // the colours are fixed by direction and length
}

function updateChannelRange(arr) {
  const slider = $("channel-index");
  slider.max = String(arr.shape[2] - 1);
  $("channel-label").textContent = S.channelIndex < 0 ? "sum of all" : `${S.channelIndex} of ${arr.shape[2]}`;
}

// ---------------------------------------------------------------- detector view source

async function loadMeanFrame() {
  if (cfg.sum_job) {
    try {
      S.mean = await fetchNpy(resultUrl(cfg.sum_job, "mean", "npy"));
      showMean();
      return;
    } catch (err) {
      showMessage(`The mean frame of job ${cfg.sum_job} could not be loaded (${err.message}); computing it again.`, "warn");
    }
  }
  buildMeanFrame();
}

/** No finished sum job yet: run one (or join the one running) and show the mean build up. */
async function buildMeanFrame() {
  detectorView.setPlaceholder("Computing the mean diffraction pattern…");
  let created = cfg.sum_job_running ? { id: cfg.sum_job_running } : null;
  try {
    created = created || await jobApi.submit({ dataset: cfg.dataset.id, analysis: "sum", params: {} });
  } catch (err) {
    detectorView.setPlaceholder(`The mean diffraction pattern could not be computed: ${err.message}`);
    return;
  }
  let loading = false;
  const done = async () => {
    socket.close();
    if (loading) return;
    loading = true;
    try {
      S.mean = await fetchNpy(resultUrl(created.id, "mean", "npy"));
      if (S.detector === "mean") showMean();
    } catch (err) {
      detectorView.setPlaceholder(`The mean frame could not be loaded: ${err.message}`);
    }
  };
  const socket = new JobSocket(created.ws || `/ws/jobs/${created.id}/`, {
    onPartial: (header, values) => {
      if (S.detector !== "mean" || S.mean || values.length !== header.shape[0] * header.shape[1]) return;
      if (header.name !== "mean" && header.name !== "sum") return;
      detectorView.setArray({ shape: header.shape, values });
      $("detector-source").textContent = `mean frame (building: ${header.done ?? "?"} of ${header.total ?? "?"} frames)`;
    },
    onMessage: (msg) => {
      const kind = msg.type === "status" ? msg.status : msg.type;
      if (kind === "finished") done();
      else if (kind === "failed") detectorView.setPlaceholder(`Computing the mean frame failed: ${msg.error}`);
    },
  });
}

function showMean() {
  S.detector = "mean";
  $("show-mean").hidden = true;
  if (!S.mean) return;
  detectorView.setArray(S.mean);
  $("detector-source").textContent = "mean frame of all scan positions";
}

async function pickAt(pt) {
  const y = Math.round(pt.y), x = Math.round(pt.x);
  if (y < 0 || x < 0 || y >= NAV[0] || x >= NAV[1]) return;
  S.picked = { y, x };
  roiTool.setPicked(S.picked);
  $("detector-source").textContent = `frame at scan row ${y}, column ${x} (loading…)`;
  const t0 = performance.now();
  try {
    const frame = await fetchNpy(`${cfg.urls.frame}?y=${y}&x=${x}`);
    if (!S.picked || S.picked.y !== y || S.picked.x !== x) return; // a newer pick is on its way
    S.detector = "frame";
    detectorView.setArray(frame);
    $("detector-source").textContent = `frame at scan row ${y}, column ${x}`;
    $("show-mean").hidden = !S.mean;
    console.log(`[timing] frame (${y}, ${x}) shown after ${(performance.now() - t0).toFixed(0)} ms`);
  } catch (err) {
    showMessage(err.message, "error");
  }
  if (S.mode === "pick") {
    Object.assign(S.geometry.pick, S.picked);
    form.set(S.picked);
    scheduleRun();
  }
}

// ---------------------------------------------------------------- status on screen

function setJobState(state, text) {
  const el = $("job-state");
  el.className = `job-state state-${state}`;
  el.textContent = text || (S.job ? `job ${S.job.id}: ${state}` : state);
  el.dataset.state = state;
  $("cancel").disabled = !S.job || TERMINAL.has(state) || state === "refused";
}

function setProgress(job, done, total, extra = {}) {
  if (job !== S.job) return;
  const pct = total ? Math.min(100, (100 * done) / total) : 0;
  const bar = $("progress-bar");
  bar.style.width = `${pct}%`;
  bar.parentElement.setAttribute("aria-valuenow", pct.toFixed(0));
  const gbps = throughput(job, done, extra);
  $("progress-text").textContent = total
    ? `${done.toLocaleString()} / ${total.toLocaleString()} frames (${pct.toFixed(0)} %)${gbps ? ` · ${gbps} GB/s` : ""}`
    : "";
}

function throughput(job, done, extra) {
  if (extra.throughput_gbs) return Number(extra.throughput_gbs).toFixed(2); // the server measured it
  if (!job.submittedAt || !done) return "";
  const seconds = (performance.now() - job.submittedAt) / 1000;
  return seconds > 0 ? ((done * cfg.dataset.frame_bytes) / seconds / 1e9).toFixed(2) : "";
}

function showMessage(text, kind = "info") {
  const el = $("message");
  el.textContent = text;
  el.className = `an-message ${text ? kind : ""}`;
}

function updateSnippet() {
  const body = S.job ? pick(S.job, ["dataset", "analysis", "params", "roi"]) : jobBody();
  if (!body) return;
  const spec = cfg.analyses.find((a) => a.name === body.analysis);
  $("python-code").textContent = pythonSnippet(cfg.origin, body, spec ? spec.results.map((r) => r.name) : []);
}

// ---------------------------------------------------------------- start-up

async function restoreLastJob() {
  let jobs = [];
  try {
    jobs = jobsOf(await jobApi.list(cfg.dataset.id));
  } catch { /* no history: start fresh */ }
  const last = jobs.find((j) => SCAN_ANALYSES.has(j.analysis) && j.analysis !== "masks");
  if (!last) return false;
  const mode = last.analysis === "virtual" ? `virtual:${last.params.shape}` : last.analysis;
  const { shape, ...values } = last.params;
  S.geometry[mode] = { ...initialValues(mode), ...values };
  setMode(mode, { run: false });
  if (last.roi && last.roi.shape) {
    roiTool.setRoi(last.roi);
    $("roi-text").textContent = describeRoi(last.roi);
    $("roi-clear").disabled = false;
  }
  startWatching({ ...last, params: last.params }, last.ws);
  return true;
}

function bindControls() {
  $("analysis-select").addEventListener("change", (e) => setMode(e.target.value));
  $("run").addEventListener("click", () => { S.releaseAt = performance.now(); runJob(); });
  $("cancel").addEventListener("click", () => S.job && jobApi.cancel(S.job.id).catch((e) => showMessage(e.message, "error")));
  $("show-mean").addEventListener("click", showMean);
  $("result-select").addEventListener("change", () => S.job && S.job.results && showSelectedResult(S.job));
  $("roi-kind").addEventListener("change", (e) => { roiTool.kind = e.target.value; });
  $("roi-draw").addEventListener("click", (e) => {
    roiTool.armed = !roiTool.armed;
    e.target.setAttribute("aria-pressed", String(roiTool.armed));
  });
  $("roi-clear").addEventListener("click", () => roiTool.clear());
  $("channel-index").addEventListener("input", (e) => {
    S.channelIndex = Number(e.target.value);
    if (S.job && S.job.results) showSelectedResult(S.job);
  });
  $("polygon-restart").addEventListener("click", () => editor.restartPolygon());
  $("mask-file").addEventListener("change", uploadMask);
  $("copy-python").addEventListener("click", async () => {
    const ok = await copyText($("python-code").textContent, $("python-code"));
    $("copy-python").textContent = ok ? "Copied" : "Select and copy the text below";
  });
  drawWheel($("wheel-legend"));
}

async function uploadMask(e) {
  const file = e.target.files[0];
  if (!file) return;
  $("mask-info").textContent = `uploading ${file.name}…`;
  try {
    const mask = await jobApi.uploadMask(cfg.dataset.id, file);
    S.maskId = mask.id;
    $("mask-info").textContent = `${file.name}: ${mask.shape.join(" × ")}`;
    scheduleRun();
  } catch (err) {
    $("mask-info").textContent = "";
    showMessage(`The mask was refused: ${err.message}`, "error");
  }
}

async function start() {
  bindControls();
  setJobState("idle", "no job yet");
  roiChanged(null);
  clearTimeout(S.timer); // roiChanged scheduled a run; the start-up decides below
  const restored = await restoreLastJob();
  if (!restored) setMode("virtual:ring");
  loadMeanFrame();
}

start();
