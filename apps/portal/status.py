"""What the staff status page shows: dask workers, the job queue, running jobs, the analysis
plugins (those loaded and those skipped, with the reason)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from apps.core.analyses import ANALYSES, analysis_origin, plugin_failures
from apps.core.cluster import ask_identity, worker_health
from apps.jobs.models import Job
from apps.portal import health

logger = logging.getLogger(__name__)

CELERY_QUEUES = ("celery", "maintenance")


def dask_workers() -> list[dict[str, Any]] | None:
    """Name, state (running, paused, hung, missing…), address, threads, memory and tasks of
    each dask worker; None if the scheduler did not answer."""
    info = _scheduler_info()
    if info is None:
        return None
    workers = info.get("workers", {})
    rows = []
    for judged in worker_health(
        info,
        expected=settings.DASK_EXPECTED_WORKERS,
        hung_after=float(settings.DASK_WORKER_HUNG_SECONDS),
    ):
        w = workers.get(judged.address, {})
        metrics = w.get("metrics") or {}
        rows.append(
            {
                "name": judged.name,
                "state": judged.state,
                "ok": judged.ok,
                "silent_s": judged.silent_s,
                "address": judged.address,
                "nthreads": w.get("nthreads"),
                "memory_limit": w.get("memory_limit"),
                "memory": metrics.get("memory"),
                "executing": metrics.get("task_counts", {}).get("executing"),
            }
        )
    return rows


def _scheduler_info() -> dict[str, Any] | None:
    address = health.dask_address()
    if address is None:
        return None
    try:
        return ask_identity(address, timeout=health.TIMEOUT)
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


def analysis_plugins() -> dict[str, list[dict[str, Any]]]:
    """The plugins' analyses this process loaded (name, distribution, version, code hash) and
    the entry points it skipped, with the reason."""
    origins = {name: analysis_origin(name) for name in ANALYSES}
    loaded = [
        {"name": name, **origin.as_json()}
        for name, origin in origins.items()
        if origin.source == "plugin"
    ]
    return {"loaded": loaded, "failed": [f.as_json() for f in plugin_failures()]}
