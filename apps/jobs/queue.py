"""Handing jobs to where they run: a Celery worker, or a small thread pool in the web process.

``enqueue`` is called after a job row is committed (every kind alike); the Celery task
``jobs.run_job`` or a pool thread then calls :func:`run_queued`: the driver runs the job, and the
slot it held goes to the owner's next queued job (:func:`jobs_dispatch`).

``JOB_RUNNER=thread`` (the embedded default) runs the same driver code as the Celery task,
two jobs at a time; jobs beyond that wait in the pool's queue with status ``queued``.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.jobs import driver
from apps.jobs.dbretry import with_db_retry
from apps.jobs.limits import queue_moved
from apps.jobs.models import Job

logger = logging.getLogger(__name__)

THREAD_WORKERS = 2
RUN_TASK = "jobs.run_job"  # apps.jobs.tasks.run_job, sent by name (it calls this module)

_pool: ThreadPoolExecutor | None = None
_reuse_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
#: The jobs handed to this process's pools that have not ended (see :func:`drain`).
_handed: set[Future[None]] = set()


def enqueue(job_id: int) -> Future[None] | None:
    """Start job ``job_id`` on the configured runner (call after the job row is committed)."""
    if settings.JOB_RUNNER == "celery":
        # The app is imported here, by the processes that send jobs, not by every Django setup.
        import_string(settings.JOB_QUEUE_APP).send_task(RUN_TASK, args=(job_id,))
        return None
    return _handed_over(_thread_pool().submit(_run_in_thread, job_id))


def enqueue_reused(job_id: int) -> Future[None]:
    """Start a reused job (a result-cache hit) at once in this process, whatever the runner:
    it copies stored results and computes nothing, so it neither waits behind computing jobs
    nor for a Celery worker (the reaper hands it to the runner if this process dies)."""
    global _reuse_pool
    with _pool_lock:
        if _reuse_pool is None:
            _reuse_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reuse")
            atexit.register(_reuse_pool.shutdown, wait=False, cancel_futures=True)
    return _handed_over(_reuse_pool.submit(_run_in_thread, job_id))


def _handed_over(future: Future[None]) -> Future[None]:
    with _pool_lock:
        _handed.add(future)
    future.add_done_callback(_ended)
    return future


def _ended(future: Future[None]) -> None:
    with _pool_lock:
        _handed.discard(future)


def drain(timeout: float | None = None) -> bool:
    """Wait until every job handed to this process's pools has ended, including those the
    ending ones hand on (the owner's next queued job); False if ``timeout`` seconds passed first.

    A command that starts jobs in its own process (``JOB_RUNNER=thread``: registering a dataset
    queues its thumbnail) calls this before it returns: at interpreter exit the pools' queued
    jobs are cancelled (they stay queued) and a running one would find the local dask cluster
    gone and fail."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _pool_lock:
            pending = list(_handed)
        if not pending:
            return True
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        futures_wait(pending, timeout=left)


def run_queued(job_id: int) -> None:
    """Run job ``job_id`` if it is still queued, then start the owner's next waiting job."""
    job = driver.run_job(job_id)
    if job is not None:
        _dispatch_next(job)


def jobs_dispatch(owner_id: int, *, handed_before: datetime | None = None) -> list[int]:
    """Enqueue the owner's oldest queued jobs that fit under the limit; returns their ids.

    Enqueueing a job twice is harmless (the second claim finds it running), so this is called
    whenever a slot may have freed: a job ended, or the reaper found jobs waiting too long
    (``handed_before``: only jobs last handed to a runner before then).
    """
    limit = settings.MAX_RUNNING_JOBS_PER_USER
    queued = Job.objects.filter(owner_id=owner_id, status=Job.Status.QUEUED)
    if handed_before is not None:
        queued = queued.filter(
            Q(heartbeat__lt=handed_before) | Q(heartbeat__isnull=True, created__lt=handed_before)
        )
    # Most often nothing waits: one query then, and the running jobs are not counted.
    ids = list(queued.order_by("created", "id").values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    running = Job.objects.filter(owner_id=owner_id, status=Job.Status.RUNNING).count()
    ids = ids[: max(0, limit - running)]
    # While queued, ``heartbeat`` is the last time the job was handed to a runner.
    Job.objects.filter(pk__in=ids, status=Job.Status.QUEUED).update(heartbeat=timezone.now())
    for job_id in ids:
        transaction.on_commit(lambda job_id=job_id: enqueue(job_id))
    if ids:
        logger.info("user %s: enqueued queued job(s) %s", owner_id, ids)
    return ids


def _dispatch_next(job: Job) -> None:
    # The owner may have jobs waiting for the slot this one held.
    try:
        with_db_retry(lambda: jobs_dispatch(job.owner_id), what=f"job {job.pk}: next job")
    except DatabaseError:
        logger.exception("job %s: could not start the owner's next job (the reaper will)", job.pk)
    queue_moved(job.owner_id)


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=THREAD_WORKERS, thread_name_prefix="job")
            atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
        return _pool


def run_queued_as_request(job_id: int) -> None:
    """:func:`run_queued`, with this thread's database connection handled as a request's is:
    kept for the next job while ``DB_CONN_MAX_AGE`` allows (opening one took 3-6 ms of every
    job's start on SQLite, 3-15 ms on PostgreSQL), closed if it is older or broken; the job's
    first statement checks a kept one (``CONN_HEALTH_CHECKS``), so a database restarted between
    two jobs costs the next one a reconnect, not its claim. Both runners call it: a pool
    thread, and a Celery worker's task."""
    close_old_connections()
    try:
        run_queued(job_id)
    finally:
        close_old_connections()


def _run_in_thread(job_id: int) -> None:
    try:
        run_queued_as_request(job_id)
    except Exception:  # the driver records failures itself; this is a last resort
        logger.exception("job %s: the driver raised", job_id)
