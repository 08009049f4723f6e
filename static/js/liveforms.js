// The analysis forms of the live pages: the same menu and parameter inputs as the analysis
// page (modes.js and paramsform.js, generated from the analyses' declarations), for the modes a
// live session can run as frames arrive. Used by the arm form and by "Add an analysis".

import { fillMenu, initialValues, jobParams, menuModes, modeByKey } from "./modes.js";
import { paramsForm } from "./paramsform.js";

// A mode that reads one scan position or needs an uploaded mask (masks belong to a dataset)
// has nothing to work on before the recording exists.
const NOT_LIVE = new Set(["scan-point", "mask-upload"]);

/** The menu's modes that a live session may run. */
export function liveModes(analyses) {
  return menuModes(analyses).filter((m) => !NOT_LIVE.has(m.widget));
}

/** The frame shape the forms start from: the detector's, else a Merlin chip's 256 x 256. */
export function frameShape(sigShape) {
  return Array.isArray(sigShape) && sigShape.length === 2 ? sigShape : [256, 256];
}

/**
 * A menu of ``modes`` and the chosen mode's parameter inputs in ``root``; ``shapes()`` gives
 * the frame and scan shape the first values are made for. Returns {body(), setMode(key)}:
 * ``body()`` is ``{analysis, params}`` as the live API takes it.
 */
export function analysisForm(root, modes, { shapes, first = "virtual:ring", onRemove = null }) {
  root.innerHTML = "";
  const row = document.createElement("div");
  row.className = "live-row";
  const select = document.createElement("select");
  select.setAttribute("aria-label", "Analysis");
  fillMenu(select, modes);
  const label = document.createElement("label");
  label.append("Analysis ", select);
  row.append(label);
  if (onRemove) {
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary small";
    remove.textContent = "Remove";
    remove.addEventListener("click", onRemove);
    row.append(remove);
  }
  const params = document.createElement("div");
  params.className = "params";
  root.append(row, params);
  let mode = null;
  let form = null;
  const setMode = (key) => {
    mode = modeByKey(modes, key) || modes[0];
    select.value = mode.key;
    const [sig, nav] = shapes();
    form = paramsForm(params, { mode, values: initialValues(mode, sig, nav), onInput: () => {} });
  };
  select.addEventListener("change", () => setMode(select.value));
  setMode(first);
  return {
    setMode,
    body: () => ({ analysis: mode.analysis, params: jobParams(mode, form.read()) }),
  };
}
