"""Reads of jobs and masks (access rules come from apps.accounts.access)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.accounts.access import visible_datasets, visible_jobs
from apps.jobs.models import Job, Mask


def job_list(*, user: Any, dataset_id: int | None = None) -> QuerySet[Job]:
    """The jobs ``user`` may see, newest first."""
    jobs = visible_jobs(user).select_related("dataset", "owner").order_by("-created", "-id")
    if dataset_id is not None:
        jobs = jobs.filter(dataset_id=dataset_id)
    return jobs


def usable_mask(*, user: Any, mask_id: int) -> Mask | None:
    """The mask ``mask_id`` if ``user`` owns it and may still see its dataset."""
    return (
        Mask.objects.filter(pk=mask_id, owner=user, dataset__in=visible_datasets(user))
        .only("id", "data", "shape", "dtype")
        .first()
    )


def job_seconds(job: Job) -> float | None:
    """Wall time of the run (so far, while it runs)."""
    if job.started is None:
        return None
    end = job.finished or job.heartbeat or job.started
    return max(0.0, (end - job.started).total_seconds())


def job_throughput(job: Job) -> float | None:
    """Bytes read per second of wall time, in GB/s."""
    seconds = job_seconds(job)
    if not seconds or not job.bytes_read:
        return None
    return job.bytes_read / seconds / 1e9
