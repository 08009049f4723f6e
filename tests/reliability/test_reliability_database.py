"""PostgreSQL ends the portal's connections (``pg_terminate_backend``, as a failover or an
idle-session killer does) while a job runs, while an ingestion runs and while the API is
polled: the job finishes in its first attempt with one set of correct results, the ingestion
copies every frame once, and no request answers 500.

Runs on the services pass; the web (Daphne with its connection pool), the Celery worker and
the dask workers are real processes on the test database.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest
from django.db import connection

from apps.accounts.services import token_create
from tests.jobs.support import submit, wait_status, wait_terminal
from tests.reliability.conftest import (
    DISK,
    Poller,
    WebProcess,
    job_worker,
    pause,
    portal_env,
    worker_pids,
)
from tests.reliability.test_reliability_faults import one_set_of_results, result_of, send_run_job

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def database_of_the_test() -> str:
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    return f"{base}/{connection.settings_dict['NAME']}"


class Terminator(threading.Thread):
    """Ends every session of the test database but this process's own, every ``interval``
    seconds until stopped; counts the sessions it ended."""

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.database = connection.settings_dict["NAME"]
        connection.ensure_connection()
        self.spared = connection.connection.info.backend_pid
        self.ended = 0
        self.stopped = threading.Event()
        admin = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
        self.admin = psycopg.connect(admin, autocommit=True)

    def terminate_once(self) -> int:
        rows = self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> %s AND pid <> pg_backend_pid()",
            (self.database, self.spared),
        ).fetchall()
        ended = sum(1 for (ok,) in rows if ok)
        self.ended += ended
        return ended

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.terminate_once()

    def stop(self) -> int:
        self.stopped.set()
        self.join(timeout=30)
        self.admin.close()
        return self.ended


def test_terminated_connections_never_make_a_request_answer_500(
    users, dataset, dask_cluster, private_redis, tmp_path
):
    key = token_create(user=users.owner, name="poller")[1]
    env = portal_env(database_of_the_test(), private_redis.url, dask_cluster.scheduler_address)
    web = WebProcess(env, tmp_path / "web.log")
    try:
        assert web.get("/api/datasets/", key)[0] == 200  # the pool holds a connection now
        terminator = Terminator(interval=0.2)
        assert terminator.terminate_once() >= 1  # the pooled connection, between requests
        paths = ["/api/datasets/", f"/api/datasets/{dataset.pk}/", "/api/jobs/", "/healthz"]
        pollers = [Poller(web, key, paths) for _ in range(3)]
        for poller in pollers:
            poller.start()
        terminator.start()  # and now also in the middle of requests
        time.sleep(6)
        ended = terminator.stop()
        statuses: dict[int, int] = {}
        for poller in pollers:
            for status, count in poller.stop().items():
                statuses[status] = statuses.get(status, 0) + count
    finally:
        web.stop()
    log = web.log.read_text()
    print(json.dumps({"sessions_ended_mid_polling": ended, "requests": statuses}))
    assert ended >= 10, ended  # about 30 rounds, each ending every session of the web
    assert set(statuses) == {200}, (statuses, log[-3000:])
    assert sum(statuses.values()) >= 20
    assert "Internal Server Error" not in log


def test_terminated_connections_mid_job_do_not_fail_or_rerun_it(
    users, client_for, big_dataset, dask_cluster, celery_processes, private_redis, held_jobs
):
    worker = job_worker(celery_processes, "jobs")
    pids = list(worker_pids(dask_cluster).values())
    client = client_for(users.owner)
    terminator = Terminator(interval=0.3)
    pause(pids)  # the job waits for its partitions: heartbeats and stop checks hit the database
    try:
        job_id = submit(client, big_dataset.dataset, "virtual", DISK).json()["id"]
        send_run_job(private_redis.url, job_id)
        assert wait_status(job_id, "running", timeout=60).attempt == 1
        terminator.start()
        time.sleep(3)
    finally:
        pause(pids, signal.SIGCONT)
    job = wait_terminal(job_id, timeout=120)  # terminated all along the run and its finish
    ended = terminator.stop()
    log = worker.log.read_text()
    print(json.dumps({"sessions_ended_mid_job": ended, "job": [job.status, job.attempt]}))
    assert ended >= 3, (ended, job.status, job.error, log[-3000:])
    assert (job.status, job.attempt, job.error) == ("finished", 1, ""), log[-3000:]
    np.testing.assert_allclose(result_of(client, job_id), big_dataset.expected, rtol=1e-5)
    assert one_set_of_results(job) == ["intensity"]
    assert "the database connection was lost" in log


def test_terminated_connections_mid_ingestion_do_not_fail_it(
    users, client_for, dataset, data, settings, tmp_path, dask_processes
):
    from apps.core.executor import DaskExecutor
    from apps.datasets.models import Dataset
    from apps.jobs import executor as job_executor

    roots = {n: tmp_path / "storage" / n for n in ("node-0", "node-1")}
    for root in roots.values():
        root.mkdir(parents=True)
    settings.DATA_NODES = {n: str(r) for n, r in roots.items()}
    settings.INGEST_ROOT = tmp_path / "ingested"
    settings.JOB_RUNNER = "thread"  # the driver runs in a thread of this process
    executor = DaskExecutor(dask_processes.address)
    old = job_executor.set_executor(executor)
    terminator = Terminator(interval=0.3)  # spares this thread's connection, not the driver's
    workers = [w.pid for w in dask_processes.workers]
    pause(workers)  # the copies wait: the ingestion is surely running while sessions end
    try:
        response = client_for(users.owner).post(
            f"/api/datasets/{dataset.pk}/ingest/",
            {"partitions": 4},
            content_type="application/json",
        )
        assert response.status_code == 202, response.content
        job_id = response.json()["id"]
        wait_status(job_id, "running", timeout=30)
        terminator.start()
        time.sleep(3)
    finally:
        pause(workers, signal.SIGCONT)
    try:
        job = wait_terminal(job_id, timeout=120)
    finally:
        ended = terminator.stop()
        job_executor.set_executor(old)
        executor.close()
    print(json.dumps({"sessions_ended_mid_ingestion": ended, "job": [job.status, job.attempt]}))
    assert ended >= 3, ended
    assert (job.status, job.attempt, job.error) == ("finished", 1, "")
    ingested = Dataset.objects.get(pk=dataset.pk)
    assert ingested.status == "ready" and ingested.path.startswith(str(settings.INGEST_ROOT))
    sidecar = json.loads(Path(ingested.path).read_text())
    assert len(sidecar["partitions"]) == 4
    copied = b"".join(
        (roots[p["nodes"][0]] / p["path"]).read_bytes() for p in sidecar["partitions"]
    )
    assert copied == data.astype(sidecar["dtype"]).tobytes()  # every frame, once, in order


def test_a_job_worker_keeps_its_connection_from_one_job_to_the_next(
    users, client_for, dataset, celery_processes, private_redis, held_jobs
):
    """As the Procfile runs it (``DB_CONN_MAX_AGE`` 600): two jobs, one session of PostgreSQL.
    Celery closed it after every task, and each job opened a new one (3-7 ms)."""
    job_worker(celery_processes, "jobs")
    client = client_for(users.owner)
    connection.ensure_connection()
    mine = connection.connection.info.backend_pid
    admin = psycopg.connect(os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True

    def sessions() -> set[tuple[int, object]]:
        """The sessions of others once only the lasting ones are left (a job's heartbeat
        thread closes its own just after the job ends)."""
        deadline = time.monotonic() + 20
        while True:
            rows = admin.execute(
                "SELECT pid, backend_start FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                (connection.settings_dict["NAME"], mine),
            ).fetchall()
            if len(rows) <= 1 or time.monotonic() > deadline:
                return set(rows)
            time.sleep(0.1)

    seen = []
    try:
        for ro in (4, 5):
            disk = {"shape": "disk", "cx": 6, "cy": 8, "r": ro}
            job_id = submit(client, dataset, "virtual", disk).json()["id"]
            send_run_job(private_redis.url, job_id)
            job = wait_terminal(job_id, timeout=60)
            assert (job.status, job.attempt) == ("finished", 1), job.error
            seen.append(sessions())
    finally:
        admin.close()
    assert len(seen[0]) == 1, seen  # the worker's, idle between the jobs
    assert seen[1] == seen[0]
