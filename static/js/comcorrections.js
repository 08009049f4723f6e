// The corrections of a finished centre-of-mass job on the analysis page: the scan rotation,
// flip and disk centre it guessed from its own field (docs/analyses.md, "com"), with one click
// to adopt them (the form takes the numbers and the job runs again), and the descan
// coefficients it subtracted. Shown for any analysis whose results include a "guess".

import { fetchNpy } from "./npy.js";
import { resultUrl } from "./resultspanel.js";
import { formatNumber } from "./units.js";

/** The parameters a guess ``[scan_rotation, flip_y (0/1), cy, cx]`` sets, rounded for the form. */
export function guessParams(values) {
  const [rotation, flip, cy, cx] = values;
  const round = (v) => Math.round(v * 100) / 100;
  return { scan_rotation: round(rotation), flip_y: flip > 0.5, cy: round(cy), cx: round(cx) };
}

/** Fill ``root`` for finished ``job`` (empty and hidden unless it has a guess);
 * ``onAdopt(params)`` on the click; ``isCurrent()``: the page still shows ``job``. */
export async function showCorrections(root, job, { onAdopt, isCurrent }) {
  root.replaceChildren();
  root.hidden = true;
  const names = new Set((job.results || []).map((r) => r.name));
  if (!names.has("guess")) return;
  const [guess, descan] = await Promise.all([
    fetchNpy(resultUrl(job.id, "guess", "npy")),
    names.has("descan") ? fetchNpy(resultUrl(job.id, "descan", "npy")) : null,
  ]);
  if (!isCurrent() || !guess.values.every(Number.isFinite)) return;
  const params = guessParams(Array.from(guess.values));
  const text = document.createElement("span");
  text.id = "com-guess";
  text.textContent = `Guessed from this field: scan_rotation ${formatNumber(params.scan_rotation)}°, ` +
    `flip_y ${params.flip_y}, centre cy ${formatNumber(params.cy)}, cx ${formatNumber(params.cx)} px.`;
  const button = document.createElement("button");
  button.type = "button";
  button.id = "adopt-guess";
  button.className = "secondary small";
  button.textContent = "Adopt";
  button.title = "Put the guessed values into the form and run again";
  button.addEventListener("click", () => onAdopt(params));
  root.append(text, " ", button);
  if (descan && descan.values.some((v) => v !== 0)) root.append(descanText(descan.values));
  root.hidden = false;
}

/** "Descan subtracted: y 0.6 + 0.03 row − 0.02 col px, x …" from the 3×2 coefficients. */
function descanText(c) {
  const part = (k) => {
    const term = (v, what) => `${v < 0 ? "−" : "+"} ${formatNumber(Math.abs(v))} ${what}`;
    return `${formatNumber(c[k])} ${term(c[2 + k], "row")} ${term(c[4 + k], "col")}`;
  };
  const p = document.createElement("p");
  p.className = "muted hint";
  p.id = "com-descan";
  p.textContent = `Descan subtracted (px, per scan position): y ${part(0)}, x ${part(1)}.`;
  return p;
}
