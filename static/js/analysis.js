// The analysis page: a detector view with draggable detector shapes on the left, the live
// scan image of the current job on the right. Every finished edit of a shape (or a
// parameter, or the scan ROI) replaces the running job with a new one: at once when the mouse
// lets go of a shape, after a short pause for typing and key nudges, so dragging a detector
// feels live; one websocket, open from the start, follows each new job and streams its
// progress and partial images (no job waits for a handshake).

import { fetchNpy } from "./npy.js";
import { ImageView } from "./imageview.js";
import { displayControls } from "./displaycontrols.js";
import { ShapeEditor } from "./shapes.js";
import { RoiTool } from "./roi.js";
import { JobFeed, TERMINAL, createToken, jobApi, jobsOf, refusedText } from "./jobclient.js";
import { paramsForm } from "./paramsform.js";
import { fillMenu, initialValues, jobParams, menuModes, modeByKey, modeOfJob, pick, shapeOf } from "./modes.js";
import { copyText, renderDownloads } from "./resultspanel.js";
import { pythonSnippet } from "./pysnippet.js";
import { bindNotebookSave } from "./notebook.js";
import { drawWheel } from "./comfield.js";
import { loadMeanFrame } from "./meanframe.js";
import { failureText, refusalText, showJobState, showMessage, showProgress } from "./jobstatus.js";
import { ResultView } from "./resultview.js";
import { ProfilePlot } from "./profileplot.js";
import { MaskOverlay, bindMaskUpload } from "./maskoverlay.js";
import { HistoryStrip } from "./history.js";
import { calibrateViews } from "./calibratedviews.js";
import { physicalParams } from "./units.js";
import { showCorrections } from "./comcorrections.js";
import { ScanSlices } from "./scanslice.js";

// Typing a number and nudging with keys come as bursts of edits: one job for the burst. A
// mouse release is the end of its drag, and submits without waiting (docs/performance.md).
const DEBOUNCE_MS = 150;

const cfg = JSON.parse(document.getElementById("analysis-config").textContent);
const $ = (id) => document.getElementById(id);
const SIG = cfg.dataset.sig_shape;
// the last two scan axes; a scan of more axes shows one slice of them at a time
const NAV = cfg.dataset.nav_shape.length === 1 ? [1, cfg.dataset.nav_shape[0]] : cfg.dataset.nav_shape.slice(-2);
const slices = new ScanSlices(cfg.dataset.nav_shape, {
  input: $("scan-slice"), label: $("slice-label"), box: $("slice-controls"), onChange: () => results.reshow(),
});
const MODES = menuModes(cfg.analyses, cfg.dataset.calibrated); // the menu, from the Core's declarations
const FIRST_MODE = "virtual:ring";
const modeOf = (key) => modeByKey(MODES, key);

const S = {
  mode: FIRST_MODE, // the key of the chosen menu entry
  geometry: {}, // remembered per mode, so switching back restores the shape
  job: null, // {id, analysis, params, roi, status, ...} of the result shown
  feed: new JobFeed(), // follows the job shown
  seq: 0, // submissions; an older submission's answer is ignored
  timer: null,
  mean: null, // the mean frame once known
  picked: null,
  maskId: null,
  releaseAt: null, // performance.now() of the last edit, for the timing report
  submitting: Promise.resolve(), // the submission under way
};
window.__analysisTimings = []; // release -> first / final image per job, read by the browser tests

// ---------------------------------------------------------------- views and controls

const detectorView = new ImageView($("detector-view"));
// NaN in a scan result marks a position the job did not read: outside the scan ROI
const scanView = new ImageView($("scan-view"), { onClick: pickAt, nanText: "outside ROI" });
// diffraction patterns span orders of magnitude: log scale by default on the detector
displayControls($("detector-display"), detectorView, { cmap: "inferno", log: true });
const scanControls = displayControls($("scan-display"), scanView, { cmap: "viridis" });
const editor = new ShapeEditor(detectorView, { onChange: shapeChanged });
const roiTool = new RoiTool(scanView, {
  onChange: roiChanged,
  onPick: pickAt,
  onArmed: (on) => $("roi-draw").setAttribute("aria-pressed", String(on)),
});
const results = new ResultView({
  analyses: cfg.analyses, detectorView, scanView, scanControls,
  onDetectorResult: (label) => showDetectorSource(label, "result"),
  // a click on a profile's point shows that bin's image
  plot: new ProfilePlot($("result-plot"), { onPick: (k) => showChannel(k) }),
  picked: () => S.picked || { y: Math.floor(NAV[0] / 2), x: Math.floor(NAV[1] / 2) },
  pixelSize: cfg.dataset.pixel_size, dtype: cfg.dataset.dtype, calibrated: cfg.dataset.calibrated,
  slices,
});
const maskOverlay = new MaskOverlay(detectorView);
calibrateViews({ scanView, detectorView, pixelSize: cfg.dataset.pixel_size, dtype: cfg.dataset.dtype, centre: beamCentre });
detectorView.tool = editor;
scanView.tool = roiTool;
detectorView.setPlaceholder("Loading the mean diffraction pattern…");
scanView.setPlaceholder("The scan image appears here when a job runs.");
let form = null;
const history = new HistoryStrip($("history"), {
  cfg, canRestore: (job) => Boolean(restorable(job)), onRestore: restoreJob,
});
// A handle for the browser tests and the devtools console; the page does not use it.
window.__analysisPage = { state: S, detectorView, scanView, editor, roiTool, results, history };

