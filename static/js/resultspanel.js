// Downloads of a job's results, and copying text (the "copy as Python" snippet: pysnippet.js).

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
