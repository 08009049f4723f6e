"""Reads of jobs and masks (access rules come from apps.jobs.access and apps.datasets.access)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from apps.datasets.access import visible_datasets
from apps.jobs.access import visible_jobs
from apps.jobs.models import Job, Mask


def job_list(
    *,
    user: Any,
    dataset_id: int | None = None,
    analysis: str | None = None,
    status: str | None = None,
    owner: str | None = None,
    superseded: bool | None = None,
) -> QuerySet[Job]:
    """The jobs ``user`` may see, newest first, narrowed by each filter given: ``analysis`` is
    an analysis's name or another kind of job (``ingest``), ``owner`` a username,
    ``superseded`` whether a newer job replaced the job while it ran (see ``Job``)."""
    jobs = visible_jobs(user).select_related("dataset", "owner").order_by("-created", "-id")
    if dataset_id is not None:
        jobs = jobs.filter(dataset_id=dataset_id)
    if analysis:
        jobs = jobs.filter(Q(analysis=analysis) | Q(analysis="", kind=analysis))
    if status:
        jobs = jobs.filter(status=status)
    if owner:
        jobs = jobs.filter(owner__username=owner)
    if superseded is not None:
        jobs = jobs.filter(superseded_by__isnull=not superseded)
    return jobs


def superseded_jobs(*, user: Any, jobs: list[Job]) -> dict[int, list[Job]]:
    """For each of ``jobs``, the jobs it superseded that ``user`` may see, newest first (one
    query for all)."""
    folded: dict[int, list[Job]] = {}
    replaced = visible_jobs(user).filter(superseded_by__in=[job.pk for job in jobs])
    for job in replaced.order_by("-created", "-id"):
        folded.setdefault(job.superseded_by_id, []).append(job)
    return folded


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
