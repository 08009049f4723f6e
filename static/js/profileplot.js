// A 1-d plot in SVG: the values of a 1-d result (fem's V(k)), or a profile along the last
// axis of a scan-shaped result at one scan position (the radial profile at the picked frame).
// Axes with ticks and labels (units where known), and a cursor that follows the pointer and
// reads out the nearest point; a click on a point reports its index (the page shows that
// channel). Plain SVG elements, so the browser tests can read the ticks back.

const NS = "http://www.w3.org/2000/svg";
const MARGIN = { left: 64, right: 14, top: 12, bottom: 40 };

function el(name, attrs = {}, text = null) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

/** About ``count`` round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^n). */
export function niceTicks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  return ticks;
}

export function tickText(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
  return String(Number(v.toPrecision(6)));
}

export class ProfilePlot {
  /** ``onPick(index)``: a click on the plot chose point ``index``. */
  constructor(root, { onPick = null } = {}) {
    this.root = root;
    this.onPick = onPick;
    this.data = null;
    this.svg = el("svg", { class: "plot-svg", role: "img" });
    this.readout = document.createElement("div");
    this.readout.className = "plot-readout";
    root.append(this.svg, this.readout);
    this.svg.addEventListener("pointermove", (e) => this.cursorAt(e));
    this.svg.addEventListener("pointerleave", () => this.hideCursor());
    this.svg.addEventListener("click", (e) => {
      const i = this.nearest(e);
      if (i !== null && this.onPick) this.onPick(i);
    });
    new ResizeObserver(() => this.data && this.draw()).observe(root);
  }

  /**
   * Plot ``y`` over ``x`` (both arrays of numbers; NaN values leave gaps). ``xLabel``,
   * ``yLabel``: axis titles with their units; ``title``: what the plot is, said above it.
   */
  show({ x, y, xLabel, yLabel, title }) {
    this.data = { x: Array.from(x), y: Array.from(y), xLabel, yLabel, title };
    this.root.setAttribute("aria-label", title);
    this.svg.setAttribute("aria-label", title);
    this.draw();
    this.hideCursor();
  }

  clear() {
    this.data = null;
    this.svg.replaceChildren();
    this.readout.textContent = "";
  }

  draw() {
    const { x, y, xLabel, yLabel } = this.data;
    const W = Math.max(200, this.root.clientWidth), H = Math.max(120, this.root.clientHeight - 20);
    this.svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    this.svg.setAttribute("width", W);
    this.svg.setAttribute("height", H);
    const finite = y.filter(Number.isFinite);
    const [x0, x1] = [Math.min(...x), Math.max(...x)];
    let [y0, y1] = finite.length ? [Math.min(...finite), Math.max(...finite)] : [0, 1];
    if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
    const px = (v) => MARGIN.left + ((v - x0) / ((x1 - x0) || 1)) * (W - MARGIN.left - MARGIN.right);
    const py = (v) => H - MARGIN.bottom - ((v - y0) / (y1 - y0)) * (H - MARGIN.top - MARGIN.bottom);
    this.scale = { px, py, W, H };
    const nodes = [];
    const axes = el("g", { class: "plot-axes" });
    axes.append(el("line", { x1: MARGIN.left, y1: H - MARGIN.bottom, x2: W - MARGIN.right, y2: H - MARGIN.bottom }));
    axes.append(el("line", { x1: MARGIN.left, y1: MARGIN.top, x2: MARGIN.left, y2: H - MARGIN.bottom }));
    for (const t of niceTicks(x0, x1)) {
      axes.append(el("line", { x1: px(t), x2: px(t), y1: H - MARGIN.bottom, y2: H - MARGIN.bottom + 4 }));
      axes.append(el("text", { class: "tick x-tick", x: px(t), y: H - MARGIN.bottom + 15, "text-anchor": "middle" }, tickText(t)));
    }
    for (const t of niceTicks(y0, y1, 4)) {
      axes.append(el("line", { x1: MARGIN.left - 4, x2: MARGIN.left, y1: py(t), y2: py(t) }));
      axes.append(el("text", { class: "tick y-tick", x: MARGIN.left - 6, y: py(t) + 4, "text-anchor": "end" }, tickText(t)));
    }
    axes.append(el("text", { class: "axis-label x-label", x: (MARGIN.left + W - MARGIN.right) / 2, y: H - 4, "text-anchor": "middle" }, xLabel));
    axes.append(el("text", {
      class: "axis-label y-label", x: 12, y: (MARGIN.top + H - MARGIN.bottom) / 2, "text-anchor": "middle",
      transform: `rotate(-90 12 ${(MARGIN.top + H - MARGIN.bottom) / 2})`,
    }, yLabel));
    nodes.push(axes, el("path", { class: "plot-line", d: linePath(x, y, px, py) }));
    this.cursor = el("g", { class: "plot-cursor", visibility: "hidden" });
    this.cursor.append(el("line", { y1: MARGIN.top, y2: H - MARGIN.bottom }), el("circle", { r: 4 }));
    nodes.push(this.cursor);
    this.svg.replaceChildren(...nodes);
  }

  /** Index of the point nearest the pointer along x (null: no data). */
  nearest(e) {
    if (!this.data || !this.scale) return null;
    const r = this.svg.getBoundingClientRect();
    const sx = ((e.clientX - r.left) / r.width) * this.scale.W;
    let best = null, bestDist = Infinity;
    this.data.x.forEach((v, i) => {
      const d = Math.abs(this.scale.px(v) - sx);
      if (d < bestDist) [best, bestDist] = [i, d];
    });
    return best;
  }

  cursorAt(e) {
    const i = this.nearest(e);
    if (i === null) return;
    this.showCursor(i);
  }

  /** Put the cursor on point ``i`` and read it out. */
  showCursor(i) {
    const { x, y, xLabel, yLabel } = this.data;
    const cx = this.scale.px(x[i]);
    const [line, dot] = this.cursor.children;
    line.setAttribute("x1", cx);
    line.setAttribute("x2", cx);
    dot.setAttribute("cx", cx);
    dot.setAttribute("cy", Number.isFinite(y[i]) ? this.scale.py(y[i]) : -10);
    this.cursor.setAttribute("visibility", "visible");
    const value = Number.isFinite(y[i]) ? tickText(y[i]) : "no value";
    this.readout.textContent = `${xLabel} ${tickText(x[i])}: ${yLabel} ${value}`;
  }

  hideCursor() {
    if (this.cursor) this.cursor.setAttribute("visibility", "hidden");
    this.readout.textContent = this.data ? this.data.title : "";
  }
}

function linePath(x, y, px, py) {
  let d = "", pen = false;
  x.forEach((xv, i) => {
    if (!Number.isFinite(y[i])) { pen = false; return; }
    d += `${pen ? "L" : "M"}${px(xv).toFixed(1)},${py(y[i]).toFixed(1)}`;
    pen = true;
  });
  return d;
}
