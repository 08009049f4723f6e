"""Celery tasks of the datasets app: take an id, call the driver."""

from __future__ import annotations

from celery import shared_task

from apps.jobs import driver


@shared_task(name="datasets.ingest_dataset", acks_late=True, ignore_result=True)
def ingest_dataset(job_id: int) -> None:
    """Run ingestion job ``job_id``: the job driver claims it and hands it to the ingest driver."""
    driver.run_job(job_id)
