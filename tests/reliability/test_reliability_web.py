"""The web process never waits for compute: with a dask worker hung (SIGSTOP) it starts,
answers ``/healthz`` naming the hung worker, and serves pages and the API."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import pytest

from tests.reliability.conftest import DaskProcesses, WebProcess

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def web_env(dask: DaskProcesses) -> dict[str, str]:
    from django.db import connection

    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    return {
        **os.environ,
        "DATABASE_URL": f"{base}/{connection.settings_dict['NAME']}",
        "DASK_SCHEDULER_ADDRESS": dask.address,
        "JOB_RUNNER": "celery",
        "DASK_WORKER_HUNG_SECONDS": "2",
        "DASK_EXPECTED_WORKERS": "node-0,node-1,node-2",
    }


def health(web: WebProcess) -> dict[str, Any]:
    status, body = web.get("/healthz", timeout=5)
    report = json.loads(body)
    assert status == (200 if report["ok"] else 503)
    return report


@pytest.mark.parametrize("runner", ["celery", "thread"])
def test_the_web_process_starts_and_serves_while_a_dask_worker_is_hung(
    users, dataset, dask_processes, tmp_path, runner
):
    from apps.accounts.services import token_create

    key = token_create(user=users.owner, name="script")[1]
    hung = dask_processes.workers[1].pid
    os.kill(hung, signal.SIGSTOP)
    env = {**web_env(dask_processes), "JOB_RUNNER": runner}
    web = WebProcess(env, tmp_path / "web.log", healthy=False)
    try:
        time.sleep(2.5)  # the worker's last heartbeat is older than DASK_WORKER_HUNG_SECONDS
        web.wait_for("/login/")
        report = health(web)
        assert report["ok"] is False
        checks = report["checks"]
        assert checks["database"]["ok"] and checks["dask_scheduler"]["ok"]
        workers = checks["dask_workers"]
        assert workers["ok"] is False
        assert {w["name"]: w["state"] for w in workers["workers"]} == {
            "node-0": "running",
            "node-1": "hung",
            "node-2": "missing",
        }
        assert "node-1 hung (no heartbeat for" in workers["error"]
        assert "node-2 missing" in workers["error"]
        assert "127.0.0.1" not in json.dumps(report)

        status, body = web.get("/api/datasets/", timeout=5, token=key)
        assert status == 200
        assert [d["name"] for d in json.loads(body)["datasets"]] == [dataset.name]
        assert web.get("/login/", timeout=5)[0] == 200

        os.kill(hung, signal.SIGCONT)
        deadline = time.monotonic() + 30
        while health(web)["checks"]["dask_workers"]["workers"][1]["state"] != "running":
            assert time.monotonic() < deadline, "node-1 is not reported running after SIGCONT"
            time.sleep(0.2)
    finally:
        os.kill(hung, signal.SIGCONT)
        web.stop()


def test_the_status_page_shows_each_workers_state(users, client_for, dask_processes, settings):
    settings.DASK_SCHEDULER_ADDRESS = dask_processes.address
    settings.DASK_WORKER_HUNG_SECONDS = 2
    settings.DASK_EXPECTED_WORKERS = ["node-0", "node-1", "node-2"]
    hung = dask_processes.workers[0].pid
    os.kill(hung, signal.SIGSTOP)
    try:
        time.sleep(2.5)
        page = client_for(users.staff).get("/status/").content.decode()
    finally:
        os.kill(hung, signal.SIGCONT)
    rows = {
        name: page.split(f"<tr><td>{name}</td>", 1)[1].split("</tr>", 1)[0]
        for name in ("node-0", "node-1", "node-2")
    }
    assert "hung (no heartbeat for" in rows["node-0"]
    assert ">running<" in rows["node-1"]
    assert ">missing<" in rows["node-2"]
