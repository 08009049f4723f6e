// The analysis page: a detector view with draggable detector shapes on the left, the live
// scan image of the current job on the right. Every finished edit of a shape (or a
// parameter, or the scan ROI) replaces the running job with a new one after a short pause,
// so dragging a detector feels live; the websocket streams progress and partial images.

import { fetchNpy } from "./npy.js";
import { ImageView } from "./imageview.js";
import { displayControls } from "./displaycontrols.js";
import { ShapeEditor } from "./shapes.js";
import { RoiTool } from "./roi.js";
import { JobSocket, TERMINAL, jobApi, jobsOf } from "./jobclient.js";
import { paramsForm } from "./paramsform.js";
import { MODE_HELP, SCAN_ANALYSES, analysisOf, initialValues, jobParams, modeOfJob, pick, shapeOf } from "./modes.js";
import { copyText, pythonSnippet, renderDownloads } from "./resultspanel.js";
import { drawWheel } from "./comfield.js";
import { loadMeanFrame } from "./meanframe.js";
import { refusalText, showJobState, showMessage, showProgress } from "./jobstatus.js";
import { ResultView } from "./resultview.js";

const DEBOUNCE_MS = 150;

const cfg = JSON.parse(document.getElementById("analysis-config").textContent);
const $ = (id) => document.getElementById(id);
const SIG = cfg.dataset.sig_shape;
const NAV = cfg.dataset.nav_shape.length === 1 ? [1, cfg.dataset.nav_shape[0]] : cfg.dataset.nav_shape;

