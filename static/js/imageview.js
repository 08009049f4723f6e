// A canvas that shows one 2-d float array (or an RGB field) with a colour map, zoom (wheel),
// pan (middle button, or space + drag) and a read-out of the pixel under the cursor.
// An optional "tool" (detector shapes, scan ROI) receives the pointer in image coordinates
// and draws on the overlay, so the view knows nothing about shapes.
//
// Image coordinates: pixel (y, x) has its centre at (y, x), like the detector masks on the
// server, so a disk drawn here selects the same pixels the job integrates.

import { colourise } from "./colormap.js";
import { valueMapping } from "./mapping.js";
import { histogram, percentile, sortedSample } from "./stats.js";

const CLICK_SLOP = 4; // px a press may move and still count as a click
let spaceDown = false;
window.addEventListener("keydown", (e) => { if (e.code === "Space" && !isTyping(e)) spaceDown = true; });
window.addEventListener("keyup", (e) => { if (e.code === "Space") spaceDown = false; });

function isTyping(e) {
  const tag = e.target && e.target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
}

export class ImageView {
  /** ``nanText``: what the read-out says for a NaN pixel (e.g. "outside ROI" on the scan). */
  constructor(root, { onHover = null, onClick = null, onRender = null, nanText = "no value" } = {}) {
    this.root = root;
    this.nanText = nanText;
    this.onHover = onHover;
    this.onClick = onClick;
    this.onRender = onRender; // called with the stats after each colouring (for the histogram)
    this.display = { cmap: "viridis", log: false, lo: 1, hi: 99 };
    this.image = null; // {width, height, values}
    this.rgb = null; // precomputed RGBA for field views
    this.tool = null;
    this.overlays = []; // drawn over the image and the tool, e.g. the scale bar: {draw(ctx, view)}
    this.mapping = null; // the value -> colour mapping last applied (mapping.js); null for RGB
    this.valueUnit = null; // what the values are in (units.js), for the read-out and colour bar
    this.formatReadout = null; // ({x, y, value}) => text; the default shows pixels and the value
    this.zoom = null; // {scale, ox, oy} in CSS px; null = fit
    this.buildDom();
    this.bindPointer();
    new ResizeObserver(() => this.resize()).observe(this.root);
  }

  buildDom() {
    this.canvas = document.createElement("canvas");
    this.canvas.className = "imageview-canvas";
    this.canvas.tabIndex = 0; // focusable: arrow keys nudge the selected shape
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", this.root.getAttribute("aria-label") || "image");
    this.readout = document.createElement("div");
    this.readout.className = "imageview-readout";
    this.placeholder = document.createElement("div");
    this.placeholder.className = "imageview-placeholder";
    this.root.append(this.canvas, this.readout, this.placeholder);
    this.offscreen = document.createElement("canvas");
  }

  setPlaceholder(text) {
    this.placeholder.textContent = text || "";
    this.placeholder.hidden = !text;
  }

  /** Show a float array ``{shape: [h, w], values}``; keeps zoom when the size is unchanged. */
  setArray(array) {
    const [height, width] = array.shape.length === 1 ? [1, array.shape[0]] : array.shape;
    if (!this.image || this.image.width !== width || this.image.height !== height) this.zoom = null;
    this.image = { width, height, values: array.values };
    this.rgb = null;
    this.setPlaceholder("");
    this.colour();
  }

  /** Show precomputed colours (e.g. a COM field) while keeping ``values`` for the read-out. */
  setRGB(rgba, width, height, values) {
    if (!this.image || this.image.width !== width || this.image.height !== height) this.zoom = null;
    this.image = { width, height, values };
    this.rgb = rgba;
    this.setPlaceholder("");
    this.colour();
  }

  clear(text) {
    this.image = null;
    this.rgb = null;
    this.setPlaceholder(text);
    this.draw();
  }

  setDisplay(changes) {
    Object.assign(this.display, changes);
    this.colour();
  }

  /** Colour the array into the offscreen canvas at native resolution, then draw. */
  colour() {
    if (!this.image) return this.draw();
    const { width, height, values } = this.image;
    this.offscreen.width = width;
    this.offscreen.height = height;
    const ctx = this.offscreen.getContext("2d");
    const out = ctx.createImageData(width, height);
    let stats = null;
    this.mapping = null;
    if (this.rgb) out.data.set(this.rgb);
    else stats = this.colourInto(out.data, values);
    ctx.putImageData(out, 0, 0);
    if (this.onRender) this.onRender(stats);
    this.draw();
  }

  colourInto(rgba, values) {
    const sorted = sortedSample(values);
    const lo = percentile(sorted, this.display.lo);
    const hi = percentile(sorted, this.display.hi);
    this.mapping = valueMapping({ lo, hi, log: this.display.log });
    colourise(rgba, values, this.display.cmap, this.mapping.scale);
    return { lo, hi, mapping: this.mapping, hist: histogram(sorted), count: sorted.length };
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const { clientWidth: w, clientHeight: h } = this.root;
    this.canvas.width = Math.max(1, Math.round(w * dpr));
    this.canvas.height = Math.max(1, Math.round(h * dpr));
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    this.draw();
  }

