"""Data larger than the workers' memory, in the production configuration: two ``dask worker``
processes with nannies, a 512 MiB memory limit each and the warm-up preload (as the Procfile
starts them), a Celery job worker and the reaper (Celery beat, every 2 s, heartbeat timeout
4 s), and a 4 GiB dataset (a sparse file: its holes read as zeros through the page cache like
data would). The job finishes with the right result and no worker is paused or restarted;
with a worker stopped (SIGSTOP) mid-job for longer than the reaper's limit the job finishes on
the other; a cancel while a worker is stopped ends the job within seconds.
"""

from __future__ import annotations

import io
import os
import resource
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tests.jobs.support import submit, wait_progress, wait_status, wait_terminal
from tests.reliability.conftest import (
    DaskProcesses,
    job_worker,
    reaper_worker,
    send_run_job,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

LIMIT = 512 * 2**20
NAV = (128, 256)  # 32768 frames of 256 x 256 uint16: 4 GiB, 4 x the workers' memory limits
SIG = (256, 256)
DISK = {"shape": "disk", "cx": 128, "cy": 128, "r": 40}
MARKED = range(0, NAV[0] * NAV[1], 509)  # frames with data in them; the rest are holes


#: The Celery worker's fault settings: a worker silent 2 s is hung.
FAULTS = {"DASK_WORKER_HUNG_SECONDS": "2", "JOB_UNRUNNABLE_SECONDS": "20"}


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[DaskProcesses]:
    processes = DaskProcesses(tmp_path, memory_limit=str(LIMIT), production=True)
    processes.start()
    yield processes
    processes.kill()


@pytest.fixture
def dask_cluster(workers: DaskProcesses, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The Celery processes of ``celery_processes`` compute on :func:`workers`."""
    for name, value in FAULTS.items():
        monkeypatch.setenv(name, value)
    return SimpleNamespace(scheduler_address=workers.address)


@pytest.fixture
def run(
    celery_processes: Any, private_redis: Any, tmp_path: Path, held_jobs: Any
) -> Callable[[Any, Any], int]:
    """``run(client, dataset)``: submit a virtual-detector job for the Celery job worker."""
    job_worker(celery_processes, "jobs")
    reaper_worker(celery_processes, tmp_path)

    def submit_virtual(client: Any, dataset: Any) -> int:
        job_id = submit(client, dataset, "virtual", DISK).json()["id"]
        send_run_job(private_redis.url, job_id)
        return job_id

    return submit_virtual


@pytest.fixture
def huge(db: None, users: SimpleNamespace, data_root: Path) -> Iterator[SimpleNamespace]:
    from apps.datasets.services import dataset_register

    path = data_root / "huge.raw"
    n = NAV[0] * NAV[1]
    with path.open("wb") as f:
        f.truncate(n * SIG[0] * SIG[1] * 2)
    frames = np.memmap(path, dtype="<u2", mode="r+", shape=(n, *SIG))
    yy, xx = np.mgrid[: SIG[0], : SIG[1]]
    disk = (yy - 128) ** 2 + (xx - 128) ** 2 <= 40**2
    expected = np.zeros(n)
    for i in MARKED:
        frame = ((yy * 7 + xx * 3 + i) % 1013).astype(np.uint16)
        frames[i] = frame
        expected[i] = frame[disk].sum(dtype=np.float64)
    frames.flush()
    del frames
    params = {"nav_shape": list(NAV), "sig_shape": list(SIG), "dtype": "<u2"}
    dataset = dataset_register(
        owner=users.owner, name="huge", path=str(path), format="raw", params=params
    )
    yield SimpleNamespace(dataset=dataset, expected=expected.reshape(NAV))
    path.unlink()  # 4 GiB of page cache go with it


def peak_rss(processes: DaskProcesses) -> dict[str, int]:
    from distributed import Client

    with Client(processes.address, timeout=30, set_as_default=False) as client:
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        names = {a: str(w["name"]) for a, w in client.scheduler_info()["workers"].items()}
    return {names[a]: peak for a, peak in peaks.items()}


def intensity(client: Any, job_id: int) -> np.ndarray:
    response = client.get(f"/api/jobs/{job_id}/results/intensity.npy")
    assert response.status_code == 200
    return np.load(io.BytesIO(response.content))


def test_a_dataset_four_times_the_workers_memory_finishes(users, client_for, workers, huge, run):
    pids = workers.worker_pids()
    client = client_for(users.owner)
    job = wait_terminal(run(client, huge.dataset), timeout=600)
    assert (job.status, job.error) == ("finished", "")
    np.testing.assert_allclose(intensity(client, job.pk), huge.expected, rtol=1e-5)
    assert workers.worker_pids() == pids  # no worker was restarted
    # and none came near dask's pause threshold (80 % of its limit)
    assert all(peak < 0.8 * LIMIT for peak in peak_rss(workers).values()), peak_rss(workers)


def test_a_worker_stopped_mid_job_leaves_the_job_to_the_other(
    users, client_for, workers, huge, run
):
    client = client_for(users.owner)
    job_id = run(client, huge.dataset)
    wait_progress(job_id, timeout=300)
    stopped = workers.worker_pids()["node-1"]
    os.kill(stopped, signal.SIGSTOP)
    try:
        time.sleep(6)  # longer than the reaper's limit (a heartbeat 4 s old)
        job = wait_terminal(job_id, timeout=600)
    finally:
        os.kill(stopped, signal.SIGCONT)
    assert (job.status, job.error, job.attempt) == ("finished", "", 1)  # never reaped
    np.testing.assert_allclose(intensity(client, job_id), huge.expected, rtol=1e-5)
    assert {p["worker"] for p in job.partitions} >= {"node-0"}


def test_a_cancel_while_a_worker_is_stopped_ends_the_job(users, client_for, workers, huge, run):
    client = client_for(users.owner)
    job_id = run(client, huge.dataset)
    wait_status(job_id, "running", timeout=120)
    stopped = workers.worker_pids()["node-1"]
    os.kill(stopped, signal.SIGSTOP)
    try:
        time.sleep(1)
        assert client.post(f"/api/jobs/{job_id}/cancel/").status_code == 200
        job = wait_terminal(job_id, timeout=30)
    finally:
        os.kill(stopped, signal.SIGCONT)
    assert (job.status, job.error) == ("cancelled", "cancelled")
    assert job.results.count() == 0
