// Live progress of one job page over the websocket /ws/jobs/<id>/ (no dependencies).
// A "partial" JSON message is followed by one binary frame: little-endian float32 pixels.

const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];

function colour(t) {
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i;
  return VIRIDIS[i].map((c, k) => Math.round(c + f * (VIRIDIS[i + 1][k] - c)));
}

function draw(canvas, shape, pixels) {
  const [h, w] = shape;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of pixels) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const scale = hi > lo ? hi - lo : 1;
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  pixels.forEach((v, i) => {
    if (!Number.isFinite(v)) return; // stays transparent
    const [r, g, b] = colour((v - lo) / scale);
    img.data.set([r, g, b, 255], i * 4);
  });
  ctx.putImageData(img, 0, 0);
  canvas.hidden = false;
  canvas.style.width = `${Math.max(w, 256)}px`;
  canvas.style.imageRendering = "pixelated";
}

function setStatus(status, error) {
  const el = document.getElementById("job-status");
  el.textContent = status;
  el.className = `status-${status}`;
  if (error) {
    const err = document.getElementById("job-error");
    err.textContent = error;
    err.hidden = false;
  }
}

function setProgress(done, total) {
  const bar = document.getElementById("job-progress");
  bar.max = Math.max(total, 1);
  bar.value = done;
  document.getElementById("job-frames").textContent = `${done} / ${total}`;
}

function connect(root) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${root.dataset.ws}`);
  socket.binaryType = "arraybuffer";
  let pending = null; // the JSON half of a partial, waiting for its pixels
  socket.onmessage = (event) => {
    if (event.data instanceof ArrayBuffer) {
      if (pending) draw(document.getElementById("job-preview"), pending.shape, new Float32Array(event.data));
      pending = null;
      return;
    }
    const msg = JSON.parse(event.data);
    if (msg.type === "status") { setStatus(msg.status, msg.error); setProgress(msg.progress.done, msg.progress.total); }
    else if (msg.type === "progress") setProgress(msg.done, msg.total);
    else if (msg.type === "partial") { pending = msg; setProgress(msg.done, msg.total); }
    else if (["finished", "failed", "cancelled"].includes(msg.type)) {
      setStatus(msg.type, msg.type === "failed" ? msg.error : "");
      socket.close();
      // The results and partition table are rendered by the server: reload once.
      if (root.dataset.status !== msg.type) setTimeout(() => location.reload(), 300);
    }
  };
}

const root = document.getElementById("job");
if (root && !["finished", "failed", "cancelled"].includes(root.dataset.status)) connect(root);
