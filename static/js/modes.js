// The page's analysis modes: a virtual detector shape is a mode of its own, the other
// analyses one mode each. This module maps a mode to its detector shape, its first
// parameters and the job parameters the API expects, and back from a stored job.

import { defaultParams } from "./shapes.js";

/** Parameters shown and sent for each mode. */
export const MODE_FIELDS = {
  "virtual:disk": ["cx", "cy", "r"],
  "virtual:ring": ["cx", "cy", "ri", "ro"],
  "virtual:rect": ["y", "x", "height", "width"],
  "virtual:point": ["y", "x"],
  "virtual:polygon": ["points"],
  com: ["cx", "cy", "r", "ri", "scan_rotation", "flip_y"],
  radial: ["cx", "cy", "ri", "ro", "bins"],
  sum: [],
  pick: ["y", "x"],
  masks: ["masks"],
};

export const MODE_HELP = {
  "virtual:polygon": "Click to add corners, double-click to close. Drag corners or the inside to edit.",
  "virtual:point": "Click or drag on the detector to place the pixel.",
  sum: "Sum, mean and maximum over all frames (or the scan ROI), shown on the detector view.",
  pick: "Click a scan position on the right; the frame is read by a job and shown on the left.",
  masks: "Upload a .npy of shape (sy, sx) or (m, sy, sx) matching the detector.",
};

/** Analyses whose results are scan images (the others give detector frames). */
export const SCAN_ANALYSES = new Set(["virtual", "com", "radial", "masks"]);

export function analysisOf(mode) {
  return mode.split(":")[0];
}

/** The detector shape edited in ``mode`` (null: no shape). */
export function shapeOf(mode) {
  if (mode.startsWith("virtual:")) return mode.slice(8);
  return { com: "com", radial: "radial" }[mode] || null;
}

/** First parameters of ``mode`` for a detector ``[sy, sx]`` and a scan ``[ny, nx]``. */
export function initialValues(mode, [sy, sx], [ny, nx], picked = null) {
  const kind = shapeOf(mode);
  const values = kind ? defaultParams(kind, sy, sx) : {};
  if (mode === "com") Object.assign(values, { scan_rotation: 0, flip_y: false });
  if (mode === "radial") values.bins = 16;
  if (mode === "pick") Object.assign(values, picked || { y: Math.floor(ny / 2), x: Math.floor(nx / 2) });
  return values;
}

/** The job's ``params`` for ``mode`` (null while they are incomplete, e.g. no mask yet). */
export function jobParams(mode, values, { maskId = null } = {}) {
  if (mode === "masks") return maskId ? { masks: maskId } : null;
  const params = pick(values, MODE_FIELDS[mode]);
  return mode.startsWith("virtual:") ? { shape: mode.slice(8), ...params } : params;
}

/** The mode and parameter values of a job from the API. */
export function modeOfJob(job) {
  const { shape, ...values } = job.params || {};
  return { mode: job.analysis === "virtual" ? `virtual:${shape}` : job.analysis, values };
}

export function pick(obj, keys) {
  return Object.fromEntries(keys.filter((k) => obj[k] !== undefined).map((k) => [k, obj[k]]));
}