const S = {
  mode: "virtual:ring",
  geometry: {}, // remembered per mode, so switching back restores the shape
  job: null, // {id, analysis, params, roi, status, ...} of the result shown
  socket: null,
  seq: 0, // submissions; an older submission's answer is ignored
  timer: null,
  mean: null, // the mean frame once known
  picked: null,
  maskId: null,
  releaseAt: null, // performance.now() of the last edit, for the timing report
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
const results = new ResultView({
  analyses: cfg.analyses, detectorView, scanView, scanControls,
  onDetectorResult: (label) => showDetectorSource(label, "result"),
});
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
  S.geometry[mode] = S.geometry[mode] || initialValues(mode, SIG, NAV, S.picked);
  const values = S.geometry[mode];
  form = paramsForm($("params"), { analyses: cfg.analyses, mode, values, onInput: formChanged });
  editor.setShape(shapeOf(mode), values);
  $("masks-upload").hidden = mode !== "masks";
  $("polygon-restart").hidden = mode !== "virtual:polygon";
  $("mode-help").textContent = MODE_HELP[mode] || "";
  if (run) scheduleRun();
}

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
  if (shapeOf(S.mode)) editor.setShape(shapeOf(S.mode), S.geometry[S.mode]);
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
  if (S.mode === "virtual:polygon" && !editor.shape.closed) return null;
  const params = jobParams(S.mode, S.geometry[S.mode], { maskId: S.maskId });
  if (!params) return null;
  const analysis = analysisOf(S.mode);
  const body = { dataset: cfg.dataset.id, analysis, params };
  const roi = roiTool.roi();
  if (roi && analysis !== "pick") body.roi = roi;
  return body;
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
  showJobState("submitting", "Starting a job…", previous && previous.id);
  const releaseAt = S.releaseAt;
  S.releaseAt = null;
  let created;
  try {
    created = await jobApi.submit(body);
  } catch (err) {
    if (seq === S.seq) {
      showJobState("refused", "not started");
      showMessage(refusalText(err), "error");
    }
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
  setState(job, job.status);
  setProgress(job, 0, (job.progress && job.progress.total) || 0);
  results.prepare(job);
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

function setState(job, state) {
  if (job === S.job) showJobState(state, null, job.id);
}

function setProgress(job, done, total, data = {}) {
  if (job !== S.job) return;
  showProgress(done, total, {
    serverGbs: data.throughput_gbs, startedAt: job.submittedAt, frameBytes: cfg.dataset.frame_bytes,
  });
}

function jobMessage(job, msg) {
  if (job !== S.job) return;
  // On (re)connect the server sends the whole job as a "status" message: it may be final.
  const kind = msg.type === "status" && TERMINAL.has(msg.status) ? msg.status : msg.type;
  if (msg.type === "status" && msg.progress) setProgress(job, msg.progress.done, msg.progress.total, msg);
  if (kind === "progress") setProgress(job, msg.done, msg.total, msg);
  else if (kind === "status") setState(job, msg.status || "running");
  else if (kind === "finished") finish(job, msg);
  else if (kind === "failed") fail(job, msg.error);
  else if (kind === "cancelled") cancelled(job);
}

function jobPartial(job, header, values) {
  if (job !== S.job || job.finalShown) return;
  const [h, w] = header.shape;
  if (values.length !== h * w) return; // an image we cannot lay out: wait for the final result
  if (header.done !== undefined) setProgress(job, header.done, header.total);
  results.show(results.target(job, header.name), { shape: [h, w], values });
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

/** Re-read the job from the API after a reconnect: the database is the truth. */
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
  setProgress(job, data.progress.done, data.progress.total, data);
  if (data.status === "finished") finish(job, data);
  else if (data.status === "failed") fail(job, data.error);
  else if (data.status === "cancelled") cancelled(job);
  else {
    setState(job, data.status);
    loadPartial(job);
  }
}

async function loadPartial(job) {
  const preview = results.spec(job).preview;
  try {
    const arr = await fetchNpy(`/api/jobs/${job.id}/partial/${preview}.npy`);
    if (job === S.job && !job.finalShown) results.show(results.target(job, preview), arr);
  } catch { /* no preview saved yet, or the job just ended: its final result will come */ }
}

async function finish(job, data) {
  job.status = "finished";
  setState(job, "finished");
  if (job.finishing) return;
  job.finishing = true;
  if (!data.results) data = await jobApi.get(job.id).catch(() => ({}));
  if (job !== S.job) return;
  const total = data.total ?? (data.progress && data.progress.total);
  if (total) setProgress(job, total, total, data);
  if (data.throughput_gbs === undefined) { // the finished message lacks the server's GB/s
    jobApi.get(job.id).then((d) => setProgress(job, d.progress.done, d.progress.total, d)).catch(() => {});
  }
  job.results = data.results || [];
  renderDownloads($("downloads"), job.id, job.results);
  updateSnippet();
  await showResult(job);
  job.finalShown = true;
  reportTiming(job);
}

async function showResult(job) {
  try {
    const arr = await results.showSelected(job, () => job === S.job);
    if (arr && job.analysis === "sum" && $("result-select").value === "mean") S.mean = arr;
  } catch (err) {
    showMessage(err.message, "error");
  }
}

function fail(job, error) {
  job.status = "failed";
  setState(job, "failed");
  showMessage(`The job failed: ${error || "no reason was given"}. Change the parameters to try again.`, "error");
}

function cancelled(job) {
  job.status = "cancelled";
  setState(job, "cancelled");
  if (!job.replaced) showMessage("The job was cancelled before it finished; the image shows what was done.", "warn");
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

function updateSnippet() {
  const body = S.job ? pick(S.job, ["dataset", "analysis", "params", "roi"]) : jobBody();
  if (!body) return;
  const spec = cfg.analyses.find((a) => a.name === body.analysis);
  $("python-code").textContent = pythonSnippet(cfg.origin, body, spec ? spec.results.map((r) => r.name) : []);
}

// ---------------------------------------------------------------- the detector view's image

/** What the detector view shows: the mean frame, a picked frame, or a sum/pick result. */
function showDetectorSource(label, kind) {
  S.detector = kind;
  $("detector-source").textContent = label;
  $("show-mean").hidden = kind === "mean" || !S.mean;
}

function showMean() {
  if (!S.mean) return;
  detectorView.setArray(S.mean);
  showDetectorSource("mean frame of all scan positions", "mean");
}

function startMeanFrame() {
  S.detector = "mean";
  loadMeanFrame(cfg, {
    onPartial: (arr, done, total) => {
      if (S.detector !== "mean" || S.mean) return;
      detectorView.setArray(arr);
      $("detector-source").textContent = `mean frame (building: ${done} of ${total} frames)`;
    },
    onMean: (arr) => {
      S.mean = arr;
      if (S.detector === "mean") showMean();
    },
    onError: (text) => detectorView.setPlaceholder(text),
  });
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
    if (S.picked.y !== y || S.picked.x !== x) return; // a newer pick is on its way
    detectorView.setArray(frame);
    showDetectorSource(`frame at scan row ${y}, column ${x}`, "frame");
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

// ---------------------------------------------------------------- start-up

/** Show the dataset's latest scan job again (a reload, or coming back later). */
async function restoreLastJob() {
  let jobs = [];
  try {
    jobs = jobsOf(await jobApi.list(cfg.dataset.id));
  } catch { /* no history: start fresh */ }
  const last = jobs.find((j) => SCAN_ANALYSES.has(j.analysis) && j.analysis !== "masks");
  if (!last) return false;
  const { mode, values } = modeOfJob(last);
  S.geometry[mode] = { ...initialValues(mode, SIG, NAV), ...values };
  setMode(mode, { run: false });
  if (last.roi && last.roi.shape) {
    roiTool.setRoi(last.roi);
    $("roi-text").textContent = describeRoi(last.roi);
    $("roi-clear").disabled = false;
  }
  startWatching({ ...last }, last.ws);
  return true;
}

function bindControls() {
  $("analysis-select").addEventListener("change", (e) => setMode(e.target.value));
  $("run").addEventListener("click", () => { S.releaseAt = performance.now(); runJob(); });
  $("cancel").addEventListener("click", () => S.job && jobApi.cancel(S.job.id).catch((e) => showMessage(e.message, "error")));
  $("show-mean").addEventListener("click", showMean);
  $("result-select").addEventListener("change", () => S.job && S.job.results && showResult(S.job));
  $("roi-kind").addEventListener("change", (e) => { roiTool.kind = e.target.value; });
  $("roi-draw").addEventListener("click", (e) => {
    roiTool.armed = !roiTool.armed;
    e.target.setAttribute("aria-pressed", String(roiTool.armed));
  });
  $("roi-clear").addEventListener("click", () => roiTool.clear());
  $("channel-index").addEventListener("input", (e) => {
    results.channelIndex = Number(e.target.value);
    if (S.job && S.job.results) showResult(S.job);
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
  showJobState("idle", "no job yet");
  $("roi-text").textContent = "whole scan";
  const restored = await restoreLastJob();
  if (!restored) setMode("virtual:ring");
  startMeanFrame();
}

start();