function setMode(key, { run = true } = {}) {
  const mode = modeOf(key);
  S.mode = key;
  $("analysis-select").value = key;
  S.geometry[key] = S.geometry[key] || initialValues(mode, SIG, NAV, S.picked);
  const values = S.geometry[key];
  form = paramsForm($("params"), { mode, values, onInput: formChanged });
  editor.setShape(shapeOf(mode), values);
  detectorView.tool = mode.widget === "mask-upload" ? maskOverlay : editor;
  detectorView.draw();
  $("masks-upload").hidden = mode.widget !== "mask-upload";
  $("polygon-restart").hidden = mode.widget !== "polygon";
  $("mode-help").textContent = mode.plugin ? `${mode.help} (plugin ${mode.plugin})`.trim() : mode.help;
  showPhysicalParams();
  if (run) scheduleRun();
}

/** The shape's lengths (radii, widths) in mrad or 1/nm too, where the detector is calibrated. */
function showPhysicalParams() {
  const size = cfg.dataset.pixel_size && cfg.dataset.pixel_size.detector;
  $("params-physical").textContent = physicalParams(modeOf(S.mode).params, S.geometry[S.mode] || {}, size);
}

/** Where detector read-outs measure angles from: the shape's centre, else the frame's. */
function beamCentre() {
  const v = S.geometry[S.mode] || {};
  if (Number.isFinite(v.cx) && Number.isFinite(v.cy)) return { cy: v.cy, cx: v.cx, label: "the shape's centre" };
  return { cy: (SIG[0] - 1) / 2, cx: (SIG[1] - 1) / 2, label: "the frame's centre" };
}

function shapeChanged(values, final, released) {
  Object.assign(S.geometry[S.mode], values);
  form.set(values);
  showPhysicalParams();
  if (final) {
    S.releaseAt = performance.now();
    performance.mark("shape-release");
    // a release submits now (an identical job under way is not started again, see runJob)
    if (released && $("auto-run").checked) runJob();
    else scheduleRun();
  } else {
    clearTimeout(S.timer); // a drag under way: the run waits for its release
  }
}

function formChanged(values) {
  Object.assign(S.geometry[S.mode], values);
  const shape = shapeOf(modeOf(S.mode));
  if (shape) editor.setShape(shape, S.geometry[S.mode]); // e.g. the radial bins are drawn
  showPhysicalParams();
  S.releaseAt = performance.now();
  scheduleRun();
}

/** Take a finished job's guessed corrections into the form and run again. */
function adopt(values) {
  form.set(values);
  formChanged(values);
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
  const mode = modeOf(S.mode);
  if (mode.widget === "polygon" && !editor.shape.closed) return null;
  const params = jobParams(mode, S.geometry[S.mode], { maskId: S.maskId });
  if (!params) return null;
  const body = { dataset: cfg.dataset.id, analysis: mode.analysis, params };
  const roi = roiTool.roi();
  // a position clicked on the scan is read whether or not it lies in the scan ROI
  if (roi && mode.widget !== "scan-point") body.roi = roi;
  return body;
}

function scheduleRun() {
  clearTimeout(S.timer);
  if (!$("auto-run").checked) return;
  S.timer = setTimeout(runJob, DEBOUNCE_MS);
}

/** Submit a job for the page's parameters. A scheduled run (``force`` false) is skipped when the
 * current job already computes exactly these: a release can come after a run its drag started. */
