"""The reaper: no job stays ``running`` after its driver died, none waits forever ``queued``.

Run every ``JOB_REAPER_INTERVAL`` seconds: by Celery beat (task ``jobs.reap`` on the
``maintenance`` queue) in production, by a timer thread of the web process with the thread
runner. Each step is a guarded update, so two reapers (or a reaper and a late driver) never
both act on one job:

* a ``running`` job whose heartbeat is older than ``JOB_HEARTBEAT_TIMEOUT`` goes back to
  ``queued`` and is enqueued again while it has attempts left (``JOB_MAX_ATTEMPTS``; the next
  claim raises ``attempt``, fencing out the lost run), else it fails with a sentence;
* ``queued`` jobs not handed to a runner for ``JOB_QUEUED_TIMEOUT`` seconds are enqueued again
  (within their owner's running-job limit).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.jobs.kinds import KINDS
from apps.jobs.kinds.base import Ending
from apps.jobs.models import Job
from apps.jobs.queue import jobs_dispatch
from apps.live.events import ended_message, publish, status_message
from apps.results.models import Result

logger = logging.getLogger(__name__)


@dataclass
class ReapReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    enqueued: list[int] = field(default_factory=list)


def reap(*, now: datetime | None = None) -> ReapReport:
    """One pass of the reaper (see the module docstring)."""
    now = now or timezone.now()
    report = ReapReport()
    stale = now - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
    stalled = Job.objects.filter(status=Job.Status.RUNNING, heartbeat__lt=stale)
    owners: set[int] = set()
    fields = ("pk", "attempt", "owner_id", "cancel_requested", "kind", "dataset_id", "frames_total")
    for job in stalled.only(*fields):
        outcome = _reap_stalled(job, stale=stale, now=now)
        if outcome is not None:
            owners.add(job.owner_id)
            (report.requeued if outcome == Job.Status.QUEUED else report.failed).append(job.pk)
    waiting_since = now - timedelta(seconds=settings.JOB_QUEUED_TIMEOUT)
    forgotten = Job.objects.filter(status=Job.Status.QUEUED).filter(
        Q(heartbeat__lt=waiting_since) | Q(heartbeat__isnull=True, created__lt=waiting_since)
    )
    for owner_id in sorted(owners):
        report.enqueued += jobs_dispatch(owner_id)
    for owner_id in sorted(set(forgotten.values_list("owner_id", flat=True))):
        report.enqueued += jobs_dispatch(owner_id, handed_before=waiting_since)
    if report.requeued or report.failed or report.enqueued:
        logger.warning("reaper: %s", report)
    return report


def _reap_stalled(job: Job, *, stale: datetime, now: datetime) -> str | None:
    """Requeue or end one stalled job; None if it moved on meanwhile (the guard failed)."""
    guard = Job.objects.filter(
        pk=job.pk, attempt=job.attempt, status=Job.Status.RUNNING, heartbeat__lt=stale
    )
    seconds = settings.JOB_HEARTBEAT_TIMEOUT
    kind = KINDS.get(job.kind)
    if job.cancel_requested:
        status, error = Job.Status.CANCELLED, "cancelled"
    elif kind is not None and kind.no_rerun:
        status = Job.Status.FAILED
        error = (
            f"The worker running this job stopped responding (no heartbeat for {seconds} s); "
            f"{kind.no_rerun}"
        )
    elif job.attempt < settings.JOB_MAX_ATTEMPTS:
        status = Job.Status.QUEUED
        error = (
            f"Attempt {job.attempt} stopped responding (no heartbeat for {seconds} s); "
            "queued to run again."
        )
    else:
        status = Job.Status.FAILED
        error = (
            f"The worker running this job stopped responding (no heartbeat for {seconds} s) "
            f"in attempt {job.attempt} of {settings.JOB_MAX_ATTEMPTS}; re-run the job."
        )
    with transaction.atomic():
        if status == Job.Status.QUEUED:
            updated = guard.update(
                status=status, error=error, started=None, heartbeat=None, frames_done=0
            )
            if updated:  # the previews of the lost attempt
                Result.objects.filter(job_id=job.pk).delete()
        else:
            updated = guard.update(status=status, error=error, finished=now, heartbeat=now)
            if updated and kind is not None:  # as the driver ends a job (an unknown kind: no hook)
                kind.finish(job, Ending(status, error))
    if not updated:
        return None
    logger.warning("job %s attempt %s: %s", job.pk, job.attempt, error)
    if status == Job.Status.QUEUED:
        # queued again from the start: no frames done (the row says so too)
        message = status_message(
            job.pk, job.kind, status, done=0, total=job.frames_total, error=error
        )
    else:
        message = ended_message(job.pk, job.kind, status=status, error=error)
    publish(message)
    return status


class ReaperThread(threading.Thread):
    """The embedded default's reaper: :func:`reap` every ``interval`` seconds in this process."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="job-reaper", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    close_old_connections()
                    reap()
                except Exception:  # the next pass tries again
                    logger.exception("reaper pass failed")
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()


_thread: ReaperThread | None = None
_thread_lock = threading.Lock()


def start_reaper_thread() -> ReaperThread:
    """Start the process's reaper thread once (the thread runner calls this)."""
    global _thread
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            _thread = ReaperThread(float(settings.JOB_REAPER_INTERVAL))
            _thread.start()
        return _thread
