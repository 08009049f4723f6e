// The page's analysis menu, built from the Core's declarations of the analyses (the page embeds
// them; GET /api/analyses/ has the same list): one mode per declared mode of an analysis, with
// its parameters, the control that edits them (a detector shape, a click on the scan, a mask
// upload) and its help. Nothing here names an analysis: a new one appears by being declared.

import { defaultParams, isShapeKind } from "./shapes.js";

/** Every mode of ``analyses`` in menu order: {key, title, analysis, params, widget, help,
 * fixed, group, scan, plugin} (``group``: the analysis title when it has several modes;
 * ``scan``: its preview is a scan image; ``plugin``: "distribution version" of the installed
 * plugin that provides it, else null). A parameter that defaults from the dataset's
 * calibration (``p.calibration``) gets the value ``calibrated`` (cfg.dataset.calibrated) knows
 * as ``p.calibrated``. */
export function menuModes(analyses, calibrated = {}) {
  const modes = [];
  for (const a of analyses) {
    const preview = a.results.find((r) => r.name === a.preview);
    for (const m of a.modes) {
      modes.push({
        ...m,
        params: m.params.map((p) => (p.calibration && calibrated[p.calibration] !== undefined
          ? { ...p, calibrated: calibrated[p.calibration] } : p)),
        analysis: a.name,
        group: a.modes.length > 1 ? a.title : null,
        scan: preview.shape.startsWith("nav"),
        plugin: a.origin && a.origin.source === "plugin"
          ? `${a.origin.distribution} ${a.origin.version}` : null,
      });
    }
  }
  return modes;
}

export function modeByKey(modes, key) {
  return modes.find((m) => m.key === key);
}

/** The detector shape edited in ``mode`` (null: no shape). */
export function shapeOf(mode) {
  return isShapeKind(mode.widget) ? mode.widget : null;
}

/** First values of ``mode``: declared defaults (or the dataset's calibrated values, or
 * suggestions), then the control's own
 * first geometry for a detector ``[sy, sx]`` and a scan ``[ny, nx]``. */
export function initialValues(mode, [sy, sx], [ny, nx], picked = null) {
  const values = {};
  for (const p of mode.params) {
    const first = p.default ?? p.calibrated ?? p.suggested;
    if (first !== undefined && first !== null) values[p.name] = first;
  }
  if (shapeOf(mode)) Object.assign(values, defaultParams(mode.widget, sy, sx));
  if (mode.widget === "scan-point") Object.assign(values, picked || { y: Math.floor(ny / 2), x: Math.floor(nx / 2) });
  return values;
}

/** The job's ``params`` for ``mode`` (null while they are incomplete, e.g. no mask yet). */
export function jobParams(mode, values, { maskId = null } = {}) {
  if (mode.widget === "mask-upload") return maskId ? { [mode.params[0].name]: maskId } : null;
  return { ...mode.fixed, ...pick(values, mode.params.map((p) => p.name)) };
}

/** The mode and parameter values of a job from the API (null: no mode takes it). */
export function modeOfJob(modes, job) {
  const params = job.params || {};
  const mode = modes.find((m) => m.analysis === job.analysis
    && Object.entries(m.fixed).every(([k, v]) => params[k] === v));
  if (!mode) return null;
  const values = Object.fromEntries(Object.entries(params).filter(([k]) => !(k in mode.fixed)));
  return { mode, values };
}

/** ``<option>``s (in ``<optgroup>``s for analyses with several modes) for the menu. */
export function fillMenu(select, modes) {
  select.innerHTML = "";
  let group = null;
  for (const m of modes) {
    if (m.group && (!group || group.label !== m.group)) {
      group = document.createElement("optgroup");
      group.label = m.group;
      select.append(group);
    } else if (!m.group) group = null;
    const option = new Option(m.title, m.key);
    (group || select).append(option);
  }
}

export function pick(obj, keys) {
  return Object.fromEntries(keys.filter((k) => obj[k] !== undefined).map((k) => [k, obj[k]]));
}
