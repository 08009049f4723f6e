"""The production shape: PostgreSQL, Redis (broker + channel layer), a real Celery worker
process, and a dask scheduler with two worker processes.

Runs only on the services pass of ``make test`` (DATABASE_URL and REDIS_URL set).
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from apps.accounts.services import token_create
from apps.jobs.models import Job
from libertem_site.asgi import application
from tests.jobs.support import ORIGIN, submit, wait_status, wait_terminal

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker"),
]

PARAMS = {"shape": "disk", "cx": 6, "cy": 8, "r": 4}


@pytest.fixture
def celery_runner(settings: Any) -> None:
    settings.JOB_RUNNER = "celery"


def expected_intensity(data: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[:16, :12]
    disk = ((yy - 8) ** 2 + (xx - 6) ** 2 <= 16).astype(np.float64)
    return np.einsum("abyx,yx->ab", data.astype(np.float64), disk)


@pytest.mark.usefixtures("celery_runner")
async def test_it_runs_a_job_on_celery_and_dask_with_live_progress(
    users, client_for, dataset, data, held_jobs
):
    def setup() -> tuple[int, str]:
        owner = client_for(users.owner)
        response = submit(owner, dataset, "virtual", PARAMS)
        assert response.status_code == 202
        job_id = response.json()["id"]
        # The member watches: alice shares the job with those who see the dataset.
        shared = owner.post(f"/api/jobs/{job_id}/share/", {"shared": True}, "application/json")
        assert shared.status_code == 200
        return job_id, token_create(user=users.member, name="ws")[1]

    job_id, key = await database_sync_to_async(setup)()
    ws = WebsocketCommunicator(application, f"/ws/jobs/{job_id}/?token={key}", headers=[ORIGIN])
    connected, _ = await ws.connect()
    assert connected
    assert json.loads(await ws.receive_from(timeout=10))["status"] == "queued"
    await database_sync_to_async(held_jobs.release)()  # -> run_job.delay(job_id) via Redis
    types = []
    while not types or types[-1] not in ("finished", "failed", "cancelled"):
        raw = await ws.receive_output(timeout=60)
        if raw.get("text"):
            types.append(json.loads(raw["text"])["type"])
    await ws.disconnect()
    assert types[-1] == "finished"
    assert "progress" in types
    assert types.index("progress") < types.index("finished")

    def check() -> None:
        job = wait_terminal(job_id)
        assert (job.status, job.attempt) == ("finished", 1)
        assert len(job.partitions) == 2  # one per dask worker
        assert all(p["worker"] in ("0", "1") for p in job.partitions)
        client = client_for(users.owner)
        body = client.get(f"/api/jobs/{job_id}/results/intensity.npy")
        intensity = np.load(io.BytesIO(body.content))
        np.testing.assert_allclose(intensity, expected_intensity(data), rtol=1e-5)

    await database_sync_to_async(check)()


@pytest.mark.usefixtures("celery_runner")
def test_it_cancels_a_queued_job_before_the_worker_runs_it(users, client_for, dataset, held_jobs):
    client = client_for(users.owner)
    job_id = submit(client, dataset, "sum").json()["id"]
    assert client.post(f"/api/jobs/{job_id}/cancel/").json()["status"] == "cancelled"
    held_jobs.release()  # the worker receives the task and finds nothing to run
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.attempt, job.results.count()) == ("cancelled", 0, 0)


@pytest.mark.usefixtures("celery_runner")
def test_a_cancel_right_after_submit_always_wins(users, client_for, dataset):
    """Submitted to the real worker at once and cancelled at once, twenty times: whether the
    cancel finds the job queued, running or about to store its results, it ends cancelled."""
    client = client_for(users.owner)
    ids = []
    for i in range(20):
        job_id = submit(client, dataset, "virtual", PARAMS).json()["id"]
        if i % 2:  # every other cancel once the worker has claimed the job
            wait_status(job_id, "running", interval=0.001)
        response = client.post(f"/api/jobs/{job_id}/cancel/")
        assert response.status_code == 200, response.content
        assert response.json()["cancel_requested"] is True
        ids.append(job_id)
    jobs = [wait_terminal(job_id, timeout=60) for job_id in ids]
    assert [(j.status, j.error) for j in jobs] == [("cancelled", "cancelled")] * 20
    assert sum(j.results.count() for j in jobs) == 0
    again = client.post(f"/api/jobs/{ids[0]}/cancel/")
    assert again.status_code == 409
    assert again.json()["fields"] == {"status": "cancelled"}
