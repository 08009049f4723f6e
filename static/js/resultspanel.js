// Downloads of a job's results and the "copy as Python" snippet that reruns the same job
// through the API with a token, so a scientist can move from clicking to scripting.

const FORMATS = ["npy", "h5", "tiff", "png"];

export function resultUrl(jobId, name, format) {
  return `/api/jobs/${jobId}/results/${encodeURIComponent(name)}.${format}`;
}

/** Links for every result in every format; ``results`` are [{name, shape?, urls?}]. */
export function renderDownloads(root, jobId, results) {
  root.innerHTML = "";
  if (!jobId || !results.length) return;
  const table = document.createElement("table");
  table.className = "downloads";
  for (const r of results) {
    const row = table.insertRow();
    const shape = r.shape ? ` <span class="muted">${r.shape.join(" × ")}</span>` : "";
    row.insertCell().innerHTML = `<code>${escapeHtml(r.name)}</code>${shape}`;
    const cell = row.insertCell();
    // the server lists the formats each result has (no TIFF for 3-d arrays, for example)
    for (const f of r.urls ? FORMATS.filter((x) => r.urls[x]) : FORMATS) {
      const a = document.createElement("a");
      a.href = r.urls ? r.urls[f] : resultUrl(jobId, r.name, f);
      a.download = `job${jobId}-${r.name}.${f}`;
      a.textContent = f;
      a.dataset.result = r.name;
      a.dataset.format = f;
      cell.append(a, " ");
    }
  }
  const title = document.createElement("h3");
  title.textContent = `Results of job ${jobId}`;
  root.append(title, table);
}

/** Python source that submits ``body``, waits, and loads ``names`` as numpy arrays. */
export function pythonSnippet(origin, body, names) {
  return `import io
import time

import numpy as np
import requests

BASE = ${py(origin)}
TOKEN = "paste a token from ${origin}/tokens/ here"
api = requests.Session()
api.headers["Authorization"] = f"Token {TOKEN}"

response = api.post(f"{BASE}/api/jobs/", json=${py(body)})
response.raise_for_status()
job_id = response.json()["id"]
while True:
    job = api.get(f"{BASE}/api/jobs/{job_id}/").json()
    if job["status"] in ("finished", "failed", "cancelled"):
        break
    time.sleep(0.5)
if job["status"] != "finished":
    raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error', '')}")

results = {}
for name in ${py(names)}:
    data = api.get(f"{BASE}/api/jobs/{job_id}/results/{name}.npy").content
    results[name] = np.load(io.BytesIO(data))
    print(name, results[name].shape, results[name].dtype)
`;
}

/** A JSON value written as a Python literal (True/False/None, not true/false/null). */
export function py(value) {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "float('nan')";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(py).join(", ")}]`;
  return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${py(v)}`).join(", ")}}`;
}

/** Copy ``text``; falls back to selecting it where the clipboard API is not allowed. */
export async function copyText(text, pre) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const range = document.createRange();
    range.selectNodeContents(pre);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    return document.execCommand && document.execCommand("copy");
  }
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}
