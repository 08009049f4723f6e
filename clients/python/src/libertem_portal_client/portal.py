"""``Portal``: one portal, one API token; datasets, analyses, jobs and their results.

Every method is one or two calls of the HTTP API described in the portal's docs/api.md; the
answers are the API's JSON objects as Python dicts, and a finished job's results come back as a
``Result`` of numpy arrays. A refusal raises the ``PortalError`` subclass of its status.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import requests

from .errors import JobCancelled, JobFailed, PortalError, error_for
from .follow import FINAL, follow
from .result import Result

Ref = int | dict[str, Any] | Result


class Portal:
    """A LiberTEM Portal at ``url`` (``https://portal.example``), used with an API token of
    yours (make one at ``<url>/tokens/``).

    ``timeout`` bounds each HTTP request in seconds; ``progress`` is whether ``run`` and
    ``wait`` show a progress bar unless told otherwise.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 60.0, progress: bool = True):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"url: expected the portal's address, such as https://portal.example, got {url!r}"
            )
        self.url = url.rstrip("/")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.timeout = timeout
        self.progress = progress
        self._token = token
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Token {token}"
        self._analyses: list[dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"Portal({self.url!r})"

    # ------------------------------------------------------------------ datasets and analyses

    def datasets(self, query: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        """The datasets you may see that match, newest first, from all pages of the search.

        ``query``: words in the name, notes, tags or annotations. Keyword filters, as
        ``GET /api/datasets/`` takes them: ``tag`` and ``annotation`` (``"key"`` or
        ``"key:value"``; a list for several), ``format``, ``nav_shape`` and ``sig_shape`` (a
        tuple such as ``(64, 64)``), ``owner``, ``group``, ``created_after`` and
        ``created_before`` (a ``datetime.date`` or ``"2026-12-31"``).
        """
        params = {k: _filter_value(v) for k, v in _present({"q": query, **filters}).items()}
        answer = self._json("GET", "/api/datasets/", params=params)
        found = list(answer["datasets"])
        while answer.get("next"):  # one page at a time, as the portal pages them
            answer = self._json("GET", answer["next"])
            found.extend(answer["datasets"])
        return found

    def dataset(self, dataset: Ref) -> dict[str, Any]:
        """One dataset: its shape, dtype, calibration, partitions and status."""
        return self._json("GET", f"/api/datasets/{_id(dataset, 'dataset')}/")

    def annotate(
        self,
        dataset: Ref,
        *,
        notes: str | None = None,
        tags: list[str] | None = None,
        annotations: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Replaces the notes, the tags or your key-value annotations of a dataset of yours
        (those given; a key with the value ``None`` is dropped); the dataset as it is then."""
        given = {"notes": notes, "tags": tags, "annotations": annotations}
        body = {k: v for k, v in given.items() if v is not None}
        return self._json("POST", f"/api/datasets/{_id(dataset, 'dataset')}/notes/", json=body)

    def analyses(self) -> list[dict[str, Any]]:
        """Every analysis the portal offers, with its parameters (type, unit, default, bounds)
        and results (shape, unit)."""
        self._analyses = self._json("GET", "/api/analyses/")["analyses"]
        return self._analyses

    def analysis(self, name: str) -> dict[str, Any]:
        """The declaration of the analysis ``name``."""
        # the list is kept; read again once when a plugin may have come since
        for analyses in (self._analyses or [], self.analyses()):
            for analysis in analyses:
                if analysis["name"] == name:
                    return analysis
        known = ", ".join(a["name"] for a in self._analyses or [])
        raise PortalError(f"analysis: expected one of {known}, got {name!r}")

    def frame(self, dataset: Ref, *, y: int, x: int) -> np.ndarray:
        """The detector frame at scan position (``y``, ``x``), read at once (float32)."""
        url = f"/api/datasets/{_id(dataset, 'dataset')}/frame/"
        return _load_npy(self._request("GET", url, params={"y": y, "x": x}).content)

    def upload_mask(self, dataset: Ref, masks: np.ndarray, *, name: str = "") -> dict[str, Any]:
        """Uploads ``masks`` (``(m, sy, sx)`` or one ``(sy, sx)`` mask of the dataset's
        detector) for the ``masks`` analysis; its ``id`` goes into ``params={"masks": id}``."""
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(masks), allow_pickle=False)
        files = {"file": ("masks.npy", buffer.getvalue(), "application/octet-stream")}
        data = {"dataset": str(_id(dataset, "dataset")), "name": name}
        return self._request("POST", "/api/masks/", files=files, data=data).json()

    # ------------------------------------------------------------------ jobs

    def submit(
        self, dataset: Ref, analysis: str, /, *, roi: Any = None, reuse: bool = True, **params: Any
    ) -> dict[str, Any]:
        """Starts ``analysis`` on ``dataset`` with ``params`` and ``roi`` (see ``run``); the
        job at once, still waiting or running."""
        dataset_id = _id(dataset, "dataset")
        body: dict[str, Any] = {
            "dataset": dataset_id,
            "analysis": analysis,
            "params": {k: self._param(dataset_id, v) for k, v in params.items()},
        }
        if roi is not None:
            body["roi"] = _roi(roi)
        if not reuse:
            body["reuse"] = False
        answer = self._json("POST", "/api/jobs/", json=body)
        return {**answer, "analysis": analysis}

    def reproduce(
        self,
        record: dict[str, Any] | Result,
        *,
        reuse: bool = False,
        progress: bool | None = None,
        timeout: float | None = None,
    ) -> Result:
        """Computes a result again from its provenance record (``Result.provenance``, or a
        record saved as JSON): the same dataset files, analysis code, parameters, ROI and
        partitions, so the same bytes. ``BadRequest`` naming ``record`` when the files, the
        code or the engine are no longer those recorded. ``reuse=True`` lets the portal answer
        from an equal finished job instead of computing."""
        body = {"record": record.provenance if isinstance(record, Result) else record}
        if not reuse:
            body["reuse"] = False
        job = self._json("POST", "/api/jobs/", json=body)
        return self.results(self.wait(job, progress=progress, timeout=timeout))

    def wait(
        self, job: Ref, *, progress: bool | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """Follows ``job`` until it ends and returns it as ``job()`` does; a progress bar on
        stderr (a widget in Jupyter) while ``progress``. Raises ``JobFailed`` or
        ``JobCancelled`` when it did not finish, ``TimeoutError`` after ``timeout`` seconds
        (the job keeps running)."""
        watched = job if isinstance(job, dict) and "ws" in job else self.job(job)
        show = self.progress if progress is None else progress
        follow(origin=self.origin, token=self._token, job=watched, progress=show, timeout=timeout)
        ended = self.job(watched["id"])
        if ended["status"] == "failed":
            raise JobFailed(f"Job {ended['id']} failed: {ended['error']}", job=ended)
        if ended["status"] == "cancelled":
            raise JobCancelled(f"Job {ended['id']} was cancelled.", job=ended)
        if ended["status"] not in FINAL:  # the socket said it ended; the database is the truth
            raise PortalError(
                f"Job {ended['id']} is {ended['status']} although its websocket said it ended."
            )
        return ended

    def run(
        self,
        dataset: Ref,
        analysis: str,
        /,
        *,
        roi: Any = None,
        reuse: bool = True,
        progress: bool | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> Result:
        """Runs ``analysis`` on ``dataset`` and returns its results as numpy arrays.

        ``params`` are the analysis's parameters (``analysis(name)["params"]``); a numpy array
        for a ``masks`` parameter is uploaded first. ``roi`` limits the scan positions:
        ``{"shape": "rect", "y", "x", "height", "width"}``, ``{"shape": "disk", "cy", "cx",
        "r"}``, or a boolean array of the scan's shape. A job equal to a finished one you may
        see is answered from the portal's result cache (its ``kind`` is ``reused``) with the
        same bytes; ``reuse=False`` computes anew.
        """
        job = self.submit(dataset, analysis, roi=roi, reuse=reuse, **params)
        return self.results(self.wait(job, progress=progress, timeout=timeout))

    def results(self, job: Ref) -> Result:
        """The results of a finished job, downloaded as numpy arrays."""
        finished = job.job if isinstance(job, Result) else job
        if not (isinstance(finished, dict) and "results" in finished):
            finished = self.job(finished)
        if finished["status"] != "finished":
            raise PortalError(
                f"Job {finished['id']} is {finished['status']}; only a finished job has results."
            )
        declared = {
            r["name"]: r.get("unit", "") for r in self.analysis(finished["analysis"])["results"]
        }
        arrays = {r["name"]: self._download(r["urls"]["npy"]) for r in finished["results"]}
        units = {name: declared.get(name, "") for name in arrays}
        return Result(job=finished, arrays=arrays, units=units)

    def job(self, job: Ref) -> dict[str, Any]:
        """One job as the portal has it now (with its ``results`` once finished)."""
        return self._json("GET", f"/api/jobs/{_id(job, 'job')}/")

    def jobs(self, **filters: Any) -> list[dict[str, Any]]:
        """The jobs you may see, newest first; filters as ``GET /api/jobs/`` takes them:
        ``dataset``, ``analysis``, ``status``, ``owner``, ``superseded``, ``limit``."""
        params = {k: _query_value(v) for k, v in _present(filters).items()}
        return self._json("GET", "/api/jobs/", params=params)["jobs"]

    def cancel(self, job: Ref) -> dict[str, Any]:
        """Cancels a job that waits or runs; the job as it is then."""
        return self._json("POST", f"/api/jobs/{_id(job, 'job')}/cancel/")

    # ------------------------------------------------------------------ HTTP

    def _param(self, dataset_id: int, value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return self.upload_mask(dataset_id, value)["id"]
        return _plain(value)

    def _download(self, path: str) -> np.ndarray:
        return _load_npy(self._request("GET", path).content)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = self.url + path if path.startswith("/api/") else self.origin + path
        try:
            response = self._session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as err:
            raise PortalError(f"Could not reach the portal at {self.url}: {err}") from err
        if response.status_code >= 400:
            raise error_for(response.status_code, response.content)
        return response


def _id(ref: Ref, what: str) -> int:
    if isinstance(ref, Result):
        return ref.id
    if isinstance(ref, dict):
        ref = ref.get("id")
    if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
        return int(ref)
    raise TypeError(f"{what}: expected an id or an object with an 'id', got {ref!r}")


def _roi(roi: Any) -> dict[str, Any]:
    if isinstance(roi, np.ndarray):
        return {"mask": roi.astype(bool).tolist()}
    return _plain(roi)


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as the Python numbers and lists JSON takes."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _present(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _filter_value(value: Any) -> Any:
    if isinstance(value, tuple):  # a shape
        return "x".join(str(n) for n in value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, Result)):
        return _id(value, "filter")
    return value


def _load_npy(content: bytes) -> np.ndarray:
    return np.load(io.BytesIO(content), allow_pickle=False)
