// One live session's page: every analysis's image builds up from the job websocket's
// ``partial`` messages (jobclient.js), drawn with the workbench's image view and display
// controls; in continuous mode the latest complete scan shows beside the one building up.
// The operator (the job's owner) also stops the session, adds analyses and drags detector
// shapes (each release goes to PUT .../analyses/<n>/); viewers see the same, read-only.

import { ImageView } from "./imageview.js";
import { displayControls } from "./displaycontrols.js";
import { ShapeEditor, makeShape, drawHandles } from "./shapes.js";
import { JobSocket, TERMINAL, jobApi, liveApi, refusedText } from "./jobclient.js";
import { modeOfJob, menuModes, shapeOf } from "./modes.js";
import { paramsForm } from "./paramsform.js";
import { analysisForm, frameShape, liveModes } from "./liveforms.js";
import { ENDED_STATES, FrameRate, LiveImages, analysesOf, countersFrom, countersText } from "./livestate.js";
import { showMessage } from "./jobstatus.js";
import { fetchNpy } from "./npy.js";

const cfg = JSON.parse(document.getElementById("live-config").textContent);
const $ = (id) => document.getElementById(id);
const MODES = menuModes(cfg.analyses);
const DECLARED = new Map(cfg.analyses.map((a) => [a.name, a]));

const S = {
  analyses: [], // [{index, analysis, params}] as the server has them
  counters: { frames: 0, total: 0, lost: 0, state: "", scan: null },
  continuous: false,
  sig: null,
  shapeOf: 0, // the analysis whose detector shape is drawn
  dragging: false,
  ended: false,
};
const images = new LiveImages();
const rate = new FrameRate();
const panes = new Map(); // analysis index -> {building, complete, caption, completeCaption}
const received = [];

const detectorView = new ImageView($("detector-view"));
displayControls($("detector-display"), detectorView, { cmap: "inferno", log: true });
detectorView.setPlaceholder("The detector frame appears with the first frames.");
const editor = cfg.operator ? new ShapeEditor(detectorView, { onChange: shapeChanged }) : null;
let paramInputs = null;
// A handle for the browser tests and the devtools console; the page does not use it.
window.__livePage = { state: S, images, rate, panes, detectorView, received };

// ---------------------------------------------------------------- the analyses' panes

function declarationOf(entry) {
  return DECLARED.get(entry.analysis) || { title: entry.analysis, preview: null, results: [] };
}

function titleOf(entry) {
  const found = modeOfJob(MODES, entry);
  const d = declarationOf(entry);
  return found && found.mode.group ? `${d.title}: ${found.mode.title}` : (found ? found.mode.title : d.title);
}

function figure(label) {
  const fig = document.createElement("figure");
  const view = document.createElement("div");
  view.className = "viewer";
  view.setAttribute("aria-label", label);
  const caption = document.createElement("figcaption");
  caption.className = "muted";
  fig.append(view, caption);
  return { fig, view, caption };
}

function buildPane(entry) {
  const section = document.createElement("section");
  section.className = "an-pane card live-pane";
  section.dataset.analysis = String(entry.index);
  const head = document.createElement("header");
  head.className = "an-pane-head";
  const h2 = document.createElement("h2");
  h2.textContent = `${entry.index + 1}. ${titleOf(entry)}`;
  head.append(h2);
  const scans = document.createElement("div");
  scans.className = "live-scans";
  const building = figure(`${titleOf(entry)}: the scan building up`);
  scans.append(building.fig);
  let complete = null;
  if (S.continuous) {
    complete = figure(`${titleOf(entry)}: the latest complete scan`);
    scans.append(complete.fig);
  }
  const controls = document.createElement("div");
  section.append(head, scans, controls);
  $("live-analyses").append(section);
  const pane = {
    section, title: h2,
    building: new ImageView(building.view, { nanText: "not received yet" }), caption: building.caption,
    complete: complete && new ImageView(complete.view, { nanText: "not received" }), completeCaption: complete && complete.caption,
  };
  displayControls(controls, pane.building, { cmap: "viridis" });
  pane.building.setPlaceholder("Waiting for the first frames…");
  if (pane.complete) pane.complete.setPlaceholder("No complete scan yet.");
  const preview = declarationOf(entry).preview;
  if (preview) images.choose(entry.index, preview);
  panes.set(entry.index, pane);
}

