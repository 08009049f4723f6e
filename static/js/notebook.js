// "Save as notebook": a Jupyter notebook (nbformat 4.5) that runs the job on screen again
// through the portal's Python client (clients/python, docs/client.md) and shows its arrays,
// units and provenance. The token, as in "Copy as Python", is the user's own or a placeholder.

import { save } from "./imageexport.js";
import { py } from "./pysnippet.js";

// names that cannot be keyword arguments of Portal.run: its own options and Python's keywords
const NOT_KEYWORDS = new Set([
  "roi", "progress", "timeout", "False", "None", "True", "and", "as", "assert", "async", "await",
  "break", "class", "continue", "def", "del", "elif", "else", "except", "finally", "for", "from",
  "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
  "return", "try", "while", "with", "yield",
]);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The notebook (a JSON-ready object) for ``job`` = {dataset, analysis, params, roi?} of the
 * dataset {id, name} on the portal at ``origin``; ``title`` names the analysis. */
export function notebookFor({ origin, dataset, job, title, token = null }) {
  const key = token ? py(token) : `"paste a token from ${origin}/tokens/ here"`;
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: "python3", display_name: "Python 3", language: "python" },
      language_info: { name: "python" },
    },
    cells: [
      markdown("about", about(origin, dataset, title || job.analysis)),
      code("connect", `from libertem_portal_client import Portal\n\nportal = Portal(${py(origin)}, ${key})`),
      code("run", `result = portal.run(\n${runArguments(job).map((a) => `    ${a},\n`).join("")})\nresult`),
      code("look", "for name, array in result.items():\n" +
        "    print(name, array.shape, array.dtype, result.units[name])\nresult.provenance"),
      markdown("next", "`result[name]` is a numpy array; with matplotlib, " +
        "`plt.imshow(result[name])` shows an image. `portal.analysis(result.analysis)` lists the " +
        "parameters with their units, `portal.datasets()` the other datasets you may see."),
    ],
  };
}

/** The arguments of ``Portal.run`` for ``job``, as Python source. */
export function runArguments(job) {
  const args = [String(job.dataset), py(job.analysis)];
  if (job.roi) args.push(`roi=${py(job.roi)}`);
  const entries = Object.entries(job.params || {});
  const plain = entries.filter(([k]) => IDENTIFIER.test(k) && !NOT_KEYWORDS.has(k));
  const other = entries.filter(([k]) => !IDENTIFIER.test(k) || NOT_KEYWORDS.has(k));
  for (const [k, v] of plain) args.push(`${k}=${py(v)}`);
  if (other.length) args.push(`**${py(Object.fromEntries(other))}`);
  return args;
}

function about(origin, dataset, title) {
  return `# ${title} of ${dataset.name}\n\n` +
    `Made on the analysis page of [dataset ${dataset.id}](${origin}/datasets/${dataset.id}/analyze/) ` +
    "of LiberTEM Portal: it runs the same job again through the portal's Python client and " +
    "loads its results as numpy arrays.\n\n" +
    "It needs the client: `pip install ./clients/python` in a clone of the portal's repository " +
    "(its `docs/client.md`). The token in the next cell is yours: do not share the notebook " +
    `with it, and revoke it under [API tokens](${origin}/tokens/) when done.`;
}

function markdown(id, text) {
  return { cell_type: "markdown", id, metadata: {}, source: text };
}

function code(id, text) {
  return { cell_type: "code", id, metadata: {}, execution_count: null, outputs: [], source: text };
}

/** On click of ``button``, save the notebook of ``source()`` (notebookFor's argument, or null
 * when there is no job yet) as ``dataset-<id>-<analysis>.ipynb``. */
export function bindNotebookSave(button, source) {
  button.addEventListener("click", () => {
    const input = source();
    if (!input) return;
    const text = `${JSON.stringify(notebookFor(input), null, 1)}\n`;
    save(new Blob([text], { type: "application/x-ipynb+json" }),
      `dataset-${input.dataset.id}-${input.job.analysis}.ipynb`);
  });
}
