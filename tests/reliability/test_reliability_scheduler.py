"""The dask scheduler lost mid-job: the job fails with a sentence saying so, and once a
scheduler is back at the same address, re-running it (one call) gives the right result."""

from __future__ import annotations

import io
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from apps.jobs import executor as job_executor
from tests.jobs.support import submit, wait_status, wait_terminal
from tests.reliability.conftest import DaskProcesses, pause

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PARAMS = {"shape": "disk", "cx": 6, "cy": 8, "r": 4}


@pytest.fixture
def dask_processes(tmp_path: Path, settings) -> Iterator[DaskProcesses]:
    processes = DaskProcesses(tmp_path)
    processes.start()
    settings.DASK_SCHEDULER_ADDRESS = processes.address
    settings.JOB_RUNNER = "thread"
    old = job_executor.set_executor(None)  # created from settings on first use
    yield processes
    job_executor.close_executor()
    job_executor.set_executor(old)
    processes.kill()


def expected(data: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[:16, :12]
    disk = ((yy - 8) ** 2 + (xx - 6) ** 2 <= 16).astype(np.float64)
    return np.einsum("abyx,yx->ab", data.astype(np.float64), disk)


def test_a_lost_scheduler_fails_the_job_which_reruns_when_it_is_back(
    users, client_for, dataset, data, dask_processes
):
    client = client_for(users.owner)
    assert wait_terminal(submit(client, dataset, "virtual", PARAMS).json()["id"]).status == (
        "finished"
    )  # the executor is connected
    pause([w.pid for w in dask_processes.workers])  # hold the next job mid-run
    job_id = submit(client, dataset, "virtual", PARAMS, reuse=False).json()["id"]  # not cached
    wait_status(job_id, "running")
    time.sleep(0.5)
    dask_processes.kill()
    job = wait_terminal(job_id, timeout=60)
    assert job.status == "failed"
    assert job.error.startswith("The connection to the dask scheduler was lost while the job ran")
    assert job.error.endswith("Run it again once the cluster is back.")
    assert job.results.count() == 0

    dask_processes.start()  # the same address
    response = client.post(f"/api/jobs/{job_id}/rerun/")
    assert response.status_code == 202
    rerun = wait_terminal(response.json()["id"], timeout=90)
    assert (rerun.status, rerun.error) == ("finished", "")
    body = client.get(f"/api/jobs/{rerun.pk}/results/intensity.npy").content
    np.testing.assert_allclose(np.load(io.BytesIO(body)), expected(data), rtol=1e-5)


def test_a_job_no_worker_can_run_fails_with_the_reason(
    users, client_for, dataset, data, dask_processes, settings
):
    settings.DASK_WORKER_HUNG_SECONDS = 2
    settings.JOB_UNRUNNABLE_SECONDS = 3
    client = client_for(users.owner)
    assert wait_terminal(submit(client, dataset, "virtual", PARAMS).json()["id"]).status == (
        "finished"
    )  # the executor is connected
    pause([w.pid for w in dask_processes.workers])  # every worker hangs
    try:
        job = wait_terminal(
            submit(client, dataset, "virtual", PARAMS, reuse=False).json()["id"], timeout=60
        )
    finally:
        pause([w.pid for w in dask_processes.workers], signal.SIGCONT)
    assert job.status == "failed"
    # the partition on a hung worker, or one waiting with both workers hung
    assert re.match(
        r"No worker can run partition \d \(frames \d+-\d+\): "
        r"(node-\d hung \(no heartbeat for \d+ s\)(, )?)+ for \d+ s\. ",
        job.error,
    ), job.error
    assert job.error.endswith("Run the job again once the cluster is healthy (see /healthz).")
    assert job.results.count() == 0
    # the workers are back: the same job runs again
    rerun = wait_terminal(client.post(f"/api/jobs/{job.pk}/rerun/").json()["id"], timeout=60)
    assert (rerun.status, rerun.error) == ("finished", "")