function setAnalyses(list) {
  const before = S.analyses;
  S.analyses = list;
  for (const entry of list) {
    const old = before.find((a) => a.index === entry.index);
    if (!panes.has(entry.index)) buildPane(entry);
    else if (old && JSON.stringify(old.params) !== JSON.stringify(entry.params)) {
      panes.get(entry.index).title.textContent = `${entry.index + 1}. ${titleOf(entry)}`;
    }
  }
  fillShapeMenu();
  showShape();
}

// ---------------------------------------------------------------- images

function caption(image) {
  const scan = S.continuous ? `scan ${image.scan + 1}: ` : "";
  return `${scan}${image.done.toLocaleString("en")} of ${image.total.toLocaleString("en")} frames${image.complete ? " (complete)" : ""}`;
}

function showImage(view, captionEl, image) {
  const [h, w] = image.shape.length === 1 ? [1, image.shape[0]] : image.shape;
  if (image.values.length !== h * w) return;
  view.setArray({ shape: [h, w], values: image.values });
  if (captionEl) captionEl.textContent = caption(image);
}

function partial(header, values) {
  if (S.finalShown) return; // the stored results are on screen
  const index = header.analysis ?? 0;
  if (!S.analyses.some((a) => a.index === index)) refreshJob(); // added by the operator just now
  const slot = images.take(header, values);
  // what arrived, for the browser tests: a partial image must come before the final one
  if (received.length < 10000) received.push({ analysis: index, scan: header.scan ?? 0, done: header.done, total: header.total });
  S.counters = countersFrom(S.counters, { ...header, done: header.done });
  rate.add(performance.now(), S.counters.frames);
  showCounters();
  if (!slot) return;
  const image = images.image(index, "building");
  if (header.shape.length === 2 && S.sig === null && isDetectorResult(index, header.name)) S.sig = header.shape;
  if (isDetectorResult(index, header.name)) { // a frame (the sum): also the shapes' backdrop
    detectorView.setArray({ shape: image.shape, values: image.values });
    $("detector-source").textContent = `${titleOf(S.analyses.find((a) => a.index === index) || { analysis: "" })}: ${caption(image)}`;
  }
  const pane = panes.get(index);
  if (!pane) return;
  if (slot === "building" || !pane.complete || image.complete) showImage(pane.building, pane.caption, image);
  const done = images.image(index, "complete");
  if (pane.complete && done) showImage(pane.complete, pane.completeCaption, done);
}

/** Whether result ``name`` of analysis ``index`` is a detector frame (e.g. the sum frame). */
function isDetectorResult(index, name) {
  const entry = S.analyses.find((a) => a.index === index);
  const result = entry && declarationOf(entry).results.find((r) => r.name === name);
  return Boolean(result && result.shape.startsWith("sig"));
}

// ---------------------------------------------------------------- the detector shape

function fillShapeMenu() {
  const select = $("live-shape-of");
  const shaped = S.analyses.filter((a) => { const f = modeOfJob(MODES, a); return f && shapeOf(f.mode); });
  const keep = select.value;
  select.innerHTML = "";
  for (const a of shaped) select.append(new Option(`${a.index + 1}. ${titleOf(a)}`, String(a.index)));
  if (keep && shaped.some((a) => String(a.index) === keep)) select.value = keep;
  S.shapeOf = select.value === "" ? null : Number(select.value);
}