async function runJob({ force = false } = {}) {
  clearTimeout(S.timer);
  const body = jobBody();
  if (!body) return;
  if (!force && sameRequest(S.job, body)) return;
  const seq = ++S.seq;
  // One submission at a time, so that each names the job it replaces: the server cancels that
  // one and files it under the new job, and the steps of a drag fold away in the lists.
  await S.submitting;
  if (seq !== S.seq) return; // a newer edit came in meanwhile: it submits instead
  const previous = S.job;
  if (previous && !TERMINAL.has(previous.status) && isMine(previous)) {
    previous.replaced = true;
    body.replaces = previous.id;
  }
  stopFollowing();
  showJobState("submitting", "Starting a job…", previous && previous.id);
  const releaseAt = S.releaseAt;
  S.releaseAt = null;
  S.submitting = submitJob(body, seq, releaseAt);
}

/** Whether ``job`` (running or finished, not stale) was submitted with ``body``. */
function sameRequest(job, body) {
  if (!job || job.stale || job.replaced || ["failed", "cancelled"].includes(job.status)) return false;
  const key = (b) => JSON.stringify([b.dataset, b.analysis, b.params, b.roi || null]);
  return key(job) === key(body);
}

/** POST the job; resolves (never rejects) once ``S.job`` is the new job or the error shows. */
async function submitJob(body, seq, releaseAt) {
  let created;
  try {
    created = await jobApi.submit(body);
  } catch (err) {
    if (seq !== S.seq) return;
    if (err.status === 0) return retryLater(); // the server is away (down, restarting)
    showJobState("refused", "not started");
    showMessage(refusalText(err), "error");
    return;
  }
  S.retryMs = 0;
  const job = { ...body, id: created.id, status: "queued", submittedAt: performance.now(), releaseAt };
  delete job.replaces;
  if (seq !== S.seq) { // a newer edit is waiting for this answer: it replaces this job
    S.job = { ...job, stale: true };
    return;
  }
  if (releaseAt) job.submitMs = job.submittedAt - releaseAt; // debounce + POST round trip
  startWatching(job);
}

/** Jobs this page started, or the viewer's own from the list (not another user's shared job). */
function isMine(job) {
  return !job.owner || job.owner === cfg.user;
}

/** Submit again after a pause that doubles from 1 s to 8 s, until the server answers; a new
 * edit meanwhile submits at once (scheduleRun clears the timer). */
function retryLater() {
  S.retryMs = Math.min(2 * (S.retryMs || 500), 8000);
  showJobState("waiting", "waiting for the server");
  showMessage(`The server cannot be reached; trying again in ${S.retryMs / 1000} s.`, "warn");
  clearTimeout(S.timer);
  S.timer = setTimeout(() => runJob({ force: true }), S.retryMs);
}

function startWatching(job) {
  S.job = job;
  history.setCurrent(job.id);
  job.results = null;
  showMessage("");
  setState(job, job.status);
  setProgress(job, 0, (job.progress && job.progress.total) || 0);
  results.prepare(job);
  $("com-corrections").hidden = true;
  renderDownloads($("downloads"), null, []);
  updateSnippet();
  S.feed.follow(job.id, {
    onMessage: (msg) => jobMessage(job, msg),
    onPartial: (header, values) => jobPartial(job, header, values),
    onState: (state, detail) => socketState(job, state, detail),
    onReconnect: (again) => again && catchUp(job), // the server's status message covers the first
  });
}

function stopFollowing() {
  S.feed.stop();
}

function setState(job, state) {
  if (job === S.job) showJobState(state, null, job.id);
}

