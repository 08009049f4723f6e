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

/** Frames done / total, percent, and the read speed: the server's figure when it has one.
 * ``position`` ({y, x}): the job reads that one frame, so it is counted as one. */
export function showProgress(done, total, { serverGbs = null, startedAt = null, frameBytes = 0, position = null } = {}) {
  const pct = total ? Math.min(100, (100 * done) / total) : 0;
  const bar = $("progress-bar");
  bar.style.width = `${pct}%`;
  bar.parentElement.setAttribute("aria-valuenow", pct.toFixed(0));
  let text = "";
  if (position && total) {
    text = `1 frame (scan row ${position.y ?? 0}, column ${position.x})${done >= total ? " read" : ": reading"}`;
  } else if (total) {
    const rate = formatRate(serverGbs ? Number(serverGbs) : estimateGbs(done, startedAt, frameBytes));
    text = `${done.toLocaleString()} / ${total.toLocaleString()} frames (${pct.toFixed(0)} %)${rate ? ` · ${rate}` : ""}`;
  }
  $("progress-text").textContent = text;
}

function estimateGbs(done, startedAt, frameBytes) {
  // while running, the browser's own estimate: frames read since the job was submitted
  if (!startedAt || !done || !frameBytes) return null;
  const seconds = (performance.now() - startedAt) / 1000;
  return seconds > 0 ? (done * frameBytes) / seconds / 1e9 : null;
}

/** A read speed in GB/s as text with three significant figures in GB/s, MB/s or kB/s;
 * "" for none (a tiny job's "0.00 GB/s" says nothing). */
export function formatRate(gbs) {
  if (!gbs || !Number.isFinite(gbs) || gbs <= 0) return "";
  const [value, unit] = gbs >= 1 ? [gbs, "GB/s"] : gbs >= 1e-3 ? [gbs * 1e3, "MB/s"] : [gbs * 1e6, "kB/s"];
  return `${value >= 100 ? value.toFixed(0) : value.toPrecision(3)} ${unit}`;
}

/** One line above the images; ``kind`` is info, warn or error; "" clears it. */
export function showMessage(text, kind = "info") {
  const el = $("message");
  el.textContent = text;
  el.className = `an-message ${text ? kind : ""}`;
}

/** What the page says about a failed job: the server's sentence, once with a full stop, and
 * what to do unless the sentence says it already. */
export function failureText(error) {
  const reason = (error || "no reason was given").replace(/\.?\s*$/, ".");
  const advice = /run (it|the job) again/i.test(reason) ? "" : " Change the parameters or press Run to try again.";
  return `The job failed: ${reason}${advice}`;
}

/** A refused submission: the server's sentence plus the fields it names. */
export function refusalText(err) {
  const fields = Object.entries(err.fields || {}).map(([k, v]) => `${k}: ${v}`).join("; ");
  const prefix = err.status === 0 ? "" : "The server did not start the job: ";
  return `${prefix}${err.message}${fields && !err.message.includes(fields) ? ` (${fields})` : ""}`;
}
