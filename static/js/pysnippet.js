// "Copy as Python": a script that runs the job on screen again through the API and loads its
// results as numpy arrays. It needs only numpy and the standard library (urllib), so it runs
// in any scientific Python; the token is the user's own, made with one click on the page.

/** Python source that submits ``body`` to ``origin`` with ``token`` (null: a placeholder),
 * waits for the job, and loads ``names`` into the dict ``results``. */
export function pythonSnippet(origin, body, names, token = null) {
  const key = token ? py(token) : `"paste a token from ${origin}/tokens/ here"`;
  return `import io
import json
import time
import urllib.error
import urllib.request

import numpy as np

BASE = ${py(origin)}
TOKEN = ${key}


def api(path, body=None):
    """The API's answer to a GET of path (a POST when there is a body), as bytes."""
    request = urllib.request.Request(
        BASE + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"{path}: {err.code} {err.read().decode()}") from None


job_id = json.loads(api("/api/jobs/", ${py(body)}))["id"]
while True:
    job = json.loads(api(f"/api/jobs/{job_id}/"))
    if job["status"] in ("finished", "failed", "cancelled"):
        break
    time.sleep(0.5)
if job["status"] != "finished":
    raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error', '')}")

results = {}
for name in ${py(names)}:
    results[name] = np.load(io.BytesIO(api(f"/api/jobs/{job_id}/results/{name}.npy")))
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
