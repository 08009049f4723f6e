// Two pinned results side by side, or their difference. Both images are coloured with the same
// limits (the 1st and 99th percentile of their values together), so equal values look equal;
// a cursor over one shows the same pixel in the other with both values; zoom and pan move
// both. The difference A − B uses a diverging map with limits symmetric about zero.

import { ImageView, formatValue } from "./imageview.js";
import { colourise, cssGradient } from "./colormap.js";
import { percentile, sortedSample } from "./stats.js";
import { fetchNpy } from "./npy.js";

const LOW = 1, HIGH = 99; // percent: the contrast the analysis page starts with

/** An image view coloured between fixed ``limits`` [lo, hi] (not its own percentiles). */
class LimitedView extends ImageView {
  constructor(root, options) {
    super(root, options);
    this.limits = [0, 1];
    this.cursor = null; // {x, y}: the linked cursor, drawn as a cross
    this.tool = { pointerdown: () => false, draw: (ctx) => this.drawCursor(ctx) };
  }

  setLimits(limits, cmap) {
    this.limits = limits;
    this.display.cmap = cmap;
    this.colour();
  }

  colourInto(rgba, values) {
    const [lo, hi] = this.limits;
    colourise(rgba, values, this.display.cmap, (v) => (v - lo) / ((hi - lo) || 1));
    return null;
  }

  drawCursor(ctx) {
    if (!this.cursor || !this.image) return;
    const { x, y } = this.toScreen(this.cursor.x, this.cursor.y);
    const half = Math.max(3, this.scale / 2);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1;
    ctx.strokeRect(x - half, y - half, 2 * half, 2 * half);
    ctx.beginPath();
    ctx.moveTo(x - half - 6, y); ctx.lineTo(x - half, y);
    ctx.moveTo(x + half, y); ctx.lineTo(x + half + 6, y);
    ctx.moveTo(x, y - half - 6); ctx.lineTo(x, y - half);
    ctx.moveTo(x, y + half); ctx.lineTo(x, y + half + 6);
    ctx.stroke();
  }
}

/** ``arr`` as the server's preview image (apps/results/preview.py): 2-d, trailing axes summed. */
export function previewOf(arr) {
  const shape = arr.shape;
  if (shape.length === 2) return arr;
  if (shape.length < 2) return { shape: [1, shape[0] || 1], values: arr.values };
  const [h, w] = shape;
  const m = shape.slice(2).reduce((a, b) => a * b, 1);
  const out = new Float32Array(h * w);
  for (let i = 0; i < h * w; i++) {
    let s = 0;
    for (let k = 0; k < m; k++) s += arr.values[i * m + k];
    out[i] = s;
  }
  return { shape: [h, w], values: out };
}

/** Limits over the values of several images together: [p1, p99] of their finite values. */
export function sharedLimits(...images) {
  const all = new Float32Array(images.reduce((n, im) => n + im.values.length, 0));
  let o = 0;
  for (const im of images) { all.set(im.values, o); o += im.values.length; }
  const sorted = sortedSample(all);
  const lo = percentile(sorted, LOW), hi = percentile(sorted, HIGH);
  return Number.isFinite(lo) ? [lo, hi] : [0, 1];
}

/** Limits symmetric about zero for a difference: ± the 99th percentile of |d|. */
export function differenceLimits(diff) {
  const abs = diff.values.map((v) => Math.abs(v));
  const m = percentile(sortedSample(abs), HIGH);
  return Number.isFinite(m) && m > 0 ? [-m, m] : [-1, 1];
}

export function difference(a, b) {
  const values = new Float32Array(a.values.length);
  for (let i = 0; i < values.length; i++) values[i] = a.values[i] - b.values[i];
  return { shape: a.shape, values };
}

export class Comparison {
  /** ``root``: an empty element; ``analyses``: the declarations (for each job's preview). */
  constructor(root, { analyses, onUnpin }) {
    this.root = root;
    this.analyses = analyses;
    this.onUnpin = onUnpin;
    this.pinned = []; // up to two {job, image}
    this.mode = "side";
    this.build();
  }

  build() {
    this.root.innerHTML = `
      <div class="cmp-head">
        <strong>Compare</strong>
        <label><input type="radio" name="cmp-mode" value="side" checked> side by side</label>
        <label><input type="radio" name="cmp-mode" value="diff"> difference A − B</label>
        <span class="cmp-bar"><span class="cmp-lo"></span><span class="cmp-gradient"></span><span class="cmp-hi"></span></span>
        <button type="button" class="secondary small cmp-clear">Unpin all</button>
      </div>
      <p class="cmp-note muted" role="status"></p>
      <div class="cmp-views">
        <figure class="cmp-a"><figcaption></figcaption><div class="viewer" aria-label="Pinned result A"></div></figure>
        <figure class="cmp-b"><figcaption></figcaption><div class="viewer" aria-label="Pinned result B"></div></figure>
        <figure class="cmp-diff" hidden><figcaption>A − B</figcaption><div class="viewer" aria-label="Difference A − B"></div></figure>
      </div>
      <div class="cmp-readout" aria-live="off"></div>`;
    const q = (s) => this.root.querySelector(s);
    this.views = {
      a: new LimitedView(q(".cmp-a .viewer"), { onHover: (p) => this.hover(p) }),
      b: new LimitedView(q(".cmp-b .viewer"), { onHover: (p) => this.hover(p) }),
      diff: new LimitedView(q(".cmp-diff .viewer"), { onHover: (p) => this.hover(p) }),
    };
    for (const view of Object.values(this.views)) this.link(view);
    for (const radio of this.root.querySelectorAll("input[name=cmp-mode]")) {
      radio.addEventListener("change", (e) => { this.mode = e.target.value; this.render(); });
    }
    q(".cmp-clear").addEventListener("click", () => { this.pinned = []; this.render(); this.onUnpin(); });
  }

