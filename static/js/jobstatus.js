// The job's state, progress bar, read speed and the page's message line. Messages are plain
// sentences: what happened and what the user can do.

import { TERMINAL } from "./jobclient.js";

const $ = (id) => document.getElementById(id);

/** ``state`` (queued, running, finished, ...) with ``text``, default "job <id>: <state>". */
export function showJobState(state, text, jobId) {
  const el = $("job-state");
  el.className = `job-state state-${state}`;
  el.textContent = text || (jobId ? `job ${jobId}: ${state}` : state);
  el.dataset.state = state;
  $("cancel").disabled = !jobId || TERMINAL.has(state) || state === "refused";
}

/** Frames done / total, percent, and GB/s: the server's figure when it has one. */
export function showProgress(done, total, { serverGbs = null, startedAt = null, frameBytes = 0 } = {}) {
  const pct = total ? Math.min(100, (100 * done) / total) : 0;
  const bar = $("progress-bar");
  bar.style.width = `${pct}%`;
  bar.parentElement.setAttribute("aria-valuenow", pct.toFixed(0));
  const gbps = serverGbs ? Number(serverGbs).toFixed(2) : estimateGbs(done, startedAt, frameBytes);
  $("progress-text").textContent = total
    ? `${done.toLocaleString()} / ${total.toLocaleString()} frames (${pct.toFixed(0)} %)${gbps ? ` · ${gbps} GB/s` : ""}`
    : "";
}

function estimateGbs(done, startedAt, frameBytes) {
  // while running, the browser's own estimate: frames read since the job was submitted
  if (!startedAt || !done || !frameBytes) return "";
  const seconds = (performance.now() - startedAt) / 1000;
  return seconds > 0 ? ((done * frameBytes) / seconds / 1e9).toFixed(2) : "";
}

/** One line above the images; ``kind`` is info, warn or error; "" clears it. */
export function showMessage(text, kind = "info") {
  const el = $("message");
  el.textContent = text;
  el.className = `an-message ${text ? kind : ""}`;
}

/** A refused submission: the server's sentence plus the fields it names. */
export function refusalText(err) {
  const fields = Object.entries(err.fields || {}).map(([k, v]) => `${k}: ${v}`).join("; ");
  const prefix = err.status === 0 ? "" : "The server did not start the job: ";
  return `${prefix}${err.message}${fields && !err.message.includes(fields) ? ` (${fields})` : ""}`;
}