/** Draw the chosen analysis's shape; the operator may drag it, a viewer only sees it. */
function showShape() {
  if (S.dragging) return; // the operator's drag wins over an echo of an earlier change
  const entry = S.analyses.find((a) => a.index === S.shapeOf);
  const found = entry && modeOfJob(MODES, entry);
  const kind = found && shapeOf(found.mode);
  if (!detectorView.image) {
    const [h, w] = frameShape(S.sig);
    detectorView.setArray({ shape: [h, w], values: new Float32Array(h * w) });
  }
  if (editor) {
    editor.setShape(kind || null, found ? found.values : {});
    detectorView.tool = editor;
    // the inputs are rebuilt only for another analysis or mode: a value being typed stays
    const formKey = found ? `${entry.index}:${found.mode.key}` : null;
    if (formKey !== S.formKey) {
      paramInputs = found ? paramsForm($("params"), { mode: found.mode, values: found.values, onInput: formChanged }) : null;
      if (!found) $("params").innerHTML = "";
      S.formKey = formKey;
    } else if (paramInputs) paramInputs.set(found.values);
  } else {
    const shape = kind ? makeShape(kind, found.values) : null;
    detectorView.tool = shape && {
      draw: (ctx, view) => { shape.draw(ctx, view); drawHandles(ctx, view, shape); },
      pointerdown: () => false,
    };
  }
  detectorView.draw();
}

function shapeChanged(values, final) {
  S.dragging = !final;
  if (paramInputs) paramInputs.set(values);
  if (final) changeParams(values);
}

function formChanged(values) {
  const entry = S.analyses.find((a) => a.index === S.shapeOf);
  const found = entry && modeOfJob(MODES, entry);
  if (found && editor) editor.setShape(shapeOf(found.mode), { ...found.values, ...values });
  changeParams(values);
}

async function changeParams(values) {
  const entry = S.analyses.find((a) => a.index === S.shapeOf);
  if (!entry || S.ended) return;
  const found = modeOfJob(MODES, entry);
  const params = { ...entry.params, ...(found ? found.mode.fixed : {}), ...values };
  try {
    await liveApi.changeAnalysis(cfg.id, entry.index, params);
    entry.params = params;
    showMessage(`Analysis ${entry.index + 1} changed: it is recomputed over the frames received so far, then continues live.`);
  } catch (err) {
    showMessage(`The change was not taken: ${err.message}`, "error");
    showShape();
  }
}

// ---------------------------------------------------------------- the session's state

function showCounters() {
  $("live-counters").textContent = countersText(S.counters, rate.fps, { continuous: S.continuous });
}

function setState(text) {
  const el = $("live-state");
  el.textContent = text;
  el.dataset.state = text;
  el.className = `job-state state-${text}`;
}

function takeJob(job) {
  const live = job.live || {};
  S.continuous = Boolean(live.continuous);
  if (Array.isArray(live.sig_shape)) S.sig = live.sig_shape;
  setAnalyses(analysesOf(job));
  S.counters = countersFrom(S.counters, job);
  showCounters();
  setState(TERMINAL.has(job.status) ? job.status : live.state || job.status);
  if (TERMINAL.has(job.status)) ended(job);
}

async function refreshJob() {
  if (S.refreshing) return;
  S.refreshing = true;
  try {
    takeJob(await jobApi.get(cfg.id));
  } catch (err) {
    showMessage(`Could not read the session: ${err.message}`, "error");
  } finally {
    S.refreshing = false;
  }
}

