"""Celery tasks of the jobs app: take an id, call the driver."""

from __future__ import annotations

from celery import shared_task

from apps.jobs import driver


@shared_task(name="jobs.run_job", acks_late=True, ignore_result=True)
def run_job(job_id: int) -> None:
    driver.run_job(job_id)
