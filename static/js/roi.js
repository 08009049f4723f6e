// The scan view's tool: a region of interest (rect or disk, in scan coordinates) that limits
// the next job, and the marker of the picked scan position. Drawing is a mode that ends: shift +
// drag draws one shape, and so does one drag after "Draw ROI" (which then switches itself off,
// as does Esc). A click that does not drag is never an ROI: the page picks that scan position.
// Arrow keys move the picked position, one scan pixel at a time (shift: 10).

import { Disk, Rect, drawHandles, hitTest } from "./shapes.js";

const STEPS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

export class RoiTool {
  /** ``onChange(roi | null)`` after each finished edit, ``onArmed(on)`` when drawing mode
   * switches, ``onPick({x, y})`` for a click (or an arrow key) that picks a scan position. */
  constructor(view, { onChange, onArmed = () => {}, onPick = () => {} }) {
    this.view = view;
    this.onChange = onChange;
    this.onArmed = onArmed;
    this.onPick = onPick;
    this.kind = "rect";
    this.armed = false; // "Draw ROI": the next plain drag draws
    this.shape = null;
    this.drag = null;
    this.picked = null; // {y, x}
  }

  /** The ROI in the job API's form, or null. */
  roi() {
    if (!this.shape) return null;
    const p = this.shape.params();
    return this.shape instanceof Rect
      ? { shape: "rect", y: p.y, x: p.x, height: p.height, width: p.width }
      : { shape: "disk", cy: p.cy, cx: p.cx, r: p.r };
  }

  setRoi(roi) {
    if (!roi || !roi.shape) this.shape = null;
    else if (roi.shape === "rect") this.shape = new Rect(roi);
    else this.shape = new Disk({ cx: roi.cx, cy: roi.cy, r: roi.r });
    this.view.draw();
  }

  clear() {
    this.shape = null;
    this.view.draw();
    this.onChange(null);
  }

  setArmed(on) {
    if (this.armed === on) return;
    this.armed = on;
    this.onArmed(on);
  }

  pointerdown(pt, e) {
    if (e.shiftKey || this.armed) {
      const y = Math.round(pt.y), x = Math.round(pt.x);
      this.drag = {
        drawing: true, before: this.shape, start: pt, moved: false,
        handle: this.kind === "rect" ? "br" : "r", last: pt,
      };
      this.shape = this.kind === "rect"
        ? new Rect({ y, x, height: 1, width: 1 })
        : new Disk({ cx: x, cy: y, r: 1 });
      return true;
    }
    const hit = this.shape && hitTest(this.shape, this.view, pt);
    if (hit && hit.handle !== undefined) {
      this.drag = { ...hit, last: pt, start: pt, moved: false };
      return true;
    }
    return false; // a click: the page picks the scan position
  }

  pointermove(pt) {
    if (!this.drag) return;
    // less than half a scan pixel (and the view's click slop) is a click, not a drag
    if (Math.hypot(pt.x - this.drag.start.x, pt.y - this.drag.start.y) >= 0.5) this.drag.moved = true;
    if (!this.drag.moved) return;
    if (this.drag.handle === "r") {
      this.shape.p.r = Math.max(1, Math.round(Math.hypot(pt.x - this.shape.p.cx, pt.y - this.shape.p.cy)));
    } else if (this.drag.handle === "centre") {
      this.shape.p.cx = Math.round(pt.x);
      this.shape.p.cy = Math.round(pt.y);
    } else {
      this.shape.dragHandle(this.drag.handle, pt);
    }
    this.view.draw();
  }

  pointerup(pt, e, clicked = false) {
    const drag = this.drag;
    if (!drag) return;
    this.drag = null;
    if (e && e.type === "pointercancel") { // the browser took the pointer: undo, pick nothing
      if (drag.drawing) this.shape = drag.before;
      this.view.draw();
      return;
    }
    if (!drag.moved || clicked) {
      // a click, even with shift or in drawing mode: keep the ROI there was, pick the position
      if (drag.drawing) this.shape = drag.before;
      this.view.draw();
      this.onPick(pt);
      return;
    }
    if (drag.drawing) this.setArmed(false); // one shape per "Draw ROI"
    this.view.draw();
    this.onChange(this.roi());
  }

  keydown(e) {
    if (e.key === "Escape") {
      this.setArmed(false);
      return;
    }
    const step = STEPS[e.key];
    if (!step || !this.picked) return;
    e.preventDefault();
    const k = e.shiftKey ? 10 : 1;
    this.onPick({ x: this.picked.x + step[0] * k, y: this.picked.y + step[1] * k });
  }

  hover(pt) {
    if (this.armed) return "crosshair";
    const hit = this.shape && hitTest(this.shape, this.view, pt);
    return hit && hit.handle !== undefined ? "nwse-resize" : "pointer";
  }

  setPicked(pos) {
    this.picked = pos;
    this.view.draw();
  }

  draw(ctx, view) {
    if (this.shape) {
      ctx.save();
      ctx.setLineDash([6, 4]);
      this.shape.draw(ctx, view);
      ctx.restore();
      drawHandles(ctx, view, this.shape);
    }
    if (this.picked) drawMarker(ctx, view, this.picked);
  }
}

function drawMarker(ctx, view, { y, x }) {
  const a = view.toScreen(x - 0.5, y - 0.5);
  const s = Math.max(view.scale, 4);
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#f97316";
  ctx.strokeRect(a.x - 1, a.y - 1, s + 2, s + 2);
}
