"""Load: many users submit jobs at once through the API while websocket clients listen.

Run against a portal that is already up (``make serve-prod`` or ``make serve``), with the same
environment as the portal (it creates the users, tokens and the dataset in its database)::

    DATABASE_URL=... REDIS_URL=... SECRET_KEY=... .venv/bin/python benchmarks/load.py \\
        --url http://127.0.0.1:8000 [--users 20] [--jobs 5] [--listeners 50]

Checks that every job ends terminal and ``finished`` with the numpy reference result, and that
no request failed; prints one JSON line: API latency p50/p95, job throughput, errors.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from portal import WebSocket  # noqa: E402

NAV, SIG = (32, 32), (64, 64)
PARAMS = {"shape": "ring", "cx": 32, "cy": 32, "ri": 8, "ro": 24}


def setup(users: int) -> tuple[int, list[str], np.ndarray]:
    """Users ``load-NN`` in group ``load`` with tokens, and a shared dataset; the reference."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "libertem_site.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import Group, User

    from apps.accounts.services import token_create
    from apps.datasets.folders import folder_declare
    from apps.datasets.services import dataset_register

    group, _ = Group.objects.get_or_create(name="load")
    tokens = []
    for i in range(users):
        user, _ = User.objects.get_or_create(username=f"load-{i:02d}")
        user.groups.add(group)
        tokens.append(token_create(user=user, name="load")[1])
    data = np.random.default_rng(7).integers(0, 4000, size=(*NAV, *SIG), dtype=np.uint16)
    folder = Path(settings.DATA_ROOTS[0]) / "load"
    folder.mkdir(parents=True, exist_ok=True)
    folder_declare(path=str(folder), groups=["load"])  # the load users may register in it
    path = folder / f"load-{time.time_ns()}.npy"
    np.save(path, data)
    owner = User.objects.get(username="load-00")
    dataset = dataset_register(owner=owner, name=path.stem, path=str(path), groups=["load"])
    yy, xx = np.mgrid[: SIG[0], : SIG[1]]
    d2 = (yy - 32) ** 2 + (xx - 32) ** 2
    ring = ((d2 > 8**2) & (d2 <= 24**2)).astype(np.float64)
    return dataset.pk, tokens, np.einsum("abyx,yx->ab", data.astype(np.float64), ring)


class Client:
    """urllib with a token; records every request's latency and every error."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def call(self, token: str, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Token {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                status, content = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, content = exc.code, exc.read()
        except OSError as exc:
            status, content = 0, str(exc).encode()
        with self.lock:
            self.latencies.append(time.perf_counter() - t0)
            if status >= 400 or status == 0:
                self.errors.append(f"{method} {path}: {status} {content[:200]!r}")
        return status, content


def listen(port: int, job_id: int, token: str, seen: dict[int, list[str]]) -> None:
    """A websocket client on one job until it ends; records the message types."""
    types: list[str] = []
    ws = WebSocket(port, f"/ws/jobs/{job_id}/?token={token}")
    try:
        while not types or types[-1] not in ("finished", "failed", "cancelled"):
            opcode, payload = ws.receive()
            if opcode == 8:
                break
            if opcode == 1:
                message = json.loads(payload)
                kind = message["type"]
                if kind == "status" and message.get("status") in ("finished", "failed"):
                    kind = message["status"]
                types.append(kind)
    finally:
        ws.close()
        seen[job_id] = types


def run(url: str, users: int, jobs: int, listeners: int) -> dict[str, Any]:
    dataset, tokens, expected = setup(users)
    client = Client(url)
    port = urlsplit(url).port or 80
    body = {"dataset": dataset, "analysis": "virtual", "params": PARAMS}
    t0 = time.perf_counter()
    with ThreadPoolExecutor(users * jobs) as pool:
        submitted = list(
            pool.map(
                lambda i: (i, client.call(tokens[i % users], "POST", "/api/jobs/", body)),
                range(users * jobs),
            )
        )
    ids = {i: json.loads(content)["id"] for i, (status, content) in submitted if status == 202}
    seen: dict[int, list[str]] = {}
    threads = [
        threading.Thread(target=listen, args=(port, ids[i], tokens[i % users], seen))
        for i in sorted(ids)[:listeners]
    ]
    for t in threads:
        t.start()
    final: dict[int, dict[str, Any]] = {}
    while len(final) < len(ids) and time.perf_counter() - t0 < 900:
        for i, job_id in ids.items():
            if i in final:
                continue
            status, content = client.call(tokens[i % users], "GET", f"/api/jobs/{job_id}/")
            job = json.loads(content) if status == 200 else {}
            if job.get("status") in ("finished", "failed", "cancelled"):
                final[i] = job
        time.sleep(0.2)
    elapsed = time.perf_counter() - t0
    for t in threads:
        t.join(timeout=60)
    wrong = 0
    for i, job in final.items():
        status, content = client.call(
            tokens[i % users], "GET", f"/api/jobs/{job['id']}/results/intensity.npy"
        )
        if status != 200 or not np.allclose(np.load(io.BytesIO(content)), expected, rtol=1e-5):
            wrong += 1
    lat = np.array(client.latencies) * 1000
    return {
        "benchmark": "load",
        "users": users,
        "jobs": users * jobs,
        "accepted": len(ids),
        "terminal": len(final),
        "finished": sum(j["status"] == "finished" for j in final.values()),
        "wrong_results": wrong,
        "request_errors": len(client.errors),
        "first_errors": client.errors[:3],
        "requests": len(lat),
        "api_p50_ms": round(float(np.percentile(lat, 50)), 1),
        "api_p95_ms": round(float(np.percentile(lat, 95)), 1),
        "submit_p95_ms": round(
            float(np.percentile(np.array(client.latencies[: users * jobs]) * 1000, 95)), 1
        ),
        "seconds": round(elapsed, 2),
        "jobs_per_second": round(len(final) / elapsed, 2),
        "websocket_clients": len(threads),
        "websocket_saw_end": sum(
            1 for t in seen.values() if t and t[-1] in ("finished", "failed", "cancelled")
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=5, help="jobs per user, submitted at once")
    parser.add_argument("--listeners", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(run(args.url, args.users, args.jobs, args.listeners)))


if __name__ == "__main__":
    main()
