"""Faults injected into real processes: a dask worker, a Celery worker, a duplicate delivery,
a Redis restart. Every job ends terminal, with one set of correct results.

Runs on the services pass (PostgreSQL); Redis is a private server the fixtures start.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import threading
import time
from typing import Any

import numpy as np
import pytest
import redis
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from apps.accounts.services import token_create
from apps.core.executor import DaskExecutor
from apps.jobs import driver
from apps.jobs import executor as job_executor
from apps.jobs.models import Job
from apps.results.models import Result
from tests.jobs.support import ORIGIN, submit, wait_status, wait_terminal
from tests.reliability.conftest import (
    DISK,
    FAST_REAPER,
    job_worker,
    pause,
    reaper_worker,
    send_run_job,
    worker_pids,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

# Tests on Celery hold ``queue.enqueue`` (held_jobs) and deliver run_job themselves through the
# private broker: exactly the deliveries the test means, and none on the shared Redis.


def result_of(client: Any, job_id: int, name: str = "intensity") -> np.ndarray:
    response = client.get(f"/api/jobs/{job_id}/results/{name}.npy")
    assert response.status_code == 200
    return np.load(io.BytesIO(response.content))


def one_set_of_results(job: Job) -> list[str]:
    rows = list(Result.objects.filter(job=job).values_list("name", "partial"))
    assert len(rows) == len(set(rows))
    assert all(not partial for _, partial in rows)
    return sorted(name for name, _ in rows)


class KillingExecutor(DaskExecutor):
    """16 partitions of 16 MiB; SIGKILLs one dask worker process when the first one is merged,
    while the others are queued or running."""

    def __init__(self, address: str, victim: int) -> None:
        super().__init__(address)
        self.victim = victim
        self.killed_at: int | None = None

    def partitions(self, dataset: Any, target_bytes: int = 0, **kw: Any) -> list[Any]:
        return dataset.partitions(count=16)

    def run(self, dataset: Any, analysis: Any, *, on_progress: Any = None, **kw: Any) -> Any:
        def kill_first(done: int, total: int, partial: Any) -> None:
            if self.killed_at is None:
                os.kill(self.victim, signal.SIGKILL)
                self.killed_at = done
            on_progress(done, total, partial)

        return super().run(dataset, analysis, on_progress=kill_first, **kw)


def test_a_killed_dask_worker_is_survived(
    users, client_for, big_dataset, dask_cluster, private_redis, settings
):
    settings.JOB_RUNNER = "thread"
    before = worker_pids(dask_cluster)
    victim = sorted(before.values())[0]
    executor = KillingExecutor(dask_cluster.scheduler_address, victim)
    old = job_executor.set_executor(executor)
    try:
        client = client_for(users.owner)
        job_id = submit(client, big_dataset.dataset, "virtual", DISK).json()["id"]
        job = wait_terminal(job_id, timeout=120)
    finally:
        job_executor.set_executor(old)
        executor.close()
    assert executor.killed_at is not None and executor.killed_at < job.frames_total
    assert (job.status, job.error, job.attempt) == ("finished", "", 1)
    assert sorted(p["index"] for p in job.partitions) == list(range(16))
    np.testing.assert_allclose(result_of(client, job_id), big_dataset.expected, rtol=1e-5)
    assert one_set_of_results(job) == ["intensity"]
    assert victim not in worker_pids(dask_cluster).values()  # it really died (and was replaced)


def test_a_killed_celery_worker_is_reaped_and_its_job_rerun(
    users,
    client_for,
    big_dataset,
    dask_cluster,
    celery_processes,
    private_redis,
    tmp_path,
    held_jobs,
):
    first = job_worker(celery_processes, "first")
    reaper_worker(celery_processes, tmp_path)
    pids = list(worker_pids(dask_cluster).values())
    client = client_for(users.owner)
    pause(pids)  # the job cannot progress, so it is surely mid-run when its worker dies
    try:
        job_id = submit(client, big_dataset.dataset, "virtual", DISK).json()["id"]
        send_run_job(private_redis.url, job_id)
        assert wait_status(job_id, "running", timeout=60).attempt == 1
        first.kill()
        first.wait(timeout=10)
    finally:
        pause(pids, signal.SIGCONT)
    killed = time.monotonic()
    job_worker(celery_processes, "second")
    reaper_interval = int(FAST_REAPER["JOB_REAPER_INTERVAL"])
    job = wait_terminal(job_id, timeout=reaper_interval + 60)
    assert time.monotonic() - killed < reaper_interval + 60
    assert (job.status, job.attempt, job.error) == ("finished", 2, "")
    np.testing.assert_allclose(result_of(client, job_id), big_dataset.expected, rtol=1e-5)
    assert one_set_of_results(job) == ["intensity"]


def test_a_duplicate_delivery_runs_the_job_once(
    users, client_for, big_dataset, dask_cluster, celery_processes, private_redis, held_jobs
):
    worker = job_worker(celery_processes, "jobs")
    client = client_for(users.owner)
    job_id = submit(client, big_dataset.dataset, "virtual", DISK).json()["id"]
    send_run_job(private_redis.url, job_id, task_id="duplicate-run")
    send_run_job(private_redis.url, job_id, task_id="duplicate-run")
    job = wait_terminal(job_id, timeout=60)
    deadline = time.monotonic() + 30
    while worker.log.read_text().count("not queued any more") < 1:  # the second delivery
        assert time.monotonic() < deadline, worker.log.read_text()[-3000:]
        time.sleep(0.1)
    log = worker.log.read_text()
    assert (job.status, job.attempt, job.error) == ("finished", 1, "")
    assert one_set_of_results(job) == ["intensity"]
    assert "Traceback" not in log
    assert "ERROR" not in log


def test_duplicate_drivers_at_the_same_moment_run_the_job_once(
    users, client_for, big_dataset, held_jobs, settings
):
    from apps.core.executor import InlineExecutor

    old = job_executor.set_executor(InlineExecutor())
    try:
        job_id = submit(client_for(users.owner), big_dataset.dataset, "sum").json()["id"]
        threads = [threading.Thread(target=driver.run_job, args=(job_id,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        job_executor.set_executor(old)
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.attempt, job.error) == ("finished", 1, "")
    assert one_set_of_results(job) == ["max", "mean", "sum"]


async def test_a_redis_restart_during_a_job_is_survived(
    users, client_for, big_dataset, dask_cluster, celery_processes, private_redis, held_jobs
):
    from libertem_site.asgi import application

    await database_sync_to_async(job_worker)(celery_processes, "jobs")
    pids = list((await database_sync_to_async(worker_pids)(dask_cluster)).values())

    def setup() -> tuple[int, str]:
        response = submit(client_for(users.owner), big_dataset.dataset, "virtual", DISK)
        return response.json()["id"], token_create(user=users.owner, name="ws")[1]

    job_id, key = await database_sync_to_async(setup)()
    path = f"/ws/jobs/{job_id}/?token={key}"
    before = WebsocketCommunicator(application, path, headers=[ORIGIN])
    assert (await before.connect())[0]
    assert json.loads(await before.receive_from(timeout=10))["status"] == "queued"
    pause(pids)  # hold the job mid-run while Redis goes away
    try:
        await database_sync_to_async(send_run_job)(private_redis.url, job_id)
        await database_sync_to_async(wait_status)(job_id, "running", 60)
        await database_sync_to_async(private_redis.restart)()
        # The consumer loses its Redis connection and ends (daphne closes the websocket):
        # the browser reconnects.
        with contextlib.suppress(redis.exceptions.ConnectionError):
            await before.disconnect()
        after = WebsocketCommunicator(application, path, headers=[ORIGIN])
        assert (await after.connect())[0]
        status = json.loads(await after.receive_from(timeout=10))
        assert (status["type"], status["status"]) == ("status", "running")
    finally:
        pause(pids, signal.SIGCONT)
    messages = []
    while not messages or messages[-1]["type"] not in ("finished", "failed", "cancelled"):
        raw = await after.receive_output(timeout=60)
        if raw.get("text"):
            messages.append(json.loads(raw["text"]))
    await after.disconnect()
    assert messages[-1]["type"] == "finished"
    assert [r["name"] for r in messages[-1]["results"]] == ["intensity"]

    def check() -> None:
        job = wait_terminal(job_id)
        assert (job.status, job.attempt, job.error) == ("finished", 1, "")
        intensity = result_of(client_for(users.owner), job_id)
        np.testing.assert_allclose(intensity, big_dataset.expected, rtol=1e-5)
        assert one_set_of_results(job) == ["intensity"]

    await database_sync_to_async(check)()
