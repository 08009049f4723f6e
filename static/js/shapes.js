// Detector (and scan ROI) shapes that the user drags and resizes on an ImageView.
// Each shape keeps its parameters in the names the analysis API expects, so what the
// editor emits can be sent as job parameters without translation.

const HANDLE = 6; // CSS px: grab radius of a handle
const STROKE = "#22d3ee";
const round1 = (v) => Math.round(v * 10) / 10;

/** Circle-like shapes: a centre and one or more radii (disk, ring, COM disk, radial). */
class Circles {
  constructor(params, radii) {
    this.p = { ...params };
    this.radii = radii; // parameter names, outermost last
  }
  params() { return { ...this.p }; }
  handles() {
    const hs = [{ name: "centre", x: this.p.cx, y: this.p.cy }];
    this.radii.forEach((name, i) => {
      const a = (i - this.radii.length + 1) * (Math.PI / 5); // outer at 0°, inner ones above it
      hs.push({ name, x: this.p.cx + this.p[name] * Math.cos(a), y: this.p.cy + this.p[name] * Math.sin(a) });
    });
    return hs;
  }
  contains(pt) {
    const outer = this.p[this.radii[this.radii.length - 1]];
    return Math.hypot(pt.x - this.p.cx, pt.y - this.p.cy) <= outer;
  }
  moveBy(dx, dy) {
    this.p.cx = round1(this.p.cx + dx);
    this.p.cy = round1(this.p.cy + dy);
  }
  dragHandle(name, pt) {
    if (name === "centre") { this.p.cx = round1(pt.x); this.p.cy = round1(pt.y); return; }
    const i = this.radii.indexOf(name);
    let r = round1(Math.hypot(pt.x - this.p.cx, pt.y - this.p.cy));
    const inner = i > 0 ? this.p[this.radii[i - 1]] : 0;
    const outer = i < this.radii.length - 1 ? this.p[this.radii[i + 1]] : Infinity;
    r = Math.min(Math.max(r, i > 0 ? inner + 0.5 : 0.5), outer - 0.5);
    this.p[name] = round1(r);
  }
  draw(ctx, view) {
    const c = view.toScreen(this.p.cx, this.p.cy);
    for (const name of this.radii) {
      if (this.p[name] > 0) strokeCircle(ctx, c.x, c.y, this.p[name] * view.scale);
    }
  }
}

export class Disk extends Circles {
  constructor(p) { super(p, ["r"]); }
}

export class Ring extends Circles {
  constructor(p) { super(p, ["ri", "ro"]); }
}

/** The COM disk: a disk (optionally a ring via ``ri``) with a cross at the reference centre. */
export class ComDisk extends Circles {
  constructor(p) { super({ ri: 0, ...p }, ["ri", "r"]); }
  handles() {
    return super.handles().filter((h) => h.name !== "ri" || this.p.ri > 0);
  }
  draw(ctx, view) {
    super.draw(ctx, view);
    const c = view.toScreen(this.p.cx, this.p.cy);
    const s = 8;
    strokePath(ctx, [[c.x - s, c.y], [c.x + s, c.y]]);
    strokePath(ctx, [[c.x, c.y - s], [c.x, c.y + s]]);
  }
}

/** The beam's centre (``cx, cy``): a cross to drag onto the bright-field disk's centre. */
export class BeamCentre extends Circles {
  constructor(p) { super(p, []); }
  contains(pt) { return Math.hypot(pt.x - this.p.cx, pt.y - this.p.cy) <= 3; }
  draw(ctx, view) {
    const c = view.toScreen(this.p.cx, this.p.cy);
    const s = 12;
    strokePath(ctx, [[c.x - s, c.y], [c.x + s, c.y]]);
    strokePath(ctx, [[c.x, c.y - s], [c.x, c.y + s]]);
  }
}

