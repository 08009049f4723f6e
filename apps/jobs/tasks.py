"""Celery tasks of the jobs app: take an id, call the driver; the periodic reaper."""

from __future__ import annotations

from celery import shared_task

from apps.jobs import driver, reaper
from apps.jobs.dbretry import with_db_retry


@shared_task(name="jobs.run_job", acks_late=True, ignore_result=True)
def run_job(job_id: int) -> None:
    driver.run_job(job_id)


@shared_task(name="jobs.reap", ignore_result=True)
def reap() -> None:
    # Scheduled by Celery beat (CELERY_BEAT_SCHEDULE) on the "maintenance" queue. A pass is
    # guarded updates only, so one that lost its connection may simply run again.
    with_db_retry(reaper.reap, what="reaper pass")
