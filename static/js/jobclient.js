// Talking to the job API: submit, cancel, read; and the job websocket, which delivers
// progress and partial images live (docs/api.md, "The job websocket"). The websocket is only
// a notification: on every (re)connect the server first sends the job's state as the database
// has it, which replaces whatever the page knew.

import { parseNpy } from "./npy.js";

export class ApiError extends Error {
  constructor(message, status, fields) {
    super(message);
    this.status = status;
    this.fields = fields || {};
  }
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function request(method, url, body) {
  const init = { method, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new ApiError("The server cannot be reached; check the network and try again.", 0);
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(data.error || `${method} ${url} failed with ${response.status}.`, response.status, data.fields);
  }
  return data;
}

export const jobApi = {
  submit: (body) => request("POST", "/api/jobs/", body),
  get: (id) => request("GET", `/api/jobs/${id}/`),
  cancel: (id) => request("POST", `/api/jobs/${id}/cancel/`, {}),
  /** A new job with the same dataset, analysis, parameters and ROI: ``{id, page, …}``. */
  rerun: (id) => request("POST", `/api/jobs/${id}/rerun/`, {}),
  /** ``filters``: a dataset id, or the list's query parameters ({dataset, status, owner, …}). */
  list: (filters) => {
    const query = new URLSearchParams(typeof filters === "object" ? filters : { dataset: filters });
    return request("GET", `/api/jobs/?${query}`);
  },
  uploadMask: (datasetId, file) => {
    const form = new FormData();
    form.append("dataset", String(datasetId));
    form.append("file", file);
    return request("POST", "/api/masks/", form);
  },
};

/** The live sessions' API (docs/api.md, "Live sessions"): a session is a job of kind live. */
export const liveApi = {
  detectors: () => request("GET", "/api/live/detectors/"),
  /** ``{detector, nav_shape, analyses: [{analysis, params}], continuous, folder?, name?}`` */
  arm: (body) => request("POST", "/api/live/sessions/", body),
  stop: (id) => request("POST", `/api/live/sessions/${id}/stop/`, {}),
  addAnalysis: (id, body) => request("POST", `/api/live/sessions/${id}/analyses/`, body),
  changeAnalysis: (id, index, params) => request("PUT", `/api/live/sessions/${id}/analyses/${index}/`, { params }),
};

/** An API token of the signed-in user for a script; the answer holds its key, once. */
export const createToken = (name) => request("POST", "/api/tokens/", { name });

/** The states (and message types) that end a job: the socket closes after one of them. */
export const TERMINAL = new Set(["finished", "failed", "cancelled"]);

/**
 * The close codes the server ends a job socket with (apps/live/events.py): reconnecting
 * cannot help after them. Any other close (a restart, a network drop) is reconnected.
 */
export const CLOSE = Object.freeze({
  NOT_FOUND: 4404, // no such job, or it is not (any longer) yours to see
  REVOKED: 4401, // the credentials are void: API token revoked, user deactivated or deleted
});
const FINAL_CLOSES = new Set(Object.values(CLOSE));

/** What the page says when the server ended the live connection for good (``code``). */
export function refusedText(code) {
  if (code === CLOSE.REVOKED) {
    return "Live updates stopped: your sign-in is no longer valid (token revoked or account deactivated).";
  }
  return "Live updates stopped: this job no longer exists or is no longer shown to you.";
}

/** The list of jobs out of whatever shape the list endpoint answers with. */
export function jobsOf(listResponse) {
  if (Array.isArray(listResponse)) return listResponse;
  return listResponse.jobs || listResponse.results || [];
}

/** Absolute websocket URL for a path like ``/ws/jobs/7/``. */
export function wsUrl(path) {
  if (/^wss?:/.test(path)) return path;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

/** ``msg`` (a message naming its ``image``) with that result parsed from ``npy`` as
 * ``imageArray``; without it if the bytes are no .npy (the page then fetches the result). */
function withImage(msg, npy) {
  try {
    return { ...msg, imageArray: parseNpy(npy) };
  } catch {
    return msg;
  }
}

/**
 * One job's websocket with reconnects (backoff 0.5 s doubling to 8 s) until ``close()``, a
 * terminal message or a final close code. Handlers (all optional): onMessage(msg),
 * onPartial(msg, Float32Array), onState(state, detail) with state "live", "lost" (detail: ms
 * until the next try) or "refused" (detail: the close code), onReconnect(again) after every
 * (re)connect.
 */
export class JobSocket {
  constructor(path, handlers) {
    this.url = wsUrl(path);
    this.h = handlers;
    this.delay = 500;
    this.closed = false;
    this.pending = null; // the partial header waiting for its binary frame
    this.everLive = false;
    this.open();
  }

  open() {
    this.pending = null; // a partial whose pixels the lost connection never sent
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    let live = false;
    ws.onmessage = (e) => {
      // The server's first message (the job's status) makes a connection live: a socket it
      // accepts only to close with a code never is, and does not reset the backoff.
      if (!live) {
        live = true;
        this.connected();
      }
      this.receive(e.data);
    };
    ws.onclose = (e) => this.lost(e);
    this.ws = ws;
  }

  connected() {
    const again = this.everLive;
    this.everLive = true;
    this.delay = 500;
    this.h.onState && this.h.onState("live");
    // also on the first connection: whatever happened before it (a fast job may be done
    // already) is only in the status message and the API
    if (this.h.onReconnect) this.h.onReconnect(again);
  }

  receive(data) {
    if (data instanceof ArrayBuffer) {
      const header = this.pending;
      this.pending = null;
      if (header && header.image) this.deliver(withImage(header, data));
      else if (header && this.h.onPartial) this.h.onPartial(header, new Float32Array(data));
      return;
    }
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    // a partial's pixels, and the .npy of the result a message names as its image (a finished
    // message, a finished job's status on connect), follow the message
    if (msg.type === "partial" || msg.image) { this.pending = msg; return; }
    this.deliver(msg);
  }

  deliver(msg) {
    this.h.onMessage && this.h.onMessage(msg);
    // the first message after connecting is the job's status, which may already be final
    if (TERMINAL.has(msg.type) || (msg.type === "status" && TERMINAL.has(msg.status))) this.close();
  }

  lost(e) {
    if (this.closed) return;
    if (FINAL_CLOSES.has(e.code)) {
      this.closed = true;
      this.h.onState && this.h.onState("refused", e.code);
      return;
    }
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, 8000);
    this.h.onState && this.h.onState("lost", wait);
    this.timer = setTimeout(() => !this.closed && this.open(), wait);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws && this.ws.readyState <= 1) this.ws.close();
  }
}