/** Radial profile: a ring split into ``bins`` rings of equal width (drawn faintly). */
export class Radial extends Circles {
  constructor(p, bins = 16) { super(p, ["ri", "ro"]); this.bins = bins; }
  draw(ctx, view) {
    super.draw(ctx, view);
    const c = view.toScreen(this.p.cx, this.p.cy);
    const step = (this.p.ro - this.p.ri) / this.bins;
    if (step * view.scale < 3) return; // too dense to be useful
    ctx.save();
    ctx.globalAlpha = 0.35;
    for (let k = 1; k < this.bins; k++) strokeCircle(ctx, c.x, c.y, (this.p.ri + k * step) * view.scale, false);
    ctx.restore();
  }
}

/**
 * A lattice of Bragg disks (the strain analysis): the zero order ``(cx, cy)`` and the vectors
 * ``a = (ax, ay)``, ``b = (bx, by)`` put a disk of radius ``r`` at zero + i·a + j·b. Handles: the
 * zero order (moves the lattice), the ends of a and b, and the radius. Every disk of the lattice
 * is drawn faintly, zero, a and b strongly with their search circles (dashed), and the
 * descan circle (dotted) around the zero order.
 */
export class Lattice {
  constructor(p) { this.p = { ...p }; }
  params() { return { ...this.p }; }
  handles() {
    const { cx, cy, ax, ay, bx, by, r } = this.p;
    const diagonal = Math.SQRT1_2 * r; // the radius handle sits on the zero order's disk, up-left
    return [
      { name: "centre", x: cx, y: cy },
      { name: "a", x: cx + ax, y: cy + ay },
      { name: "b", x: cx + bx, y: cy + by },
      { name: "r", x: cx - diagonal, y: cy - diagonal },
    ];
  }
  contains(pt) { return Math.hypot(pt.x - this.p.cx, pt.y - this.p.cy) <= Math.max(this.p.r, 2); }
  moveBy(dx, dy) {
    this.p.cx = round1(this.p.cx + dx);
    this.p.cy = round1(this.p.cy + dy);
  }
  dragHandle(name, pt) {
    const { cx, cy } = this.p;
    if (name === "centre") { this.p.cx = round1(pt.x); this.p.cy = round1(pt.y); }
    else if (name === "r") this.p.r = round1(Math.max(0.5, Math.hypot(pt.x - cx, pt.y - cy)));
    else { this.p[`${name}x`] = round1(pt.x - cx); this.p[`${name}y`] = round1(pt.y - cy); }
  }
  /** Lattice points ``{i, j, x, y}`` near a ``height`` x ``width`` frame (at most 41 per axis). */
  points(height, width) {
    const { cx, cy, ax, ay, bx, by } = this.p;
    const shortest = Math.min(Math.hypot(ax, ay), Math.hypot(bx, by));
    const det = ax * by - ay * bx;
    if (!(shortest >= 2) || Math.abs(det) < 1e-6) return [];
    // steps along a and b that cover the frame: its diagonal over the cell's smaller height
    const longest = Math.max(Math.hypot(ax, ay), Math.hypot(bx, by));
    const n = Math.min(20, Math.ceil((Math.hypot(height, width) * longest) / Math.abs(det)));
    const out = [];
    for (let i = -n; i <= n; i++) {
      for (let j = -n; j <= n; j++) {
        const x = cx + i * ax + j * bx, y = cy + i * ay + j * by;
        if (x > -this.p.r && x < width + this.p.r && y > -this.p.r && y < height + this.p.r) out.push({ i, j, x, y });
      }
    }
    return out;
  }
  draw(ctx, view) {
    const { cx, cy, ax, ay, bx, by, r } = this.p;
    const radius = r * view.scale;
    ctx.save();
    ctx.globalAlpha = 0.45;
    const image = view.image || { height: 0, width: 0 };
    for (const q of this.points(image.height, image.width)) {
      if ((q.i === 0 && q.j === 0) || (q.i === 1 && q.j === 0) || (q.i === 0 && q.j === 1)) continue;
      const s = view.toScreen(q.x, q.y);
      strokeCircle(ctx, s.x, s.y, radius, false);
    }
    ctx.restore();
    const zero = view.toScreen(cx, cy);
    for (const [x, y] of [[cx, cy], [cx + ax, cy + ay], [cx + bx, cy + by]]) {
      const s = view.toScreen(x, y);
      strokeCircle(ctx, s.x, s.y, radius);
      if (this.p.search > 0) {
        ctx.save();
        ctx.setLineDash([3, 3]);
        strokeCircle(ctx, s.x, s.y, this.p.search * view.scale, false);
        ctx.restore();
      }
      if (x !== cx || y !== cy) strokePath(ctx, [[zero.x, zero.y], [s.x, s.y]]);
    }
    if (this.p.descan > 0) { // how far the zero order is looked for
      ctx.save();
      ctx.setLineDash([1, 4]);
      strokeCircle(ctx, zero.x, zero.y, this.p.descan * view.scale, false);
      ctx.restore();
    }
  }
}

