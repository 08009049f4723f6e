"""Fairness: at most ``MAX_RUNNING_JOBS_PER_USER`` running jobs per user; the rest wait, up to
``MAX_QUEUED_JOBS_PER_USER`` of them (more are refused with QueueFull).

A job over its owner's limit stays ``queued`` (the claim refuses it); when one of the owner's
jobs ends, :func:`jobs_dispatch` enqueues the owner's next queued jobs, oldest first. Claims of
one user's jobs are serialised by locking the user's row, so the limit holds with many workers.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.jobs import runner
from apps.jobs.models import Job

logger = logging.getLogger(__name__)


class QueueFull(Exception):
    """The owner already has ``MAX_QUEUED_JOBS_PER_USER`` jobs waiting (HTTP 429)."""


def has_free_slot(owner_id: int) -> bool:
    """True if the owner runs fewer jobs than the limit; call inside the claim's transaction."""
    _lock_owner(owner_id)
    running = Job.objects.filter(owner_id=owner_id, status=Job.Status.RUNNING).count()
    return running < settings.MAX_RUNNING_JOBS_PER_USER


def check_queue_room(owner_id: int) -> None:
    """Raise QueueFull unless the owner may queue one more job; call inside the transaction
    that creates it (the owner's lock makes concurrent submissions count one by one)."""
    _lock_owner(owner_id)
    limit = settings.MAX_QUEUED_JOBS_PER_USER
    queued = Job.objects.filter(owner_id=owner_id, status=Job.Status.QUEUED).count()
    if queued >= limit:
        raise QueueFull(
            f"You have {queued} jobs waiting, the most this portal queues per user "
            "(MAX_QUEUED_JOBS_PER_USER); wait for some to start, or cancel some."
        )


def _lock_owner(owner_id: int) -> None:
    if connection.features.has_select_for_update:
        # SQLite has no row locks: its write transaction (BEGIN IMMEDIATE) already serialises
        # every claim, so the query would only cost the ORM's time.
        list(get_user_model().objects.select_for_update().filter(pk=owner_id).values_list("pk"))


def jobs_dispatch(owner_id: int, *, handed_before: datetime | None = None) -> list[int]:
    """Enqueue the owner's oldest queued jobs that fit under the limit; returns their ids.

    Enqueueing a job twice is harmless (the second claim finds it running), so this is called
    whenever a slot may have freed: a job ended, or the reaper found jobs waiting too long
    (``handed_before``: only jobs last handed to a runner before then).
    """
    limit = settings.MAX_RUNNING_JOBS_PER_USER
    queued = Job.objects.filter(owner_id=owner_id, status=Job.Status.QUEUED)
    if handed_before is not None:
        queued = queued.filter(
            Q(heartbeat__lt=handed_before) | Q(heartbeat__isnull=True, created__lt=handed_before)
        )
    # Most often nothing waits: one query then, and the running jobs are not counted.
    ids = list(queued.order_by("created", "id").values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    running = Job.objects.filter(owner_id=owner_id, status=Job.Status.RUNNING).count()
    ids = ids[: max(0, limit - running)]
    # While queued, ``heartbeat`` is the last time the job was handed to a runner.
    Job.objects.filter(pk__in=ids, status=Job.Status.QUEUED).update(heartbeat=timezone.now())
    for job_id in ids:
        transaction.on_commit(lambda job_id=job_id: runner.enqueue(job_id))
    if ids:
        logger.info("user %s: enqueued queued job(s) %s", owner_id, ids)
    return ids


def queue_place(job: Job) -> int | None:
    """1 for the owner's next queued job to start, 2 for the one after, ...; None if not queued."""
    if job.status != Job.Status.QUEUED:
        return None
    ahead = Job.objects.filter(owner_id=job.owner_id, status=Job.Status.QUEUED).filter(
        created__lt=job.created
    ) | Job.objects.filter(
        owner_id=job.owner_id, status=Job.Status.QUEUED, created=job.created, pk__lt=job.pk
    )
    return ahead.count() + 1


def queue_json(job: Job) -> dict[str, Any] | None:
    """``{"place", "running", "limit"}`` for a queued job (the API and the job page show it)."""
    place = queue_place(job)
    if place is None:
        return None
    running = Job.objects.filter(owner_id=job.owner_id, status=Job.Status.RUNNING).count()
    return {"place": place, "running": running, "limit": settings.MAX_RUNNING_JOBS_PER_USER}
