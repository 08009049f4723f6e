// Talking to the job API: submit, cancel, read; and the job websocket, which delivers
// progress and partial images live. The websocket is only a notification: after a reconnect
// the caller re-reads the job from the API, which is the truth.

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
  list: (datasetId) => request("GET", `/api/jobs/?dataset=${encodeURIComponent(datasetId)}`),
  uploadMask: (datasetId, file) => {
    const form = new FormData();
    form.append("dataset", String(datasetId));
    form.append("file", file);
    return request("POST", "/api/masks/", form);
  },
};

export const TERMINAL = new Set(["finished", "failed", "cancelled"]);

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

/**
 * One job's websocket with reconnects (backoff 0.5 s doubling to 8 s) until ``close()`` or a
 * terminal message. Handlers: onMessage(msg), onPartial(msg, Float32Array), onState(text),
 * onReconnect(again) after every (re)connect.
 */
export class JobSocket {
  constructor(path, handlers) {
    this.url = wsUrl(path);
    this.h = handlers;
    this.delay = 500;
    this.closed = false;
    this.pending = null; // the partial header waiting for its binary frame
    this.everOpened = false;
    this.open();
  }

  open() {
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      const again = this.everOpened;
      this.everOpened = true;
      this.delay = 500;
      this.h.onState && this.h.onState("live");
      // also on the first open: whatever happened before it (a fast job may be done already)
      // is only in the API
      if (this.h.onReconnect) this.h.onReconnect(again);
    };
    ws.onmessage = (e) => this.receive(e.data);
    ws.onclose = (e) => this.lost(e);
    this.ws = ws;
  }

  receive(data) {
    if (data instanceof ArrayBuffer) {
      const header = this.pending;
      this.pending = null;
      if (header && this.h.onPartial) this.h.onPartial(header, new Float32Array(data));
      return;
    }
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (msg.type === "partial") { this.pending = msg; return; }
    this.h.onMessage && this.h.onMessage(msg);
    // the first message after connecting is the job's status, which may already be final
    if (TERMINAL.has(msg.type) || (msg.type === "status" && TERMINAL.has(msg.status))) this.close();
  }

  lost(e) {
    if (this.closed) return;
    if (e.code === 4403 || e.code === 4404) { // refused: reconnecting cannot help
      this.h.onState && this.h.onState("refused");
      this.closed = true;
      return;
    }
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, 8000);
    this.h.onState && this.h.onState(`lost`, wait);
    this.timer = setTimeout(() => !this.closed && this.open(), wait);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws && this.ws.readyState <= 1) this.ws.close();
  }
}