/** Whole-pixel rectangle ``{y, x, height, width}``; edges sit on pixel boundaries. */
export class Rect {
  constructor(p) { this.p = { ...p }; }
  params() { return { ...this.p }; }
  edges() {
    return { top: this.p.y, left: this.p.x, bottom: this.p.y + this.p.height, right: this.p.x + this.p.width };
  }
  handles() {
    const e = this.edges();
    return [
      { name: "tl", x: e.left - 0.5, y: e.top - 0.5 }, { name: "tr", x: e.right - 0.5, y: e.top - 0.5 },
      { name: "bl", x: e.left - 0.5, y: e.bottom - 0.5 }, { name: "br", x: e.right - 0.5, y: e.bottom - 0.5 },
    ];
  }
  contains(pt) {
    const e = this.edges();
    return pt.x >= e.left - 0.5 && pt.x <= e.right - 0.5 && pt.y >= e.top - 0.5 && pt.y <= e.bottom - 0.5;
  }
  moveBy(dx, dy) {
    this.p.x += Math.round(dx);
    this.p.y += Math.round(dy);
  }
  dragHandle(name, pt) {
    const e = this.edges();
    const bx = Math.round(pt.x + 0.5), by = Math.round(pt.y + 0.5); // nearest pixel boundary
    if (name.includes("l")) e.left = Math.min(bx, e.right - 1); else e.right = Math.max(bx, e.left + 1);
    if (name.includes("t")) e.top = Math.min(by, e.bottom - 1); else e.bottom = Math.max(by, e.top + 1);
    this.p = { y: e.top, x: e.left, height: e.bottom - e.top, width: e.right - e.left };
  }
  draw(ctx, view) {
    const e = this.edges();
    const a = view.toScreen(e.left - 0.5, e.top - 0.5), b = view.toScreen(e.right - 0.5, e.bottom - 0.5);
    strokePath(ctx, [[a.x, a.y], [b.x, a.y], [b.x, b.y], [a.x, b.y]], true);
  }
}

export class Point {
  constructor(p) { this.p = { ...p }; }
  params() { return { ...this.p }; }
  handles() { return []; }
  contains(pt) { return Math.abs(pt.x - this.p.x) <= 1.5 && Math.abs(pt.y - this.p.y) <= 1.5; }
  moveBy(dx, dy) {
    this.p.x += Math.round(dx);
    this.p.y += Math.round(dy);
  }
  moveTo(pt) { this.p = { y: Math.round(pt.y), x: Math.round(pt.x) }; }
  draw(ctx, view) {
    const a = view.toScreen(this.p.x - 0.5, this.p.y - 0.5);
    const s = Math.max(view.scale, 3);
    strokePath(ctx, [[a.x, a.y], [a.x + s, a.y], [a.x + s, a.y + s], [a.x, a.y + s]], true);
    const c = view.toScreen(this.p.x, this.p.y);
    strokePath(ctx, [[c.x - 10, c.y], [c.x - 4, c.y]]);
    strokePath(ctx, [[c.x + 4, c.y], [c.x + 10, c.y]]);
  }
}