/**
 * One websocket (``/ws/jobs/``) that follows one job after another: ``follow(id, handlers)``
 * sends ``{"follow": id}`` and hands that job's messages to ``handlers`` (JobSocket's:
 * onMessage, onPartial, onState, onReconnect); following a job stops the one before. A page
 * that starts job after job opens it once, so no job waits for a websocket's handshake.
 * Reconnects as JobSocket does and follows the job again; the job's status that answers every
 * follow makes it live (onReconnect(again) as with JobSocket). A job the server refuses (not
 * yours to see, or no longer) gets onState("refused", 4404); the socket goes on.
 */
export class JobFeed {
  constructor(path = "/ws/jobs/") {
    this.url = wsUrl(path);
    this.delay = 500;
    this.closed = false;
    this.code = null; // the final close code, once closed for good
    this.pending = null; // a message waiting for its binary frame
    this.job = null; // {id, h, live, everLive}: the job followed
    this.open();
  }

  open() {
    this.pending = null;
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      this.delay = 500;
      if (this.job) this.sendFollow();
    };
    ws.onmessage = (e) => this.receive(e.data);
    ws.onclose = (e) => this.lost(e);
    this.ws = ws;
  }

  /** Follow job ``id`` with ``handlers`` from now on (the socket connects first if need be). */
  follow(id, handlers) {
    this.job = { id, h: handlers, live: false, everLive: false };
    if (this.closed) {
      if (this.code !== null && handlers.onState) handlers.onState("refused", this.code);
      return;
    }
    if (this.ws.readyState === WebSocket.OPEN) this.sendFollow();
  }

  /** Stop handing on the followed job's messages (the server's stop with the next follow). */
  stop() {
    this.job = null;
  }

  sendFollow() {
    this.job.live = false;
    this.ws.send(JSON.stringify({ follow: this.job.id }));
  }

  receive(data) {
    if (data instanceof ArrayBuffer) {
      const header = this.pending;
      this.pending = null;
      const job = this.job;
      if (!header || !job || header.id !== job.id) return; // a frame of a job no longer followed
      if (header.image) this.deliver(job, withImage(header, data));
      else if (job.h.onPartial) job.h.onPartial(header, new Float32Array(data));
      return;
    }
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (msg.type === "partial" || msg.image) { this.pending = msg; return; }
    if (msg.type === "error") { console.warn(`The job feed refused a message: ${msg.error}`); return; }
    const job = this.job;
    if (!job || msg.id !== job.id) return;
    if (msg.type === "refused") {
      this.job = null;
      job.h.onState && job.h.onState("refused", msg.code);
      return;
    }
    this.deliver(job, msg);
  }

  deliver(job, msg) {
    if (!job.live) { // the status answering a follow
      job.live = true;
      const again = job.everLive;
      job.everLive = true;
      job.h.onState && job.h.onState("live");
      if (job.h.onReconnect) job.h.onReconnect(again);
    }
    job.h.onMessage && job.h.onMessage(msg);
    if (TERMINAL.has(msg.type) || (msg.type === "status" && TERMINAL.has(msg.status))) {
      if (this.job === job) this.job = null;
    }
  }

  lost(e) {
    if (this.closed) return;
    const job = this.job;
    if (FINAL_CLOSES.has(e.code)) {
      this.closed = true;
      this.code = e.code;
      if (job && job.h.onState) job.h.onState("refused", e.code);
      return;
    }
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, 8000);
    if (job && job.h.onState) job.h.onState("lost", wait);
    this.timer = setTimeout(() => !this.closed && this.open(), wait);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws && this.ws.readyState <= 1) this.ws.close();
  }
}
