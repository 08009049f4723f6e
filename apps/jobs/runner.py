"""Where ``run_job`` runs: a Celery worker, or a small thread pool in the web process.

``JOB_RUNNER=thread`` (the embedded default) runs the same driver code as the Celery task,
two jobs at a time; jobs beyond that wait in the pool's queue with status ``queued``.
"""

from __future__ import annotations

import atexit
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings

logger = logging.getLogger(__name__)

THREAD_WORKERS = 2

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def enqueue(job_id: int, *, ingest: bool = False) -> Future[None] | None:
    """Start job ``job_id`` on the configured runner (call after the job row is committed).

    ``ingest``: an ingestion job, sent as Celery task ``datasets.ingest_dataset`` (so it can be
    routed to its own queue); both tasks run the same driver.
    """
    if settings.JOB_RUNNER == "celery":
        from apps.datasets.tasks import ingest_dataset
        from apps.jobs.tasks import run_job

        (ingest_dataset if ingest else run_job).delay(job_id)
        return None
    return _thread_pool().submit(_run_in_thread, job_id)


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=THREAD_WORKERS, thread_name_prefix="job")
            atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
        return _pool


def _run_in_thread(job_id: int) -> None:
    from django.db import close_old_connections

    from apps.jobs.driver import run_job

    # Each pool thread has its own connection, handled as a request's is: kept for the next job
    # while CONN_MAX_AGE allows (SQLite: opening one took 3-6 ms of every job's start), closed
    # if it is older or broken.
    close_old_connections()
    try:
        run_job(job_id)
    except Exception:  # the driver records failures itself; this is a last resort
        logger.exception("job %s: the driver raised", job_id)
    finally:
        close_old_connections()
