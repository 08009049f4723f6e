"""One drag's stages, for ``benchmarks/interactive.py --trace``.

The page's requests and websocket messages are timed by wrappers an init script puts around
``fetch`` and ``WebSocket`` (the page's own code is unchanged); the server's side comes from the
job as the API returns it after the drag (``created``, ``started``, ``finished`` and each
partition's seconds), on the page's clock through ``performance.timeOrigin`` (one machine, one
clock). Stages, in milliseconds from the drag's last mouse move:

``post``      the job's POST sent (the page's release handling)
``created``   the job's row written (server)
``posted``    the POST's answer in the page
``started``   the job claimed and started (server)
``running``   the websocket's first message after the answer in the page
``finished``  the job's row finished (server)
``finished_msg`` the ``finished`` message in the page
``npy``       the final result's ``.npy`` fetched (start and end)
``drawn``     the ``job-final-image`` mark
"""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

#: Records ``[time, what, detail]`` of every fetch (start and end) and websocket message.
TRACE_INIT = """() => {
    window.__trace = [];
    const log = (what, detail) => window.__trace.push([performance.now(), what, detail]);
    const fetch0 = window.fetch;
    window.fetch = async (url, init) => {
        const u = String(url && url.url || url), m = (init && init.method) || 'GET';
        log('fetch', m + ' ' + u);
        const r = await fetch0(url, init);
        log('fetched', m + ' ' + u);
        return r;
    };
    const WS = window.WebSocket;
    window.WebSocket = function (...args) {
        const ws = new WS(...args);
        log('ws-open', String(args[0]));
        ws.addEventListener('message', (e) => {
            let kind = 'binary';
            if (typeof e.data === 'string') { try { kind = JSON.parse(e.data).type; } catch {} }
            log('ws', kind);
        });
        return ws;
    };
    window.WebSocket.prototype = WS.prototype;
    Object.assign(window.WebSocket, { OPEN: WS.OPEN, CLOSED: WS.CLOSED, CONNECTING: WS.CONNECTING,
                                      CLOSING: WS.CLOSING });
}"""

STAGES = (
    "post",
    "created",
    "posted",
    "started",
    "running",
    "finished",
    "finished_msg",
    "npy_start",
    "npy_end",
    "drawn",
)


def _server_ms(iso: str | None, origin_ms: float) -> float | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso).timestamp() * 1e3 - origin_ms


def stages(page: Any, job_id: int, last_move: float, mark: float) -> dict[str, Any]:
    """The drag's stages (ms after ``last_move``) and its job's partition seconds."""
    events = page.evaluate("() => window.__trace.splice(0)")
    origin = page.evaluate("() => performance.timeOrigin")
    job = page.evaluate("(id) => fetch(`/api/jobs/${id}/`).then((r) => r.json())", job_id)
    found: dict[str, float] = {}

    def first(name: str, t: float) -> None:
        if name not in found and last_move <= t <= mark:
            found[name] = t - last_move

    for t, what, detail in events:
        if what == "fetch" and detail == "POST /api/jobs/":
            first("post", t)
        elif what == "fetched" and detail == "POST /api/jobs/":
            first("posted", t)
        elif what == "ws" and "posted" in found:
            first("running", t)
            if detail == "finished":
                first("finished_msg", t)
        elif what == "fetch" and f"/{job_id}/" in detail and ".npy" in detail:
            first("npy_start", t)
        elif what == "fetched" and f"/{job_id}/" in detail and ".npy" in detail:
            first("npy_end", t)
    for name in ("created", "started", "finished"):
        at = _server_ms(job.get(name), origin)
        if at is not None:
            found[name] = at - last_move
    found["drawn"] = mark - last_move
    parts = [round(p.get("seconds", 0) * 1e3, 1) for p in job.get("partitions") or []]
    return {**{k: round(found[k], 1) for k in STAGES if k in found}, "partition_ms": parts}


def summary(traces: list[dict[str, Any]]) -> dict[str, float]:
    """The median of each stage over the drags that have it."""
    out = {}
    for name in STAGES:
        values = [t[name] for t in traces if name in t]
        if values:
            out[name] = round(statistics.median(values), 1)
    return out
