"""What the driver hands a job kind's body while it runs: progress reports and a stop check.

The body's engine (the executor, the ingestion) calls :class:`ProgressReporter` after each
merged partition or copy, and polls :class:`JobStopPoll` often (every few milliseconds); the
reporter throttles its work to ``settings.JOB_PROGRESS_INTERVAL``, the stop check its reads to
``STOP_POLL_SECONDS``, so a fast job does not hammer the database or the browser. The heartbeat
is the driver's own (``apps.jobs.driver.Heartbeat``).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from apps.jobs.dbretry import with_db_retry
from apps.jobs.models import Job
from apps.live.events import partial_message, progress_message, publish
from apps.results.preview import image_bytes, preview_image
from apps.results.store import StaleAttempt, partial_save

STOP_POLL_SECONDS = 0.25


def running_job(job: Job, **also: object) -> QuerySet[Job]:
    """The job's row, only while this attempt is the one running it (the write guard), and
    matching ``also`` (e.g. ``cancel_requested=False``)."""
    return Job.objects.filter(pk=job.pk, attempt=job.attempt, status=Job.Status.RUNNING, **also)


_GUARDED_UPDATE = (
    "UPDATE {table} SET {assignments} WHERE {pk} = %s AND attempt = %s AND status = %s{also}"
)


def running_job_update(job: Job, values: Mapping[str, object], *, not_cancelled: bool) -> int:
    """``running_job(job).update(**values)`` (with ``cancel_requested=False`` if
    ``not_cancelled``) as one statement written out, each value prepared by its field as the
    ORM prepares it; the number of rows updated (0 or 1). Built by the ORM, the finish's update
    with its JSON cost 0.35 ms of CPU on every job, ten times its run on SQLite."""
    fields = [Job._meta.get_field(name) for name in values]
    prepared = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    guard = [job.pk, job.attempt, Job.Status.RUNNING.value]
    with connection.cursor() as cursor:
        cursor.execute(
            _guarded_update_sql(tuple(f.column for f in fields), not_cancelled),
            [*prepared, *guard, *([False] if not_cancelled else [])],
        )
        return cursor.rowcount


@functools.cache
def _guarded_update_sql(columns: tuple[str, ...], not_cancelled: bool) -> str:
    quote = connection.ops.quote_name
    return _GUARDED_UPDATE.format(
        table=quote(Job._meta.db_table),
        assignments=", ".join(f"{quote(column)} = %s" for column in columns),
        pk=quote(Job._meta.pk.column),
        also=" AND cancel_requested = %s" if not_cancelled else "",
    )  # the model's own table and column names; every value a parameter


class ProgressReporter:
    """Writes progress to the row, publishes it and the preview image (if the body names one),
    all throttled.

    ``also`` names more partial results sent with the preview each time (``com``'s phases,
    so the one the page shows builds up too); each is one row of the store and one message.

    Near the end, when at the pace so far the run finishes within one interval, only the
    progress is published: the final result comes before another preview would, and the finish
    writes the row (a short job then costs the web process one preview, not two).
    """

    def __init__(
        self,
        job: Job,
        *,
        frame_bytes: int,
        preview: str | None = None,
        also: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job = job
        #: a preview of this job is stored (the finish must replace it)
        self.stored = False
        self.preview = preview
        self.live = (preview, *also) if preview is not None else ()
        self.frame_bytes = frame_bytes
        self.nav_shape = tuple(int(d) for d in job.dataset.nav_shape)
        self.interval = float(settings.JOB_PROGRESS_INTERVAL)
        self.clock = clock
        self._started = clock()
        self._last = -math.inf

    def __call__(
        self, done: int, total: int, partial: Mapping[str, np.ndarray] | None = None
    ) -> None:
        final = done >= total
        now = self.clock()
        if not final and now - self._last < self.interval:
            return
        self._last = now
        # The final figures are written by the finish, in the transaction that stores the
        # results: writing them here too would delay the job's end by a commit.
        ending = final or self._remaining(done, total, now) < self.interval
        if not ending:
            self._write(done, total)
        publish(progress_message(self.job.pk, self.job.kind, done=done, total=total))
        if ending or not partial:
            return
        for name in self.live:
            if name in partial:
                self._partial(name, done, total, partial[name])

    def _remaining(self, done: int, total: int, now: float) -> float:
        """Seconds until the run ends, at its pace so far."""
        return (now - self._started) * (total - done) / max(done, 1)

    def _write(self, done: int, total: int) -> None:
        updated = with_db_retry(
            lambda: running_job(self.job).update(
                frames_done=done,
                frames_total=total,
                bytes_read=done * self.frame_bytes,
                heartbeat=timezone.now(),
            ),
            what=f"job {self.job.pk}: progress",
        )
        if not updated:
            raise StaleAttempt(
                f"job {self.job.pk} is no longer running attempt {self.job.attempt}."
            )

    def _partial(self, name: str, done: int, total: int, array: np.ndarray) -> None:
        image = preview_image(array, self.nav_shape)
        self.stored = True
        with_db_retry(
            lambda: partial_save(job=self.job, name=name, array=image),
            what=f"job {self.job.pk}: preview",
        )
        message = partial_message(
            self.job.pk, self.job.kind, name=name, shape=image.shape, done=done, total=total
        )
        publish(message, image_bytes(image))


class JobStopPoll:
    """The executor's ``should_stop`` for one job: polls the job's row and is True once the job
    should stop (cancel requested, or this attempt lost the job)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.stopped = False
        self._next = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if self.stopped or now < self._next:
            return self.stopped
        self._next = now + STOP_POLL_SECONDS
        row = with_db_retry(self._row, what=f"job {self.job.pk}: stop check")
        self.stopped = (
            row is None
            or row["cancel_requested"]
            or row["attempt"] != self.job.attempt
            or row["status"] != Job.Status.RUNNING
        )
        return self.stopped

    def _row(self) -> dict | None:
        rows = Job.objects.filter(pk=self.job.pk).order_by()  # unordered: cheaper to compile
        return next(iter(rows.values("status", "attempt", "cancel_requested")[:1]), None)