/** Polygon ``{points: [[y, x], ...]}``: click to add vertices, double-click to close. */
export class Polygon {
  constructor(p) {
    this.p = { points: (p.points || []).map((q) => [...q]) };
    this.closed = this.p.points.length >= 3;
    this.cursor = null; // rubber band while drawing
  }
  params() { return { points: this.p.points.map((q) => [...q]) }; }
  handles() { return this.p.points.map(([y, x], i) => ({ name: i, x, y })); }
  contains(pt) {
    if (!this.closed) return false;
    let inside = false;
    const pts = this.p.points;
    for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
      const [yi, xi] = pts[i], [yj, xj] = pts[j];
      if ((yi > pt.y) !== (yj > pt.y) && pt.x < ((xj - xi) * (pt.y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }
  moveBy(dx, dy) { this.p.points = this.p.points.map(([y, x]) => [round1(y + dy), round1(x + dx)]); }
  dragHandle(i, pt) { this.p.points[i] = [round1(pt.y), round1(pt.x)]; }
  addVertex(pt) {
    const last = this.p.points[this.p.points.length - 1];
    if (last && Math.hypot(last[0] - pt.y, last[1] - pt.x) < 1) return; // the clicks of a double-click
    this.p.points.push([round1(pt.y), round1(pt.x)]);
  }
  draw(ctx, view) {
    const pts = this.p.points.map(([y, x]) => { const s = view.toScreen(x, y); return [s.x, s.y]; });
    if (!this.closed && this.cursor) { const s = view.toScreen(this.cursor.x, this.cursor.y); pts.push([s.x, s.y]); }
    if (pts.length > 1) strokePath(ctx, pts, this.closed);
  }
}

function strokePath(ctx, pts, close = false) {
  ctx.beginPath();
  pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  if (close) ctx.closePath();
  outline(ctx);
}

function strokeCircle(ctx, x, y, r, strong = true) {
  ctx.beginPath();
  ctx.arc(x, y, Math.max(r, 0.5), 0, 2 * Math.PI);
  outline(ctx, strong);
}

function outline(ctx, strong = true) {
  // a dark halo under the line keeps it visible on any colour map
  ctx.lineWidth = strong ? 3.5 : 2.5;
  ctx.strokeStyle = "rgba(0,0,0,0.6)";
  ctx.stroke();
  ctx.lineWidth = strong ? 1.5 : 1;
  ctx.strokeStyle = STROKE;
  ctx.stroke();
}

export function drawHandles(ctx, view, shape) {
  for (const h of shape.handles()) {
    const s = view.toScreen(h.x, h.y);
    ctx.fillStyle = "#fff";
    ctx.strokeStyle = "#0f172a";
    ctx.lineWidth = 1;
    ctx.fillRect(s.x - 4, s.y - 4, 8, 8);
    ctx.strokeRect(s.x - 4, s.y - 4, 8, 8);
  }
}

/** Which part of ``shape`` is under ``pt``: {handle} | {body: true} | null. */
export function hitTest(shape, view, pt) {
  const ps = view.toScreen(pt.x, pt.y);
  for (const h of shape.handles()) {
    const s = view.toScreen(h.x, h.y);
    if (Math.hypot(s.x - ps.x, s.y - ps.y) <= HANDLE) return { handle: h.name };
  }
  return shape.contains(pt) ? { body: true } : null;
}

const FACTORIES = {
  disk: (p) => new Disk(p),
  ring: (p) => new Ring(p),
  rect: (p) => new Rect(p),
  point: (p) => new Point(p),
  polygon: (p) => new Polygon(p),
  com: (p) => new ComDisk(p),
  radial: (p) => new Radial(p, p.bins || 1),
  beam: (p) => new BeamCentre(p),
  lattice: (p) => new Lattice(p),
};

export function makeShape(kind, params) {
  return FACTORIES[kind](params);
}

/** Whether ``kind`` names a detector shape this module draws and edits. */
export function isShapeKind(kind) {
  return Object.hasOwn(FACTORIES, kind);
}

/** Sensible first geometry for ``kind`` on a ``height`` x ``width`` frame. */
export function defaultParams(kind, height, width) {
  const cy = (height - 1) / 2, cx = (width - 1) / 2, s = Math.min(height, width);
  const r = Math.max(1, Math.round(s / 8));
  return {
    disk: { cx, cy, r },
    ring: { cx, cy, ri: Math.round(s / 5), ro: Math.round(s / 2.5) },
    rect: { y: Math.round(cy - r), x: Math.round(cx - r), height: 2 * r, width: 2 * r },
    point: { y: Math.round(cy), x: Math.round(cx) },
    polygon: { points: [[cy - r, cx], [cy + r, cx + r], [cy + r, cx - r]] },
    com: { cx, cy, r: Math.round(s / 6), ri: 0 },
    radial: { cx, cy, ri: 0, ro: Math.round(s / 2.5) },
    beam: { cx, cy },
    lattice: { cx, cy, ax: Math.round(s / 5), ay: 0, bx: 0, by: Math.round(s / 5), r: Math.max(1, Math.round(s / 32)) },
  }[kind];
}

/**
 * The ImageView tool that edits one shape: drag the body to move, handles to resize,
 * arrow keys to nudge (shift: 10 px). ``onChange(params, final, released)`` fires while
 * dragging (final=false) and once on release (final and released true) or a key (final=true).
 */
export class ShapeEditor {
  constructor(view, { onChange }) {
    this.view = view;
    this.onChange = onChange;
    this.shape = null;
    this.drag = null;
  }

  setShape(kind, params) {
    this.kind = kind;
    this.shape = kind ? makeShape(kind, params) : null;
    this.view.draw();
  }

  params() { return this.shape ? this.shape.params() : null; }

  pointerdown(pt, e) {
    if (!this.shape) return false;
    if (this.shape instanceof Polygon && !this.shape.closed) {
      this.shape.addVertex(pt);
      this.view.draw();
      return true;
    }
    const hit = hitTest(this.shape, this.view, pt);
    if (!hit) {
      if (this.shape instanceof Point) { // a point jumps to where you click
        this.shape.moveTo(pt);
        this.drag = { body: true, last: pt };
        this.changed(false);
        return true;
      }
      return false;
    }
    this.drag = { ...hit, last: pt };
    return true;
  }

  pointermove(pt) {
    if (!this.drag) return;
    if (this.drag.handle !== undefined) this.shape.dragHandle(this.drag.handle, pt);
    else {
      const dx = pt.x - this.drag.last.x, dy = pt.y - this.drag.last.y;
      // whole-pixel shapes move in whole steps: keep the remainder for the next move
      const whole = this.shape instanceof Rect || this.shape instanceof Point;
      const mx = whole ? Math.trunc(dx) : dx, my = whole ? Math.trunc(dy) : dy;
      this.shape.moveBy(mx, my);
      this.drag.last = { x: this.drag.last.x + mx, y: this.drag.last.y + my };
    }
    this.changed(false);
  }

  pointerup() {
    if (!this.drag) return;
    this.drag = null;
    this.changed(true, true);
  }

  dblclick() {
    const s = this.shape;
    if (s instanceof Polygon && !s.closed && s.p.points.length >= 3) {
      s.closed = true;
      s.cursor = null;
      this.changed(true);
    }
  }

  /** Start drawing a new polygon (the old one is replaced on the first click). */
  restartPolygon() {
    this.shape = new Polygon({ points: [] });
    this.view.draw();
  }

  hover(pt) {
    if (!this.shape) return "";
    if (this.shape instanceof Polygon && !this.shape.closed) {
      this.shape.cursor = pt;
      this.view.draw();
      return "crosshair";
    }
    const hit = hitTest(this.shape, this.view, pt);
    if (!hit) return this.shape instanceof Point ? "crosshair" : "";
    return hit.handle !== undefined && hit.handle !== "centre" ? "nwse-resize" : "move";
  }

  keydown(e) {
    const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (!this.shape || !steps[e.key]) return;
    e.preventDefault();
    const k = e.shiftKey ? 10 : 1;
    this.shape.moveBy(steps[e.key][0] * k, steps[e.key][1] * k);
    this.changed(true);
  }

  /** ``released``: the mouse let go of the shape (a deliberate end, unlike a key's nudge). */
  changed(final, released = false) {
    this.view.draw();
    this.onChange(this.shape.params(), final, released);
  }

  draw(ctx, view) {
    if (!this.shape) return;
    this.shape.draw(ctx, view);
    drawHandles(ctx, view, this.shape);
  }
}