  /** Zoom and pan of one view moves the others; leaving it hides the cursor. */
  link(view) {
    const follow = () => {
      for (const other of Object.values(this.views)) {
        if (other === view) continue;
        other.zoom = view.zoom && { ...view.zoom };
        other.draw();
      }
    };
    view.canvas.addEventListener("wheel", follow);
    view.canvas.addEventListener("pointermove", () => view.press && follow());
    view.canvas.addEventListener("pointerleave", () => this.hover(null));
  }

  isPinned(jobId) {
    return this.pinned.some((p) => p.job.id === jobId);
  }

  /** Pin ``job`` (a third pin lets go of the oldest); resolves once its image is loaded. */
  async pin(job) {
    if (this.isPinned(job.id)) return;
    const spec = this.analyses.find((a) => a.name === job.analysis);
    if (!spec) {
      this.note(`Job ${job.id}'s analysis ${job.analysis} is not installed here any more.`);
      return;
    }
    const entry = { job, spec, image: null };
    this.pinned = [...this.pinned, entry].slice(-2);
    this.render();
    try {
      entry.image = previewOf(await fetchNpy(`/api/jobs/${job.id}/results/${spec.preview}.npy`));
    } catch (err) {
      this.pinned = this.pinned.filter((p) => p !== entry);
      this.note(`Could not load job ${job.id}'s result: ${err.message}`);
    }
    this.render();
  }

  unpin(jobId) {
    this.pinned = this.pinned.filter((p) => p.job.id !== jobId);
    this.render();
  }

  note(text) {
    this.root.querySelector(".cmp-note").textContent = text;
  }

  render() {
    const q = (s) => this.root.querySelector(s);
    this.root.hidden = this.pinned.length === 0;
    const [a, b] = this.pinned;
    q(".cmp-a figcaption").textContent = a ? `A: ${caption(a.job)}` : "";
    q(".cmp-b figcaption").textContent = b ? `B: ${caption(b.job)}` : "B: pin another result";
    const ready = this.pinned.filter((p) => p.image);
    const diffMode = this.mode === "diff";
    q(".cmp-a").hidden = diffMode && ready.length === 2;
    q(".cmp-b").hidden = diffMode && ready.length === 2;
    q(".cmp-diff").hidden = !(diffMode && ready.length === 2);
    this.note(ready.length < 2 ? "Pin a second result to compare the two." : "");
    if (!ready.length) return;
    if (diffMode && ready.length === 2) this.showDifference(a.image, b.image);
    else this.showBoth(ready);
  }

  showBoth(ready) {
    const signed = ready.some((p) => isSigned(p.spec));
    const cmap = signed ? "coolwarm" : "viridis";
    const limits = sharedLimits(...ready.map((p) => p.image));
    const views = [this.views.a, this.views.b];
    ready.forEach((p, i) => { views[i].setArray(p.image); views[i].setLimits(limits, cmap); });
    if (ready.length < 2) this.views.b.clear("");
    this.showBar(limits, cmap, "same for A and B");
  }

  showDifference(a, b) {
    if (a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1]) {
      this.views.diff.clear(`A is ${a.shape.join(" × ")}, B is ${b.shape.join(" × ")}: ` +
        "only results of the same shape have a difference.");
      this.showBar(null);
      return;
    }
    const diff = difference(a, b);
    const limits = differenceLimits(diff);
    this.views.diff.setArray(diff);
    this.views.diff.setLimits(limits, "coolwarm");
    this.showBar(limits, "coolwarm", "A − B");
  }

  showBar(limits, cmap, label) {
    const q = (s) => this.root.querySelector(s);
    q(".cmp-bar").hidden = !limits;
    if (!limits) return;
    q(".cmp-lo").textContent = formatValue(limits[0]);
    q(".cmp-hi").textContent = formatValue(limits[1]);
    q(".cmp-gradient").style.background = cssGradient(cmap);
    q(".cmp-bar").title = `Colour limits (${label})`;
  }

  /** The linked cursor: the same pixel marked in every view, the values read out. */
  hover(p) {
    const cursor = p && { x: p.x, y: p.y };
    for (const view of Object.values(this.views)) { view.cursor = cursor; view.draw(); }
    const out = this.root.querySelector(".cmp-readout");
    if (!p) { out.textContent = ""; return; }
    const { a, b, diff } = this.views;
    const parts = [`y ${p.y}, x ${p.x}`];
    for (const [name, view] of [["A", a], ["B", b], ["A − B", diff]]) {
      const v = view.image && !view.root.closest("figure").hidden ? view.valueAt(p.x, p.y) : undefined;
      if (v !== undefined) parts.push(`${name}: ${formatValue(v)}`);
    }
    out.textContent = parts.join(" · ");
  }
}

function isSigned(spec) {
  const preview = spec && spec.results.find((r) => r.name === spec.preview);
  return Boolean(preview && preview.display === "signed image");
}

export function caption(job) {
  return `#${job.id} ${job.analysis}${job.summary ? ` · ${job.summary}` : ""}`;
}
