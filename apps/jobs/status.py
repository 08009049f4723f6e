"""What the staff status page shows: dask workers, the job queue, running jobs."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from apps.core.cluster import scheduler_identity
from apps.jobs import compute
from apps.jobs.models import Job

logger = logging.getLogger(__name__)

CELERY_QUEUES = ("celery", "maintenance")


def dask_workers() -> list[dict[str, Any]] | None:
    """Name, address, threads, memory limit and tasks of each dask worker; None if unknown."""
    info = _scheduler_info()
    if info is None:
        return None
    return [
        {
            "name": str(w.get("name")),
            "address": address,
            "nthreads": w.get("nthreads"),
            "memory_limit": w.get("memory_limit"),
            "memory": (w.get("metrics") or {}).get("memory"),
            "executing": (w.get("metrics") or {}).get("task_counts", {}).get("executing"),
        }
        for address, w in sorted(info.get("workers", {}).items())
    ]


def _scheduler_info() -> dict[str, Any] | None:
    executor = compute.current_executor()
    client = getattr(executor, "client", None)
    try:
        if client is not None:
            return scheduler_identity(client)
        if settings.DASK_SCHEDULER_ADDRESS:
            from distributed import Client

            with Client(settings.DASK_SCHEDULER_ADDRESS, timeout=3, set_as_default=False) as c:
                return scheduler_identity(c)
    except Exception:
        logger.warning("status: the dask scheduler did not answer", exc_info=True)
    return None


def queue_lengths() -> dict[str, int] | None:
    """Messages waiting in the Celery queues (None with the thread runner or no broker)."""
    if settings.JOB_RUNNER != "celery":
        return None
    import redis

    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
        try:
            return {name: int(client.llen(name)) for name in CELERY_QUEUES}
        finally:
            client.close()
    except Exception:
        logger.warning("status: the broker did not answer", exc_info=True)
        return None


def job_counts() -> dict[str, int]:
    return {
        status: Job.objects.filter(status=status).count()
        for status in (Job.Status.QUEUED, Job.Status.RUNNING)
    }


def running_jobs() -> list[Job]:
    return list(
        Job.objects.filter(status=Job.Status.RUNNING)
        .select_related("owner", "dataset")
        .order_by("started")
    )