  /** Current transform: CSS px per image pixel and the offset of the image's corner. */
  transform() {
    if (this.zoom) return this.zoom;
    const { clientWidth: W, clientHeight: H } = this.root;
    const w = this.image ? this.image.width : 1, h = this.image ? this.image.height : 1;
    const scale = Math.min(W / w, H / h);
    return { scale, ox: (W - w * scale) / 2, oy: (H - h * scale) / 2 };
  }

  toImage(clientX, clientY) {
    const r = this.canvas.getBoundingClientRect();
    const { scale, ox, oy } = this.transform();
    return { x: (clientX - r.left - ox) / scale - 0.5, y: (clientY - r.top - oy) / scale - 0.5 };
  }

  toScreen(x, y) {
    const { scale, ox, oy } = this.transform();
    return { x: ox + (x + 0.5) * scale, y: oy + (y + 0.5) * scale };
  }

  get scale() {
    return this.transform().scale;
  }

  draw() {
    const ctx = this.canvas.getContext("2d");
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (this.image) {
      const { scale, ox, oy } = this.transform();
      ctx.imageSmoothingEnabled = false; // show pixels as pixels
      ctx.drawImage(this.offscreen, ox, oy, this.image.width * scale, this.image.height * scale);
    }
    if (this.tool) this.tool.draw(ctx, this);
    if (this.image) for (const overlay of this.overlays) overlay.draw(ctx, this);
  }

  valueAt(x, y) {
    if (!this.image) return undefined;
    const { width, height, values } = this.image;
    if (x < 0 || y < 0 || x >= width || y >= height) return undefined;
    return values[y * width + x];
  }

  showReadout(pt) {
    const x = Math.round(pt.x), y = Math.round(pt.y);
    const v = this.valueAt(x, y);
    if (v === undefined) this.readout.textContent = "";
    else if (Number.isNaN(v)) this.readout.textContent = `y ${y}, x ${x}: ${this.nanText}`;
    else if (this.formatReadout) this.readout.textContent = this.formatReadout({ x, y, value: v });
    else this.readout.textContent = `y ${y}, x ${x}: ${formatValue(v)}`;
    if (this.onHover) this.onHover({ x, y, value: v });
  }

  bindPointer() {
    const c = this.canvas;
    c.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    c.addEventListener("pointerdown", (e) => this.onDown(e));
    c.addEventListener("pointermove", (e) => this.onMove(e));
    c.addEventListener("pointerup", (e) => this.onUp(e));
    c.addEventListener("pointercancel", (e) => this.onUp(e));
    c.addEventListener("pointerleave", () => { this.readout.textContent = ""; });
    c.addEventListener("dblclick", (e) => this.tool && this.tool.dblclick && this.tool.dblclick(this.toImage(e.clientX, e.clientY), e));
    c.addEventListener("keydown", (e) => this.tool && this.tool.keydown && this.tool.keydown(e));
    c.addEventListener("auxclick", (e) => e.preventDefault());
  }

  onWheel(e) {
    if (!this.image) return;
    e.preventDefault();
    const r = this.canvas.getBoundingClientRect();
    const mx = e.clientX - r.left, my = e.clientY - r.top;
    const t = this.transform();
    const factor = Math.exp(-e.deltaY * 0.0015);
    const scale = Math.min(200, Math.max(0.05, t.scale * factor));
    // keep the image point under the cursor where it is
    const ix = (mx - t.ox) / t.scale, iy = (my - t.oy) / t.scale;
    this.zoom = { scale, ox: mx - ix * scale, oy: my - iy * scale };
    this.draw();
  }

  resetZoom() {
    this.zoom = null;
    this.draw();
  }

  onDown(e) {
    this.canvas.focus({ preventScroll: true });
    const pt = this.toImage(e.clientX, e.clientY);
    this.press = { x: e.clientX, y: e.clientY, moved: false, mode: null };
    if (e.button === 1 || (e.button === 0 && spaceDown)) {
      e.preventDefault();
      this.press.mode = "pan";
      this.press.start = { ...this.transform() };
    } else if (e.button === 0 && this.tool && this.tool.pointerdown(pt, e)) {
      this.press.mode = "tool";
    } else if (e.button !== 0) {
      this.press = null;
      return;
    }
    this.canvas.setPointerCapture(e.pointerId);
  }

  onMove(e) {
    const pt = this.toImage(e.clientX, e.clientY);
    this.showReadout(pt);
    const p = this.press;
    if (!p) {
      if (this.tool && this.tool.hover) this.canvas.style.cursor = this.tool.hover(pt) || "";
      return;
    }
    if (Math.hypot(e.clientX - p.x, e.clientY - p.y) > CLICK_SLOP) p.moved = true;
    if (p.mode === "pan") {
      this.zoom = { scale: p.start.scale, ox: p.start.ox + e.clientX - p.x, oy: p.start.oy + e.clientY - p.y };
      this.draw();
    } else if (p.mode === "tool") {
      this.tool.pointermove(pt, e);
    }
  }

  onUp(e) {
    const p = this.press;
    this.press = null;
    if (!p) return;
    const pt = this.toImage(e.clientX, e.clientY);
    if (p.mode === "tool") this.tool.pointerup(pt, e, !p.moved);
    else if (p.mode === null && !p.moved && e.type === "pointerup" && this.onClick) this.onClick(pt, e);
  }
}

export function formatValue(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(3);
  return Number.isInteger(v) ? String(v) : v.toFixed(a >= 100 ? 1 : 4);
}
