// The scan view's tool: a region of interest (rect or disk, in scan coordinates) that limits
// the next job, drawn with shift-drag or while "Draw ROI" is on; plus the marker of the
// picked scan position. A plain click is left to the view (it picks a position).

import { Disk, Rect, drawHandles, hitTest } from "./shapes.js";

export class RoiTool {
  constructor(view, { onChange }) {
    this.view = view;
    this.onChange = onChange; // (roi JSON or null) after each finished edit
    this.kind = "rect";
    this.armed = false; // "Draw ROI" toggle: plain drags draw too
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

  pointerdown(pt, e) {
    if (e.shiftKey || this.armed) {
      const y = Math.round(pt.y), x = Math.round(pt.x);
      this.shape = this.kind === "rect"
        ? new Rect({ y, x, height: 1, width: 1 })
        : new Disk({ cx: x, cy: y, r: 1 });
      this.drag = { handle: this.kind === "rect" ? "br" : "r", last: pt };
      return true;
    }
    const hit = this.shape && hitTest(this.shape, this.view, pt);
    if (hit && hit.handle !== undefined) {
      this.drag = { ...hit, last: pt };
      return true;
    }
    return false; // a click: the page picks the scan position
  }

  pointermove(pt) {
    if (!this.drag) return;
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

  pointerup() {
    if (!this.drag) return;
    this.drag = null;
    this.view.draw();
    this.onChange(this.roi());
  }

  hover(pt) {
    const hit = this.shape && hitTest(this.shape, this.view, pt);
    return hit && hit.handle !== undefined ? "nwse-resize" : "crosshair";
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