function message(msg) {
  if (msg.type === "status") {
    if (msg.live || msg.analyses) takeJob(msg);
    else setState(msg.status);
    S.counters = countersFrom(S.counters, msg);
  } else if (msg.type === "analyses") {
    setAnalyses(analysesOf(msg));
  } else if (msg.type === "live" || msg.type === "progress") {
    // a live message: reception started, a scan ended, or the analyses changed
    if (msg.analyses) setAnalyses(analysesOf(msg));
    S.counters = countersFrom(S.counters, msg);
    rate.add(performance.now(), S.counters.frames);
    if (msg.state) setState(msg.state);
  } else if (TERMINAL.has(msg.type)) {
    setState(msg.type);
    if (msg.type === "failed") showMessage(msg.error || "The session failed.", "error");
    refreshJob(); // the final job names the registered dataset
  }
  showCounters();
}

/** The session ended: the recording's dataset and the results, no more controls. */
function ended(job) {
  S.ended = true;
  const live = job.live || {};
  $("live-end").hidden = false;
  if (live.dataset) {
    $("live-dataset").href = `/datasets/${live.dataset}/`;
    $("live-dataset").hidden = false;
  }
  if ($("live-stop")) $("live-stop").hidden = true;
  if ($("live-add-button")) $("live-add-button").disabled = true;
  if (job.status === "finished" && !S.finalShown) showFinalResults(job.results || []);
  if (ENDED_STATES.has(live.state) && live.state !== "complete") {
    showMessage(`The scan ended ${live.state}: ${live.lost_frames || 0} frames lost${live.error ? `; ${live.error}` : ""}.`, "warn");
  }
}

/** The stored results replace the last partial images: what the job kept, exactly. */
async function showFinalResults(results) {
  S.finalShown = true;
  for (const entry of S.analyses) {
    const preview = declarationOf(entry).preview;
    const result = results.find((r) => r.name === `${entry.index}-${entry.analysis}-${preview}`);
    if (!result) continue;
    try {
      const array = await fetchNpy(`${cfg.urls.job}results/${result.name}.npy`);
      const image = { ...array, scan: S.counters.scan ?? 0, done: S.counters.total, total: S.counters.total, complete: true };
      if (isDetectorResult(entry.index, preview)) detectorView.setArray(array);
      const pane = panes.get(entry.index);
      showImage(pane.building, pane.caption, image);
      pane.caption.textContent = `the stored result (${result.name})`;
      pane.final = array;
    } catch (err) {
      showMessage(`The result ${result.name} could not be read: ${err.message}`, "error");
    }
  }
}

function socketState(state, detail) {
  if (state === "lost") showMessage(`Lost the live connection; reconnecting in ${(detail / 1000).toFixed(1)} s.`, "warn");
  else if (state === "refused") showMessage(refusedText(detail), "error");
  else if (state === "live") showMessage("");
}

// ---------------------------------------------------------------- operator controls

function bindOperator() {
  if (!cfg.operator) return;
  $("live-stop").addEventListener("click", async () => {
    $("live-stop").disabled = true;
    try {
      takeJob(await liveApi.stop(cfg.id));
      showMessage("Stop requested: the scan ends with the next block of frames; what arrived is recorded and registered.");
    } catch (err) {
      showMessage(`The session did not stop: ${err.message}`, "error");
      $("live-stop").disabled = false;
    }
  });
  const modes = liveModes(cfg.analyses);
  const shapes = () => [frameShape(S.sig), [1, 1]];
  const add = analysisForm($("live-add-params"), modes, { shapes });
  $("live-add-button").addEventListener("click", async () => {
    try {
      await liveApi.addAnalysis(cfg.id, add.body());
      await refreshJob();
      showMessage("Analysis added: it is computed over the frames received so far, then continues live.");
    } catch (err) {
      showMessage(`The analysis was not added: ${err.message}`, "error");
    }
  });
}

function start() {
  $("live-shape-of").addEventListener("change", (e) => { S.shapeOf = Number(e.target.value); showShape(); });
  bindOperator();
  setInterval(showCounters, 1000);
  new JobSocket(cfg.urls.ws, {
    onMessage: message,
    onPartial: partial,
    onState: socketState,
    onReconnect: (again) => again && refreshJob(),
  });
  refreshJob();
}

start();
