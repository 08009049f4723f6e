// The uploaded masks drawn over the detector image, one at a time: the page's mask selector
// chooses which (and the scan pane then shows that mask's image), so what is drawn is what the
// shown result integrated. A mask's weight sets its opacity (cyan; negative weights orange).

import { parseNpy } from "./npy.js";

const ALPHA = 0.55;

export class MaskOverlay {
  constructor(view) {
    this.view = view;
    this.stack = null; // {count, height, width, values}
    this.index = 0;
    this.canvas = document.createElement("canvas");
  }

  /** ``arr``: the uploaded .npy, ``{shape: [m, h, w] or [h, w], values}``. */
  setStack(arr) {
    const [count, height, width] = arr.shape.length === 2 ? [1, ...arr.shape] : arr.shape;
    this.stack = { count, height, width, values: arr.values };
    this.select(0);
  }

  select(k) {
    if (!this.stack) return;
    this.index = Math.max(0, Math.min(k, this.stack.count - 1));
    const { height, width, values } = this.stack;
    const plane = values.subarray(this.index * height * width, (this.index + 1) * height * width);
    let peak = 0;
    for (const v of plane) if (Math.abs(v) > peak) peak = Math.abs(v);
    this.canvas.width = width;
    this.canvas.height = height;
    const ctx = this.canvas.getContext("2d");
    const img = ctx.createImageData(width, height);
    plane.forEach((v, i) => {
      const [r, g, b] = v < 0 ? [249, 115, 22] : [34, 211, 238];
      img.data.set([r, g, b, Math.round((255 * ALPHA * Math.abs(v)) / (peak || 1))], 4 * i);
    });
    ctx.putImageData(img, 0, 0);
    this.view.draw();
  }

  clear() {
    this.stack = null;
    this.view.draw();
  }

  // the ImageView tool interface: the overlay only draws; the pointer pans, zooms, reads out
  pointerdown() { return false; }
  pointermove() {}
  pointerup() {}
  hover() { return ""; }

  draw(ctx, view) {
    if (!this.stack) return;
    const { scale, ox, oy } = view.transform();
    ctx.save();
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.canvas, ox, oy, this.stack.width * scale, this.stack.height * scale);
    ctx.restore();
  }
}

/**
 * The mask upload controls: the file is sent to the server (``upload(file)`` resolves to
 * ``{id, shape}``) and read here to be drawn; a selector with one entry per mask.
 * ``onMask(id)`` after an upload, ``onSelect(k)`` when a mask is chosen, ``onError(text)``.
 */
export function bindMaskUpload(overlay, { upload, onMask, onSelect, onError }) {
  const $ = (id) => document.getElementById(id);
  const select = $("mask-select");
  select.addEventListener("change", () => {
    overlay.select(Number(select.value));
    onSelect(Number(select.value));
  });
  $("mask-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    $("mask-info").textContent = `uploading ${file.name}…`;
    try {
      const [mask, arr] = await Promise.all([upload(file), file.arrayBuffer().then(parseNpy)]);
      $("mask-info").textContent = `${file.name}: ${mask.shape.join(" × ")}`;
      overlay.setStack(arr);
      const count = overlay.stack.count;
      select.replaceChildren(...Array.from({ length: count }, (_, k) => new Option(`mask ${k + 1} of ${count}`, String(k))));
      select.hidden = false;
      onSelect(0);
      onMask(mask.id);
    } catch (err) {
      $("mask-info").textContent = "";
      onError(`The mask was refused: ${err.message}`);
    }
  });
}