function setProgress(job, done, total, data = {}) {
  if (job !== S.job) return;
  const found = modeOfJob(MODES, job);
  showProgress(done, total, {
    serverGbs: data.throughput_gbs, startedAt: job.submittedAt, frameBytes: cfg.dataset.frame_bytes,
    // a job that reads one scan position reports the frames of its partition
    position: found && found.mode.widget === "scan-point" ? job.params : null,
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
  if (job !== S.job || job.finalShown || header.name !== results.liveName(job)) return;
  const [h, w] = header.shape;
  if (values.length !== h * w) return; // an image we cannot lay out: wait for the final result
  if (header.done !== undefined) setProgress(job, header.done, header.total);
  results.show(job, header.name, { shape: [h, w], values });
  if (job.releaseAt && job.firstImageMs === undefined) job.firstImageMs = performance.now() - job.releaseAt;
}

function socketState(job, state, detail) {
  if (job !== S.job) return;
  if (state === "lost") {
    showMessage(`Lost the live connection to the server; reconnecting in ${(detail / 1000).toFixed(1)} s. ${
      cfg.jobs_outlive_restart ? "The job keeps running on the server."
        : "If the server was restarted, the job stopped with it (here jobs run inside the portal's own process); the page will say so."}`,
    "warn");
  } else if (state === "refused") {
    showMessage(refusedText(detail), "error");
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
  if (TERMINAL.has(data.status)) stopFollowing();
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
  const preview = results.liveName(job);
  try {
    const arr = await fetchNpy(`/api/jobs/${job.id}/partial/${preview}.npy`);
    if (job === S.job && !job.finalShown) results.show(job, preview, arr);
  } catch { /* no preview saved yet, or the job just ended: its final result will come */ }
}

async function finish(job, data) {
  job.status = "finished";
  setState(job, "finished");
  if (job.finishing) return;
  job.finishing = true;
  if (data.image && data.imageArray) { // the final image came with the message: no fetch
    job.cache = { ...job.cache, [data.image]: Promise.resolve(data.imageArray) };
  }
  if (!data.results) data = await jobApi.get(job.id).catch(() => ({}));
  if (job !== S.job) return;
  const total = data.total ?? (data.progress && data.progress.total);
  if (total) setProgress(job, total, total, data);
  if (data.throughput_gbs === undefined) { // the finished message lacks the server's GB/s
    jobApi.get(job.id).then((d) => setProgress(job, d.progress.done, d.progress.total, d)).catch(() => {});
  }
  job.results = data.results || [];
  renderDownloads($("downloads"), job.id, job.results);
  showCorrections($("com-corrections"), job, { onAdopt: adopt, isCurrent: () => job === S.job }).catch(() => {});
  updateSnippet();
  await showResult(job);
  job.finalShown = true;
  if (job === S.job) history.refresh();
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
  results.failed(job);
  showMessage(failureText(error), "error");
}

function cancelled(job) {
  job.status = "cancelled";
  setState(job, "cancelled");
  if (job.replaced) return;
  results.cancelled(job);
  showMessage("The job was cancelled before it finished; the image shows what was done.", "warn");
}

function reportTiming(job) {
  // the final image of the job is on the screen (the interactive benchmark reads this mark)
  performance.mark("job-final-image", { detail: { job: job.id } });
  if (!job.releaseAt) return;
  const finalMs = performance.now() - job.releaseAt;
  const entry = {
    job: job.id, analysis: job.analysis, submitMs: job.submitMs,
    firstImageMs: job.firstImageMs ?? finalMs, finalMs, partialSeen: job.firstImageMs !== undefined,
  };
  window.__analysisTimings.push(entry);
  console.debug(`[timing] job ${job.id}: release→submitted ${entry.submitMs.toFixed(0)} ms, ` +
    `→first image ${entry.firstImageMs.toFixed(0)} ms, →final ${finalMs.toFixed(0)} ms`);
}

function updateSnippet() {
  const job = snippetJob();
  if (!job) return;
  const names = job.spec ? job.spec.results.map((r) => r.name) : [];
  $("python-code").textContent = pythonSnippet(cfg.origin, job.body, names, S.token);
}

/** The job on screen (or the one the form describes) for the Python and notebook exports. */
function snippetJob() {
  const body = S.job ? pick(S.job, ["dataset", "analysis", "params", "roi"]) : jobBody();
  return body && { body, spec: cfg.analyses.find((a) => a.name === body.analysis) };
}

function notebookSource() {
  const job = snippetJob();
  return job && { origin: cfg.origin, dataset: cfg.dataset, job: job.body, title: job.spec?.title, token: S.token };
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
  detectorView.exportName = `dataset-${cfg.dataset.id}-mean-frame`;
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
  S.picked = slices.active ? { y, x, slice: slices.index } : { y, x };
  roiTool.setPicked(S.picked);
  results.replot(); // a profile follows the picked position
  $("detector-source").textContent = `frame at scan row ${y}, column ${x} (loading…)`;
  const t0 = performance.now();
  try {
    const at = slices.active ? `&slice=${slices.index}` : "";
    const frame = await fetchNpy(`${cfg.urls.frame}?y=${y}&x=${x}${at}`);
    if (S.picked.y !== y || S.picked.x !== x || (S.picked.slice ?? 0) !== (slices.active ? slices.index : 0)) return;
    detectorView.exportName = `dataset-${cfg.dataset.id}-frame-y${y}-x${x}`;
    detectorView.setArray(frame);
    showDetectorSource(`frame at scan row ${y}, column ${x}`, "frame");
    console.debug(`[timing] frame (${y}, ${x}) shown after ${(performance.now() - t0).toFixed(0)} ms`);
  } catch (err) {
    showMessage(err.message, "error");
  }
  if (modeOf(S.mode).widget === "scan-point") {
    Object.assign(S.geometry[S.mode], S.picked);
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
  const last = jobs.find((j) => { const found = restorable(j); return found && found.mode.scan; });
  return last ? restoreJob(last) : false;
}

/** The mode and values of ``job`` if the page can show its parameters again (not an upload). */
function restorable(job) {
  const found = modeOfJob(MODES, job);
  return found && found.mode.widget !== "mask-upload" ? found : null;
}

/** Put ``job`` back on the page: its mode, parameters and scan ROI, and its stored result
 * (a finished job's image is read, not computed again). */
async function restoreJob(job) {
  const found = restorable(job);
  if (!found) return false;
  clearTimeout(S.timer);
  S.seq++; // an edit's submission under way no longer takes the page over
  await S.submitting;
  if (S.job && S.job.stale && !TERMINAL.has(S.job.status)) jobApi.cancel(S.job.id).catch(() => {});
  const { mode, values } = found;
  S.geometry[mode.key] = { ...initialValues(mode, SIG, NAV), ...values };
  setMode(mode.key, { run: false });
  const roi = job.roi && job.roi.shape ? job.roi : null;
  roiTool.setRoi(roi);
  $("roi-text").textContent = roi ? describeRoi(roi) : "whole scan";
  $("roi-clear").disabled = !roi;
  stopFollowing();
  startWatching({ ...job });
  return true;
}

function bindControls() {
  fillMenu($("analysis-select"), MODES);
  $("analysis-select").addEventListener("change", (e) => setMode(e.target.value));
  $("run").addEventListener("click", () => { S.releaseAt = performance.now(); runJob({ force: true }); });
  $("cancel").addEventListener("click", () => S.job && jobApi.cancel(S.job.id).catch((e) => showMessage(e.message, "error")));
  $("show-mean").addEventListener("click", showMean);
  $("result-select").addEventListener("change", () => S.job && S.job.results && showResult(S.job));
  $("roi-kind").addEventListener("change", (e) => { roiTool.kind = e.target.value; });
  $("roi-draw").addEventListener("click", () => roiTool.setArmed(!roiTool.armed));
  $("roi-clear").addEventListener("click", () => roiTool.clear());
  $("channel-index").addEventListener("input", (e) => showChannel(Number(e.target.value)));
  $("polygon-restart").addEventListener("click", () => editor.restartPolygon());
  bindMaskUpload(maskOverlay, {
    upload: (file) => jobApi.uploadMask(cfg.dataset.id, file),
    onMask: (id) => { S.maskId = id; scheduleRun(); },
    onSelect: (k) => showChannel(k),
    onError: (text) => showMessage(text, "error"),
  });
  $("python-token").addEventListener("click", makeToken);
  bindNotebookSave($("notebook-save"), notebookSource);
  $("copy-python").addEventListener("click", async () => {
    const ok = await copyText($("python-code").textContent, $("python-code"));
    $("copy-python").textContent = ok ? "Copied" : "Select and copy the text below";
  });
  drawWheel($("wheel-legend"));
}

/** One click: a new API token of the user goes into the script (revocable under API tokens). */
async function makeToken() {
  const button = $("python-token");
  button.disabled = true;
  try {
    const token = await createToken(`script from the analysis page of ${cfg.dataset.name}`.slice(0, 100));
    S.token = token.key;
    updateSnippet();
    $("python-token-info").textContent = `Token "${token.name}" is in the script; revoke it under API tokens when done.`;
  } catch (err) {
    button.disabled = false;
    showMessage(`No token was made: ${err.message}`, "error");
  }
}

/** Show channel ``k`` (-1: the sum of all) of the current result. */
function showChannel(k) {
  results.channelIndex = k;
  $("channel-index").value = String(k);
  if (k >= 0 && maskOverlay.stack) { // the drawn mask is the one whose image is shown
    maskOverlay.select(k);
    $("mask-select").value = String(k);
  }
  if (S.job && S.job.results) showResult(S.job);
}


async function start() {
  bindControls();
  showJobState("idle", "no job yet");
  $("roi-text").textContent = "whole scan";
  history.refresh();
  const restored = await restoreLastJob();
  if (!restored) setMode(modeOf(FIRST_MODE) ? FIRST_MODE : MODES[0].key);
  startMeanFrame();
}

start();
