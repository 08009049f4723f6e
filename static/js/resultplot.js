// Which results are plotted as lines and with which axes. Generic over the declarations: a
// result whose shape has one axis and neither "nav" nor "sig" (fem's V(k) over "bins") is a
// line; a scan map with one more axis ("nav+bins": the radial profile) is shown as an image
// and, as a line, the values along that axis at the picked scan position.

/** "line", "profile" or null (an image) for a result declaration ``{shape}``. */
export function plotKind(result) {
  const axes = result.shape.split("+");
  if (axes.length === 1 && axes[0] !== "nav" && axes[0] !== "sig") return "line";
  if (axes.length === 2 && axes[0] === "nav" && axes[1] === "bins") return "profile";
  return null;
}

/** The x values and label of ``n`` points along ``axis`` for a job with ``params``: the
 * rings' middle radii for radial bins (ri, ro, bins: equal widths, as
 * apps/core/masks.radial_bins cuts them) in mrad or 1/nm where the detector's square
 * ``pixel`` ({x, y, units}) is known, else in detector pixels; else the index. */
export function xAxis(axis, n, params, pixel = null) {
  const { ri = 0, ro, bins } = params || {};
  if (axis === "bins" && Number.isFinite(ro) && bins === n) {
    const w = (ro - ri) / n;
    const step = pixel && pixel.x === pixel.y ? pixel.x : null;
    const x = Array.from({ length: n }, (_, k) => (ri + (k + 0.5) * w) * (step || 1));
    return { x, label: step ? `radius (${pixel.units})` : "radius (px)" };
  }
  return { x: Array.from({ length: n }, (_, k) => k), label: axis === "bins" ? "bin" : "index" };
}

/** An axis title: the result's name and its declared unit ("data": the file's own units). */
export function valueLabel(result) {
  if (!result.unit) return result.name;
  return `${result.name} (${result.unit === "data" ? "data units" : result.unit})`;
}

/** What to plot for result ``result`` of ``job`` from its array ``arr`` ({shape, values}),
 * at scan position ``at`` ({y, x}) for a profile; null if there is nothing to plot.
 * ``pixel``: the detector's pixel size (cfg.dataset.pixel_size.detector) for radii in mrad. */
export function plotData(job, result, arr, at, pixel = null) {
  const kind = plotKind(result);
  if (kind === "line") {
    const { x, label } = xAxis(result.shape, arr.values.length, job.params, pixel);
    return {
      x, y: arr.values, xLabel: label, yLabel: valueLabel(result),
      title: `${result.name} of job ${job.id}`,
    };
  }
  if (kind !== "profile" || !at) return null;
  const n = arr.shape[arr.shape.length - 1];
  const width = arr.shape.length === 3 ? arr.shape[1] : arr.shape[0];
  const start = ((at.y ?? 0) * width + at.x) * n;
  if (start < 0 || start + n > arr.values.length) return null;
  const { x, label } = xAxis("bins", n, job.params, pixel);
  const y = arr.values.subarray(start, start + n);
  const outside = y.every((v) => Number.isNaN(v)) ? " (outside ROI: no values)" : "";
  return {
    x, y, xLabel: label, yLabel: valueLabel(result),
    title: `${result.name} of job ${job.id} at scan row ${at.y ?? 0}, column ${at.x}${outside}`,
  };
}
