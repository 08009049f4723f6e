"""Restarts as the documented units do them. The Celery job worker stopped during a job:

``KillMode=mixed`` (docs/deploy.md): SIGTERM goes to the main process only, which stops taking
jobs and waits for the running one (a warm shutdown): the job finishes in its first attempt with
one set of results, and the worker exits 0. systemd's default, ``control-group``, sends SIGTERM
to every process of the service: the pool process running the job dies with it, so the job is
left to the reaper, which runs it again from the start. The test signals the worker's process
group the way each mode does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.jobs.support import submit, wait_status, wait_terminal
from tests.reliability.conftest import DISK, FAST_REAPER, pause, reaper_worker, worker_pids
from tests.reliability.test_reliability_faults import one_set_of_results, result_of, send_run_job

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def prefork_worker(start, name: str) -> subprocess.Popen:
    """A job worker as the unit runs it: prefork pool (here of one process), prefetch 1."""
    return start(
        "worker", "-Q", "celery", "-n", f"{name}@%h", "-c", "1", "--prefetch-multiplier", "1",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        own_group=True,
    )  # fmt: skip


def pool_processes(worker: subprocess.Popen) -> list[int]:
    children = f"/proc/{worker.pid}/task/{worker.pid}/children"
    with open(children) as f:
        return [int(pid) for pid in f.read().split()]


def running_job_mid_run(start, users, client_for, big_dataset, private_redis, name):
    worker = prefork_worker(start, name)
    job_id = submit(client_for(users.owner), big_dataset.dataset, "virtual", DISK).json()["id"]
    send_run_job(private_redis.url, job_id)
    assert wait_status(job_id, "running", timeout=60).attempt == 1
    return worker, job_id


def test_the_documented_kill_mode_lets_the_running_job_finish(
    users, client_for, big_dataset, dask_cluster, celery_processes, private_redis, held_jobs
):
    pids = list(worker_pids(dask_cluster).values())
    pause(pids)  # the job is surely mid-run when the stop comes
    try:
        worker, job_id = running_job_mid_run(
            celery_processes, users, client_for, big_dataset, private_redis, "jobs"
        )
        pool = pool_processes(worker)
        os.kill(worker.pid, signal.SIGTERM)  # KillMode=mixed: the main process only
        time.sleep(2)
        assert worker.poll() is None  # waiting for the job, not gone
        assert all(os.path.exists(f"/proc/{pid}") for pid in pool)
    finally:
        pause(pids, signal.SIGCONT)
    job = wait_terminal(job_id, timeout=120)
    assert worker.wait(timeout=60) == 0
    log = worker.log.read_text()
    assert "Warm shutdown" in log
    assert "WorkerLostError" not in log
    assert (job.status, job.attempt, job.error) == ("finished", 1, "")
    np.testing.assert_allclose(
        result_of(client_for(users.owner), job_id), big_dataset.expected, rtol=1e-5
    )
    assert one_set_of_results(job) == ["intensity"]


def test_systemds_default_kill_mode_kills_the_running_job(
    users, client_for, big_dataset, dask_cluster, celery_processes, private_redis, held_jobs
):
    pids = list(worker_pids(dask_cluster).values())
    pause(pids)
    try:
        worker, job_id = running_job_mid_run(
            celery_processes, users, client_for, big_dataset, private_redis, "jobs"
        )
        os.killpg(worker.pid, signal.SIGTERM)  # KillMode=control-group: every process
        worker.wait(timeout=60)
    finally:
        pause(pids, signal.SIGCONT)
    log = worker.log.read_text()
    assert "WorkerLostError" in log or "signal 15" in log, log[-3000:]
    job = wait_status(job_id, "running", timeout=5)
    assert (job.status, job.attempt) == ("running", 1)  # nobody finishes it: the reaper will


def test_the_reaper_is_quiet_at_info_unless_it_did_something(
    users, dataset, celery_processes, tmp_path
):
    from datetime import timedelta

    from django.utils import timezone

    from apps.jobs.models import Job

    stale = timezone.now() - timedelta(hours=1)
    job = Job.objects.create(
        owner=users.owner, dataset=dataset, analysis="sum", params={}, status="running",
        attempt=1, started=stale, heartbeat=stale,
    )  # fmt: skip
    worker = reaper_worker(celery_processes, tmp_path)
    wait_status(job.pk, "queued", timeout=30)  # a pass requeued it
    time.sleep(3 * int(FAST_REAPER["JOB_REAPER_INTERVAL"]))  # and more passes found nothing
    log = worker.log.read_text()
    assert f"reaper: ReapReport(requeued=[{job.pk}]" in log, log[-3000:]
    # Celery's own line for a revoked task arriving (a reap a pass revoked) is not the reaper's
    routine = [line for line in log.splitlines() if "Discarding revoked task" not in line]
    assert not any("jobs.reap[" in line or "reap-jobs" in line for line in routine), log[-3000:]


def test_a_dask_worker_that_cannot_import_the_portal_exits_loudly(dask_cluster, tmp_path):
    # Started as the documented unit starts it, but without PYTHONPATH (and elsewhere than the
    # checkout): it must exit non-zero (systemd restarts it and shows the failure), not idle
    # connected to the scheduler while every task it is given fails.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [
            sys.executable, "-m", "distributed.cli.dask_worker", dask_cluster.scheduler_address,
            "--name", "node-x", "--nthreads", "1", "--preload", "apps.core.warmup",
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "No module named 'apps'" in done.stderr
