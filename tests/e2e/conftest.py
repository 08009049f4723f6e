"""The services of the end-to-end tests: a dask cluster and a Celery worker, one per session."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import local_cluster


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[object]:
    """Two dask worker processes on 127.0.0.1, shared by every test of the session."""
    cluster = local_cluster()
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def celery_worker(
    django_db_setup: None,
    django_db_blocker: object,
    dask_cluster: object,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[subprocess.Popen]:
    """A real Celery worker process on the test database, the Redis broker and the dask cluster.

    Its ``DATA_ROOTS`` is the session's temporary folder: every test's data root (a data folder
    declared in the database) is inside it, as jobs check.
    """
    from django.db import connection

    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    env = {
        **os.environ,
        "DATABASE_URL": f"{base}/{connection.settings_dict['NAME']}",
        "DASK_SCHEDULER_ADDRESS": dask_cluster.scheduler_address,  # type: ignore[attr-defined]
        "JOB_RUNNER": "celery",
        "DATA_ROOTS": str(tmp_path_factory.getbasetemp().resolve()),
    }
    root = Path(__file__).resolve().parent.parent.parent
    log = open(root / "var" / f"celery-test-{os.getpid()}.log", "w")  # noqa: SIM115
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "libertem_site",
            "worker",
            "-P",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "info",
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while "ready" not in (root / "var" / f"celery-test-{os.getpid()}.log").read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the Celery worker did not start; see {log.name}")
        time.sleep(0.2)
    yield worker
    worker.terminate()
    worker.wait(timeout=30)
    log.close()
