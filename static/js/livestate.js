// What a live session's page knows, built from the job websocket's messages alone (no DOM):
// every analysis's image of the scan building up and, in continuous mode, of the latest
// complete scan; the frames received and lost, the receiver's state, and the frame rate the
// browser measures. The page (live.js) draws what this module keeps, so the operator's and
// every viewer's page show the same thing for the same messages.

/** The receiver's states (docs/live.md) that end a session; the job's end comes after them. */
export const ENDED_STATES = new Set(["complete", "incomplete", "failed", "stopped"]);

/**
 * Frames per second over the last ``windowMs`` of samples (``add(ms, frames)``, frames a
 * running count that may restart at 0 with the next scan of a continuous session).
 */
export class FrameRate {
  constructor(windowMs = 2000) {
    this.windowMs = windowMs;
    this.samples = []; // [ms, total frames since the first sample]
    this.total = 0;
    this.last = null;
  }

  add(ms, frames) {
    // a count that went down started a new scan: it counts from 0 again
    const gained = this.last === null ? 0 : frames >= this.last ? frames - this.last : frames;
    this.last = frames;
    this.total += gained;
    this.samples.push([ms, this.total]);
    while (this.samples.length > 2 && ms - this.samples[1][0] >= this.windowMs) this.samples.shift();
  }

  /** Frames per second, null until two samples at least 100 ms apart. */
  get fps() {
    if (this.samples.length < 2) return null;
    const [t0, f0] = this.samples[0];
    const [t1, f1] = this.samples[this.samples.length - 1];
    return t1 - t0 >= 100 ? ((f1 - f0) * 1000) / (t1 - t0) : null;
  }
}

/** Whether a ``partial`` header is its scan's last image (all frames of the scan in it). */
export function isComplete(header) {
  return header.complete === true || (header.total > 0 && header.done >= header.total);
}

/**
 * The images of every analysis of a session: ``take(header, values)`` files a ``partial``
 * (``analysis`` index, result ``name``, ``scan``, ``done``/``total``, ``shape``) and answers
 * which slot it went to, or null for an image older than the one shown.
 */
export class LiveImages {
  constructor() {
    this.byAnalysis = new Map(); // index -> {name, building, complete}
  }

  entry(index) {
    if (!this.byAnalysis.has(index)) this.byAnalysis.set(index, { name: null, building: null, complete: null });
    return this.byAnalysis.get(index);
  }

  /** ``name``: the result shown for analysis ``index`` (its declared preview). */
  choose(index, name) {
    const e = this.entry(index);
    if (e.name !== name) Object.assign(e, { name, building: null, complete: null });
  }

  take(header, values) {
    const index = header.analysis ?? 0;
    const e = this.entry(index);
    if (e.name === null) e.name = header.name;
    if (header.name !== e.name) return null;
    const image = {
      scan: header.scan ?? 0, done: header.done, total: header.total, revision: header.revision ?? 0,
      shape: header.shape, values, complete: isComplete(header),
    };
    const shown = e.building;
    if (shown && (image.scan < shown.scan || (image.scan === shown.scan && image.revision < shown.revision))) {
      // an older scan's image arriving late may still be the latest complete one
      if (image.complete && (!e.complete || image.scan > e.complete.scan)) {
        e.complete = image;
        return "complete";
      }
      return null;
    }
    e.building = image;
    if (image.complete) e.complete = image;
    return image.complete ? "complete" : "building";
  }

  /** The image of analysis ``index`` in ``slot`` ("building" or "complete"), or null. */
  image(index, slot = "building") {
    const e = this.byAnalysis.get(index);
    return e ? e[slot] : null;
  }

  /** Forget analysis ``index``'s images (its parameters changed: the next ones replace them). */
  reset(index) {
    const e = this.entry(index);
    e.building = null;
    e.complete = null;
  }
}

/**
 * The session's counters from any message: ``frames`` received (of this scan), ``total``,
 * ``lost``, receiver ``state``, ``scan``. Returns the counters with the message's values in.
 */
export function countersFrom(counters, msg) {
  const next = { ...counters };
  const live = msg.live || msg;
  if (Number.isFinite(live.frames)) next.frames = live.frames;
  else if (msg.type === "partial" || msg.type === "progress") next.frames = Math.max(next.frames || 0, msg.done);
  else if (msg.progress) next.frames = msg.progress.done;
  if (Number.isFinite(live.frames_expected)) next.total = live.frames_expected;
  else if (Number.isFinite(msg.total)) next.total = msg.total;
  else if (msg.progress) next.total = msg.progress.total;
  if (Number.isFinite(live.lost_frames)) next.lost = live.lost_frames;
  if (typeof live.state === "string") next.state = live.state;
  if (Number.isFinite(live.scan)) next.scan = live.scan;
  return next;
}

/** One line for the counters: "1,024 / 4,096 frames · 0 lost · 812 fps · receiving". */
export function countersText({ frames = 0, total = 0, lost = 0, state = "", scan = null }, fps, { continuous = false } = {}) {
  const parts = [`${frames.toLocaleString("en")} / ${total.toLocaleString("en")} frames`, `${lost.toLocaleString("en")} lost`];
  if (fps !== null && fps !== undefined) parts.push(`${Math.round(fps).toLocaleString("en")} fps`);
  if (continuous && scan !== null && scan !== undefined) parts.push(`scan ${scan + 1}`);
  if (state) parts.push(state);
  return parts.join(" · ");
}

/** The session's analyses (``[{index, analysis, params}]``) out of a job JSON or message. */
export function analysesOf(data) {
  const list = (data && data.live && data.live.analyses) || (data && data.analyses) || [];
  return list.map((a, k) => ({ index: a.index ?? k, analysis: a.analysis, params: a.params || {} }));
}
