"""``make serve-prod`` stopped with Ctrl-C in the middle of a job (docs/deploy.md, *Restarts*).

honcho signals each Procfile process's whole process group and SIGKILLs what is left after a
wait. The Procfile's job worker runs behind ``libertem_site.stop_main_only``, so only the Celery
main process gets the SIGTERM and shuts down warm, and the dask scheduler and worker stop only
after it; ``libertem_site.honcho_start`` makes honcho wait ``STOP_TIMEOUT`` instead of its fixed
5 s. The running job finishes in its first attempt with one set of results, and then honcho
exits. The test runs the Procfile itself under honcho as the Makefile starts it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.jobs.support import submit, wait_status, wait_terminal
from tests.reliability.conftest import (
    DISK,
    ROOT,
    free_port,
    pause,
    portal_env,
    send_run_job,
)
from tests.reliability.test_reliability_faults import one_set_of_results, result_of

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

HONCHO_KILL_WAIT = 5  # honcho 2.0's own wait before SIGKILL


@contextlib.contextmanager
def honcho_running(procfile: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """honcho as ``make serve-prod`` runs it; stopped at the end if the test did not."""
    process = start_honcho(procfile, env, log)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=180)


def start_honcho(procfile: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """honcho leading its own group like a terminal's job."""
    process = subprocess.Popen(
        [sys.executable, "-m", "libertem_site.honcho_start", "start", "-f", str(procfile),
         "-d", str(ROOT), "--no-colour", "-p", str(free_port())],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while " ready." not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"honcho did not start the worker:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return process


def stack_env(private_redis, data_root, var_dir: Path) -> dict[str, str]:
    from django.conf import settings
    from django.db import connection

    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    bin_dir = str(Path(sys.executable).parent)
    port = free_port()
    return portal_env(
        f"{base}/{connection.settings_dict['NAME']}",
        private_redis.url,
        f"tcp://127.0.0.1:{port}",
        DASK_SCHEDULER_PORT=str(port),
        DASK_DASHBOARD_PORT=str(free_port()),
        DASK_EXPECTED_WORKERS="node-a,node-b",
        DASK_WORKER_MEMORY_LIMIT="1GiB",
        DATA_ROOTS=os.pathsep.join(str(p) for p in settings.DATA_ROOTS),
        CELERY_CONCURRENCY="1",
        STOP_TIMEOUT="120",
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",  # as the Makefile puts the venv first
        PYTHONPATH=str(ROOT),
        VAR_DIR=str(var_dir),
    )


def dask_worker_pids(address: str) -> list[int]:
    from distributed import Client

    with Client(address, set_as_default=False, timeout=60) as client:
        client.wait_for_workers(2, timeout=120)
        return list(client.run(os.getpid).values())


def test_ctrl_c_on_honcho_lets_the_running_job_finish(
    users, client_for, big_dataset, private_redis, data_root, held_jobs, tmp_path
):
    procfile = ROOT / "Procfile"  # the web and beat stop at once: honcho's SIGKILL countdown runs
    log = tmp_path / "honcho.log"
    env = stack_env(private_redis, data_root, tmp_path / "var")
    with honcho_running(procfile, env, log) as honcho:
        pids = dask_worker_pids(env["DASK_SCHEDULER_ADDRESS"])
        pause(pids)  # the job is surely mid-run when the stop comes
        try:
            response = submit(client_for(users.owner), big_dataset.dataset, "virtual", DISK)
            job_id = response.json()["id"]
            send_run_job(private_redis.url, job_id)
            assert wait_status(job_id, "running", timeout=60).attempt == 1
            os.killpg(honcho.pid, signal.SIGINT)  # Ctrl-C: the terminal signals honcho's group
            time.sleep(HONCHO_KILL_WAIT + 2)
            assert honcho.poll() is None, log.read_text()[-3000:]  # waiting for the job
            assert wait_status(job_id, "running", timeout=5).attempt == 1
        finally:
            pause(pids, signal.SIGCONT)
        job = wait_terminal(job_id, timeout=120)
        honcho.wait(timeout=60)
    text = log.read_text()
    assert "Warm shutdown" in text, text[-3000:]
    assert "WorkerLostError" not in text and "SIGKILL" not in text, text[-3000:]
    assert "web.1 stopped" in text and "beat.1 stopped" in text, text[-3000:]
    assert "scheduler.1 stopped (rc=0)" in text, text[-3000:]
    assert text.index("worker.1 stopped") < text.index("scheduler.1 stopped"), text[-3000:]
    assert "worker.1 stopped (rc=0)" in text, text[-3000:]
    assert (job.status, job.attempt, job.error) == ("finished", 1, "")
    np.testing.assert_allclose(
        result_of(client_for(users.owner), job_id), big_dataset.expected, rtol=1e-5
    )
    assert one_set_of_results(job) == ["intensity"]
