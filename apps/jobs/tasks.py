"""Celery tasks of the jobs app: take an id, call the queue's worker side; the periodic reaper."""

from __future__ import annotations

from celery import shared_task

from apps.jobs import queue, reaper
from apps.jobs.dbretry import with_db_retry


@shared_task(name=queue.RUN_TASK, acks_late=True, ignore_result=True)
def run_job(job_id: int) -> None:
    """Run job ``job_id`` of any kind (the driver claims it, its kind supplies the work)."""
    queue.run_queued(job_id)


@shared_task(name="jobs.reap", ignore_result=True)
def reap() -> None:
    # Scheduled by Celery beat (CELERY_BEAT_SCHEDULE) on the "maintenance" queue. A pass is
    # guarded updates only, so one that lost its connection may simply run again.
    with_db_retry(reaper.reap, what="reaper pass")
