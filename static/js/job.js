// The job page's live progress: the job websocket through jobclient.js (reconnects included),
// previews in the shared colour map, the queue place as it changes. The results and the
// partition table are rendered by the server: once the job has ended the page fetches itself
// again and swaps its content in; "Run again" swaps in the new job's page the same way (its
// address too), so neither reloads the page.

import { colourise } from "./colormap.js";
import { JobSocket, TERMINAL, jobApi, refusedText } from "./jobclient.js";

const $ = (id) => document.getElementById(id);
let socket = null;

function draw(canvas, [h, w], pixels) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of pixels) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const range = hi > lo ? hi - lo : 1;
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  colourise(img.data, pixels, "viridis", (v) => (v - lo) / range);
  ctx.putImageData(img, 0, 0);
  canvas.hidden = false;
  canvas.style.width = `${Math.max(w, 256)}px`;
  canvas.style.imageRendering = "pixelated";
}

/** 1st, 2nd, 3rd, 4th, 11th, 21st … (the template's ordinal filter writes the same). */
export function ordinal(n) {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
  return `${n}${suffix}`;
}

function setStatus(status, error) {
  const el = $("job-status");
  el.textContent = status;
  el.className = `status-${status}`;
  const err = $("job-error");
  err.textContent = error || "";
  err.hidden = !error;
  if (status !== "queued") $("job-queue").hidden = true;
}

function setQueue(queue) {
  $("job-queue").hidden = !queue;
  if (!queue) return;
  $("job-queue-place").textContent = ordinal(queue.place);
  $("job-queue-running").textContent = queue.running;
  $("job-queue-limit").textContent = queue.limit;
}

function setProgress(done, total) {
  const bar = $("job-progress");
  bar.max = Math.max(total, 1);
  bar.value = done;
  $("job-frames").textContent = `${done} / ${total}`;
}

function setLive(text, kind = "muted") {
  const el = $("job-live");
  el.textContent = text;
  el.className = kind;
  el.hidden = !text;
}

/** Replace the page's content with that of ``url`` (a job page) and watch its job. */
async function showPage(url, { push = false } = {}) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`The page ${url} answered ${response.status}; reload to see the job.`);
  const doc = new DOMParser().parseFromString(await response.text(), "text/html");
  document.querySelector("main").replaceWith(doc.querySelector("main"));
  document.title = doc.title;
  if (push) history.pushState({ job: url }, "", url);
  start();
}

function ended(root, status, error) {
  setStatus(status, status === "failed" ? error : "");
  // The page was rendered before the job ended: fetch it again for its results.
  if (root.dataset.status !== status) {
    setTimeout(() => showPage(location.pathname).catch((err) => setLive(err.message, "error")), 300);
  }
}

function onMessage(root, msg) {
  if (msg.type === "status") {
    setProgress(msg.progress.done, msg.progress.total);
    if (TERMINAL.has(msg.status)) ended(root, msg.status, msg.error);
    else setStatus(msg.status, msg.error);
    // on connect the status carries the whole job, its place in the queue too
    if ("queue" in msg) setQueue(msg.queue);
  } else if (msg.type === "queue") setQueue(msg);
  else if (msg.type === "progress") setProgress(msg.done, msg.total);
  else if (TERMINAL.has(msg.type)) ended(root, msg.type, msg.error);
}

function onState(state, detail) {
  if (state === "live") setLive("");
  else if (state === "lost") {
    setLive(`Lost the live connection; reconnecting in ${(detail / 1000).toFixed(1)} s.`);
  } else if (state === "refused") setLive(refusedText(detail), "error");
}

async function runAgain(event, form) {
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const id = Number(form.dataset.api.match(/\/api\/jobs\/(\d+)\//)[1]);
    const created = await jobApi.rerun(id);
    await showPage(created.page, { push: true });
  } catch (err) {
    setLive(`The job cannot run again: ${err.message}`, "error");
    button.disabled = false;
  }
}

function start() {
  if (socket) socket.close();
  socket = null;
  const root = $("job");
  if (!root) return;
  const rerun = $("job-rerun");
  if (rerun) rerun.addEventListener("submit", (event) => runAgain(event, rerun));
  if (TERMINAL.has(root.dataset.status)) return;
  socket = new JobSocket(root.dataset.ws, {
    onMessage: (msg) => onMessage(root, msg),
    onPartial: (header, pixels) => {
      draw($("job-preview"), header.shape, pixels);
      setProgress(header.done, header.total);
    },
    onState,
  });
}

// Back and forward between jobs shown by "Run again": show the job of that address.
window.addEventListener("popstate", () => showPage(location.pathname).catch(() => location.reload()));
start();
