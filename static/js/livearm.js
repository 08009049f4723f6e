// The /live/ page: the arm form. The detectors come from the live API (the ones the user may
// operate); the analyses' forms are the analysis page's, from the declarations. Arming posts
// one session and opens its page.

import { ApiError, liveApi } from "./jobclient.js";
import { analysisForm, frameShape, liveModes } from "./liveforms.js";

const cfg = JSON.parse(document.getElementById("live-config").textContent);
const $ = (id) => document.getElementById(id);
const MODES = liveModes(cfg.analyses);
const rows = []; // the analysis forms, in order
let detectors = [];

function detector() {
  return detectors.find((d) => String(d.id) === $("arm-detector").value) || null;
}

function shapes() {
  return [frameShape(detector() && detector().sig_shape), [Number($("arm-ny").value) || 1, Number($("arm-nx").value) || 1]];
}

function addRow(key) {
  const box = document.createElement("div");
  box.className = "live-analysis";
  $("arm-analysis-list").append(box);
  const row = analysisForm(box, MODES, {
    shapes, first: key,
    onRemove: () => { rows.splice(rows.indexOf(row), 1); box.remove(); },
  });
  rows.push(row);
}

function showDetector() {
  const d = detector();
  if (!d) return;
  const nav = d.nav_shape || [];
  if (nav.length === 2 && !$("arm-ny").value) { $("arm-ny").value = nav[0]; $("arm-nx").value = nav[1]; }
  const sig = d.sig_shape ? ` · frames ${d.sig_shape.join(" × ")}` : "";
  $("arm-detector-info").textContent = `${d.kind}${sig}`;
}

function showError(err) {
  const fields = err instanceof ApiError ? Object.entries(err.fields) : [];
  const detail = fields.map(([k, v]) => `${k}: ${v}`).join("; ");
  $("arm-error").textContent = detail && !err.message.includes(detail) ? `${err.message} (${detail})` : err.message;
  $("arm-error").hidden = false;
}

async function arm(event) {
  event.preventDefault();
  $("arm-error").hidden = true;
  if (!rows.length) return showError(new Error("Add at least one analysis: the session shows its images."));
  const body = {
    detector: Number($("arm-detector").value),
    nav_shape: [Number($("arm-ny").value), Number($("arm-nx").value)],
    analyses: rows.map((r) => r.body()),
    continuous: $("arm-continuous").checked,
  };
  const viewers = [...document.querySelectorAll("input[name=share_with_groups]:checked")].map((c) => c.value);
  if (viewers.length) body.share_with_groups = viewers;
  if ($("arm-folder").value) body.folder = Number($("arm-folder").value);
  if ($("arm-name").value.trim()) body.name = $("arm-name").value.trim();
  $("arm-submit").disabled = true;
  try {
    const job = await liveApi.arm(body);
    location.assign(`/live/${job.id}/`);
  } catch (err) {
    showError(err);
    $("arm-submit").disabled = false;
  }
}

async function start() {
  try {
    detectors = (await liveApi.detectors()).results || [];
  } catch (err) {
    $("arm-none").textContent = `The detectors could not be read: ${err.message}`;
    $("arm-none").hidden = false;
    return;
  }
  if (!detectors.length) { $("arm-none").hidden = false; return; }
  for (const d of detectors) $("arm-detector").append(new Option(d.name, String(d.id)));
  $("arm-form").hidden = false;
  $("arm-detector").addEventListener("change", showDetector);
  showDetector();
  for (const m of MODES) $("arm-add-mode").append(new Option(m.group ? `${m.group}: ${m.title}` : m.title, m.key));
  $("arm-add").addEventListener("click", () => addRow($("arm-add-mode").value));
  $("arm-form").addEventListener("submit", arm);
  addRow("virtual:ring");
}

start();
