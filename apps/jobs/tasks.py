"""Celery tasks of the jobs app: take an id, call the queue's worker side; the periodic reaper."""

from __future__ import annotations

from celery import shared_task

from apps.jobs import queue, reaper
from apps.jobs.dbretry import with_db_retry


@shared_task(name=queue.RUN_TASK, acks_late=True, ignore_result=True)
def run_job(job_id: int) -> None:
    """Run job ``job_id`` of any kind (the driver claims it, its kind supplies the work).

    The worker process keeps its database connection from one job to the next while
    ``DB_CONN_MAX_AGE`` allows (the Procfile's worker: 600 s; Celery closes it only every
    ``CELERY_DB_REUSE_MAX`` tasks), see :func:`queue.run_queued_as_request`."""
    queue.run_queued_as_request(job_id)


@shared_task(name="jobs.reap", ignore_result=True)
def reap() -> None:
    # Scheduled by Celery beat (CELERY_BEAT_SCHEDULE) on the "maintenance" queue. A pass is
    # guarded updates only, so one that lost its connection may simply run again.
    with_db_retry(reaper.reap, what="reaper pass")
