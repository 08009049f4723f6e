// The editable values next to the detector view: one input per parameter of the chosen mode,
// built from the Core's declaration of the parameter (type, unit, bounds, default, help), so
// the form never drifts from what the API takes.

/**
 * Build the inputs for ``mode`` (see modes.js) into ``root``; ``onInput(values)`` fires on
 * every committed change (enter, blur, spinner click). Returns {set(values)} to mirror a
 * dragged shape.
 */
export function paramsForm(root, { mode, values, onInput }) {
  root.innerHTML = "";
  const inputs = {};
  for (const p of mode.params) {
    if (p.type === "masks") continue; // the upload control stands in for it
    const label = document.createElement("label");
    label.className = `param param-${p.type}`;
    label.title = describe(p);
    const input = makeInput(p);
    input.name = p.name;
    input.dataset.param = p.name;
    label.append(document.createTextNode(`${p.name} `), input);
    if (p.unit) {
      const unit = document.createElement("span");
      unit.className = "unit";
      unit.textContent = ` ${p.unit}`;
      label.append(unit);
    }
    root.append(label);
    inputs[p.name] = input;
    input.addEventListener("change", () => onInput(read(inputs)));
  }
  const form = { set: (v) => write(inputs, v), read: () => read(inputs) };
  form.set(values);
  return form;
}

/** The tooltip: the help text, then the bounds and the default. */
export function describe(p) {
  const parts = [p.help];
  if (p.positive) parts.push("greater than 0");
  if (p.minimum !== undefined) parts.push(`at least ${p.minimum}`);
  if (p.maximum !== undefined) parts.push(`at most ${p.maximum}`);
  if (p.default !== null) parts.push(`default ${JSON.stringify(p.default)}`);
  return parts.join("; ");
}

function makeInput(p) {
  if (p.type === "choice" || (p.auto && p.type === "boolean")) {
    const select = document.createElement("select");
    for (const c of p.choices || ["false", "true", "auto"]) select.append(new Option(c, c));
    if (p.type === "boolean") select.dataset.boolean = "auto";
    return select;
  }
  if (p.auto) { // a number, or "auto": the analysis finds it
    const input = document.createElement("input");
    input.type = "text";
    input.inputMode = "decimal";
    input.placeholder = `${p.default ?? ""} or auto`;
    input.dataset.auto = "number";
    return input;
  }
  const input = document.createElement(p.type === "points" ? "textarea" : "input");
  if (p.type === "boolean") input.type = "checkbox";
  else if (p.type === "points") { input.rows = 2; input.spellcheck = false; }
  else {
    input.type = "number";
    input.step = p.type === "number" ? "0.1" : "1"; // integers and job ids
    input.required = !!p.required;
    if (p.minimum !== undefined) input.min = String(p.minimum);
    if (p.maximum !== undefined) input.max = String(p.maximum);
    if (p.default !== null) input.placeholder = String(p.default);
  }
  return input;
}

function read(inputs) {
  const out = {};
  for (const [name, input] of Object.entries(inputs)) {
    if (input.type === "checkbox") out[name] = input.checked;
    else if (input.dataset.boolean) out[name] = input.value === "auto" ? "auto" : input.value === "true";
    else if (input.tagName === "SELECT") out[name] = input.value;
    else if (input.dataset.auto) out[name] = numberOrAuto(input.value);
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

/** "auto", a number, or the text as typed (the server says what it expects); empty: left out. */
function numberOrAuto(text) {
  const t = text.trim();
  if (t === "") return undefined;
  if (t === "auto") return "auto";
  return Number.isFinite(Number(t)) ? Number(t) : t;
}

function parsePoints(text) {
  try {
    const pts = JSON.parse(text);
    return Array.isArray(pts) ? pts : undefined;
  } catch {
    return undefined; // the server explains what a polygon needs
  }
}
