// Scans of more than two axes: the scan pane shows one 2-d slice (the last two scan axes) at a
// time, chosen with a slider over the leading axes (their flat C-order index, as the API's
// ``slice``). Scan-shaped results arrive either whole (the full scan shape, from .npy) or as a
// live preview image with the slices one under the other ((slices * ny) x nx, see
// apps/results/preview.py); both are cut to the chosen slice here.

const product = (dims) => dims.reduce((a, b) => a * b, 1);

export class ScanSlices {
  /** ``navShape``: the dataset's scan shape; ``input``/``label``: the slider and its caption;
   * ``onChange(index)`` fires when the slider moves. */
  constructor(navShape, { input, label, box, onChange }) {
    this.nav = navShape;
    this.plane = navShape.length === 1 ? [1, navShape[0]] : navShape.slice(-2);
    this.leading = navShape.slice(0, -2);
    this.count = product(this.leading);
    this.index = 0;
    this.label = label;
    box.hidden = !this.active;
    if (!this.active) return;
    input.min = "0";
    input.max = String(this.count - 1);
    input.value = "0";
    input.addEventListener("input", () => {
      this.index = Number(input.value);
      this.caption();
      onChange(this.index);
    });
    this.caption();
  }

  get active() {
    return this.count > 1;
  }

  /** The leading scan indices of the chosen slice, e.g. [1, 0] of a (2, 3, ny, nx) scan. */
  position() {
    const out = [];
    let rest = this.index;
    for (let k = this.leading.length - 1; k >= 0; k--) {
      out.unshift(rest % this.leading[k]);
      rest = Math.floor(rest / this.leading[k]);
    }
    return out;
  }

  caption() {
    this.label.textContent = `${this.index + 1} of ${this.count} (scan index [${this.position().join(", ")}, :, :])`;
  }

  /** ``arr`` ({shape, values}) cut to the chosen slice if it is scan-shaped, else as it is. */
  cut(arr) {
    if (!this.active) return arr;
    const n = this.nav.length;
    const whole = arr.shape.length >= n && this.nav.every((d, i) => arr.shape[i] === d);
    const [ny, nx] = this.plane;
    const stacked = arr.shape.length === 2 && arr.shape[0] === this.count * ny && arr.shape[1] === nx;
    if (!whole && !stacked) return arr;
    const rest = whole ? arr.shape.slice(n) : [];
    const block = arr.values.length / this.count;
    const values = arr.values.subarray(this.index * block, (this.index + 1) * block);
    return { ...arr, shape: [ny, nx, ...rest], values };
  }
}
