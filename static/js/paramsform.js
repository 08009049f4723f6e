// The editable numbers next to the detector view: one input per parameter of the chosen
// analysis, labelled and explained from the server's description of the analyses
// (GET /api/analyses/ has the same list), so the form never drifts from what the API takes.

import { MODE_FIELDS, analysisOf } from "./modes.js";

export function specOf(analyses, mode) {
  return analyses.find((a) => a.name === analysisOf(mode));
}

/**
 * Build the inputs for ``mode`` into ``root``; ``onInput(values)`` fires on every committed
 * change (enter, blur, spinner click). Returns {set(values)} to mirror a dragged shape.
 */
export function paramsForm(root, { analyses, mode, values, onInput }) {
  const spec = specOf(analyses, mode);
  const byName = Object.fromEntries((spec ? spec.params : []).map((p) => [p.name, p]));
  root.innerHTML = "";
  const inputs = {};
  for (const name of MODE_FIELDS[mode]) {
    if (name === "masks") continue; // the upload control stands in for it
    const p = byName[name] || { name, type: "number", help: "" };
    const label = document.createElement("label");
    label.className = `param param-${p.type}`;
    label.title = p.help || "";
    const input = makeInput(p);
    input.name = name;
    input.dataset.param = name;
    label.append(document.createTextNode(`${name} `), input);
    root.append(label);
    inputs[name] = input;
    input.addEventListener("change", () => onInput(read(inputs)));
  }
  const form = { set: (v) => write(inputs, v), read: () => read(inputs) };
  form.set(values);
  return form;
}

function makeInput(p) {
  const input = document.createElement(p.type === "points" ? "textarea" : "input");
  if (p.type === "boolean") input.type = "checkbox";
  else if (p.type === "points") { input.rows = 2; input.spellcheck = false; }
  else {
    input.type = "number";
    input.step = p.type === "integer" ? "1" : "0.1";
    input.required = !!p.required;
  }
  return input;
}

function read(inputs) {
  const out = {};
  for (const [name, input] of Object.entries(inputs)) {
    if (input.type === "checkbox") out[name] = input.checked;
    else if (input.tagName === "TEXTAREA") out[name] = parsePoints(input.value);
    else if (input.value !== "") out[name] = Number(input.value);
  }
  return out;
}

function write(inputs, values) {
  for (const [name, input] of Object.entries(inputs)) {
    const v = values[name];
    if (v === undefined) continue;
    if (input === document.activeElement && input.type !== "checkbox") continue; // typing wins
    if (input.type === "checkbox") input.checked = !!v;
    else if (input.tagName === "TEXTAREA") input.value = JSON.stringify(v);
    else input.value = String(v);
  }
}

function parsePoints(text) {
  try {
    const pts = JSON.parse(text);
    return Array.isArray(pts) ? pts : undefined;
  } catch {
    return undefined; // the server explains what a polygon needs
  }
}
