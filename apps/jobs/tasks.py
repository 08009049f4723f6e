"""Celery tasks of the jobs app: take an id, call the queue's worker side; the periodic reaper."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections

from apps.jobs import queue, reaper
from apps.jobs.dbretry import with_db_retry


@shared_task(name=queue.RUN_TASK, acks_late=True, ignore_result=True)
def run_job(job_id: int) -> None:
    """Run job ``job_id`` of any kind (the driver claims it, its kind supplies the work).

    The worker process keeps its database connection from one job to the next while
    ``DB_CONN_MAX_AGE`` allows (the Procfile's worker: 600 s; Celery closes it only every
    ``CELERY_DB_REUSE_MAX`` tasks): opening one cost each job 3-7 ms. As a request does, a job
    starts by dropping one that is older or broken, and its first statement checks it
    (``CONN_HEALTH_CHECKS``), so a database restarted between two jobs costs the next one a
    reconnect, not its claim."""
    close_old_connections()
    try:
        queue.run_queued(job_id)
    finally:
        close_old_connections()


@shared_task(name="jobs.reap", ignore_result=True)
def reap() -> None:
    # Scheduled by Celery beat (CELERY_BEAT_SCHEDULE) on the "maintenance" queue. A pass is
    # guarded updates only, so one that lost its connection may simply run again.
    with_db_retry(reaper.reap, what="reaper pass")
