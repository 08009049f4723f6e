"""A restart of PostgreSQL (``pg_ctl restart -m fast``, a private server) while a job runs and
while the API is polled: the job finishes in its first attempt with the right result, no request
answers 500, and the portal is healthy again within seconds.

Every part is a real process on the private server: ``migrate``, ``createuser``, the web
(Daphne with its pool), a Celery job worker; dask is a two-process LocalCluster.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.jobs.support import frames
from tests.processes import manage
from tests.reliability.conftest import (
    DISK,
    ROOT,
    Poller,
    PrivatePostgres,
    WebProcess,
    pause,
    portal_env,
    worker_pids,
)

pytestmark = [pytest.mark.services]

NAV, SIG = (16, 32), (128, 128)


@pytest.fixture
def celery_on(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], subprocess.Popen]]:
    started: list[subprocess.Popen] = []

    def start(env: dict[str, str]) -> subprocess.Popen:
        log = tmp_path / f"celery-{len(started)}.log"
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "libertem_site", "worker", "-Q", "celery",
                "-n", f"jobs{len(started)}@%h", "-P", "solo", "-l", "info",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        process.log = log  # type: ignore[attr-defined]
        started.append(process)
        deadline = time.monotonic() + 60
        while "ready" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        return process

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=30)


def restart_until_healthy(server: PrivatePostgres, web: WebProcess) -> float:
    """Restart the server; seconds until the web's /healthz answers 200 again."""
    t0 = time.monotonic()
    server.restart()
    while web.get("/healthz")[0] != 200:
        assert time.monotonic() - t0 < 120, "not healthy 2 minutes after the restart"
        time.sleep(0.05)
    return time.monotonic() - t0


def api(web: WebProcess, token: str, method: str, path: str, body: Any = None) -> Any:
    status, content = web.request(method, path, token, body)
    assert status in (200, 201, 202), (status, content[:500])
    return json.loads(content)


def wait_job(web: WebProcess, token: str, job_id: int, statuses: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        job = api(web, token, "GET", f"/api/jobs/{job_id}/")
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_a_postgres_restart_during_a_job_and_polling_is_survived(
    private_postgres, private_redis, dask_cluster, celery_on, tmp_path
):
    data_root = tmp_path / "data"
    data_root.mkdir()
    data = frames(NAV, SIG)
    data.tofile(data_root / "scan.raw")
    yy, xx = np.mgrid[: SIG[0], : SIG[1]]
    disk = (yy - DISK["cy"]) ** 2 + (xx - DISK["cx"]) ** 2 <= DISK["r"] ** 2
    expected = np.einsum("abyx,yx->ab", data.astype(np.float64), disk.astype(np.float64))

    database_url = private_postgres.create_database("portal")
    env = portal_env(
        database_url,
        private_redis.url,
        dask_cluster.scheduler_address,
        DATA_ROOTS=str(data_root),
        VAR_DIR=str(tmp_path / "var"),
    )
    manage(env, "migrate", "--noinput", "-v0")
    token = manage(
        env, "createuser", "alice", "--staff", "--password-stdin", stdin="alice-pw-4d-stem"
    ).split()[-1]
    worker = celery_on({**env, "DB_CONN_MAX_AGE": "600"})  # as the Procfile's worker
    web = WebProcess(env, tmp_path / "web.log")
    figures: dict[str, Any] = {}
    try:
        params = {"nav_shape": list(NAV), "sig_shape": list(SIG), "dtype": "<u2"}
        dataset = api(web, token, "POST", "/api/datasets/", {
            "name": "scan", "path": str(data_root / "scan.raw"), "format": "raw", "params": params,
        })  # fmt: skip
        pollers = [
            Poller(web, token, ["/api/datasets/", f"/api/datasets/{dataset['id']}/", "/healthz"])
            for _ in range(2)
        ]
        for poller in pollers:
            poller.start()
        pids = list(worker_pids(dask_cluster).values())
        pause(pids)  # the job is surely mid-run while the server restarts
        try:
            body = {"dataset": dataset["id"], "analysis": "virtual", "params": DISK}
            job_id = api(web, token, "POST", "/api/jobs/", body)["id"]
            wait_job(web, token, job_id, {"running"})
            figures["healthy_after_restart_mid_job_s"] = restart_until_healthy(
                private_postgres, web
            )
            time.sleep(2)  # heartbeats and stop checks meet the new server
        finally:
            pause(pids, signal.SIGCONT)
        job = wait_job(web, token, job_id, {"finished", "failed", "cancelled"})
        figures["healthy_after_idle_restart_s"] = restart_until_healthy(private_postgres, web)
        time.sleep(1)
        # the worker kept its connection from the first job: the next one finds it dead
        again = api(web, token, "POST", "/api/jobs/", {**body, "params": {**DISK, "r": 4}})
        after = wait_job(web, token, again["id"], {"finished", "failed", "cancelled"})
        statuses: dict[int, int] = {}
        for poller in pollers:
            for status, count in poller.stop().items():
                statuses[status] = statuses.get(status, 0) + count
        status, content = web.get(f"/api/jobs/{job_id}/results/intensity.npy", token)
    finally:
        web.stop()
    figures["requests"] = statuses
    print(json.dumps({"postgres_restart": figures}))
    log = web.log.read_text()
    assert (job["status"], job["attempt"], job["error"]) == ("finished", 1, ""), (
        worker.log.read_text()[-3000:]
    )
    assert (after["status"], after["attempt"], after["error"]) == ("finished", 1, ""), (
        worker.log.read_text()[-3000:]
    )
    assert status == 200
    np.testing.assert_allclose(np.load(io.BytesIO(content)), expected, rtol=1e-5)
    assert 500 not in statuses, (statuses, log[-3000:])
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] >= 10
    assert "the database connection was lost" in worker.log.read_text()
