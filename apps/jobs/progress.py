"""What the driver does while the executor runs: progress, partial previews, heartbeats, stops.

The executor calls :class:`ProgressReporter` after each merged partition and polls
:class:`StopCheck` often (every few milliseconds); both throttle their database work to
``settings.JOB_PROGRESS_INTERVAL`` so a fast job does not hammer the database or the browser.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from apps.jobs.dbretry import with_db_retry
from apps.jobs.models import Job
from apps.live.events import publish
from apps.results.preview import image_bytes, preview_image
from apps.results.store import StaleAttempt, partial_save

STOP_POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 5.0


def running_job(job: Job, **also: object) -> QuerySet[Job]:
    """The job's row, only while this attempt is the one running it (the write guard), and
    matching ``also`` (e.g. ``cancel_requested=False``)."""
    return Job.objects.filter(pk=job.pk, attempt=job.attempt, status=Job.Status.RUNNING, **also)


class ProgressReporter:
    """Writes progress to the row, publishes it and the preview image, all throttled.

    Near the end, when at the pace so far the run finishes within one interval, only the
    progress is published: the final result comes before another preview would, and the finish
    writes the row (a short job then costs the web process one preview, not two).
    """

    def __init__(
        self,
        job: Job,
        *,
        preview: str,
        frame_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job = job
        self.preview = preview
        self.frame_bytes = frame_bytes
        self.interval = float(settings.JOB_PROGRESS_INTERVAL)
        self.clock = clock
        self._started = clock()
        self._last = -math.inf

    def __call__(self, done: int, total: int, partial: dict[str, np.ndarray]) -> None:
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
        publish(self.job.pk, {"type": "progress", "id": self.job.pk, "done": done, "total": total})
        if not ending and self.preview in partial:
            self._partial(done, total, partial[self.preview])

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

    def _partial(self, done: int, total: int, array: np.ndarray) -> None:
        image = preview_image(array)
        with_db_retry(
            lambda: partial_save(job=self.job, name=self.preview, array=image),
            what=f"job {self.job.pk}: preview",
        )
        publish(
            self.job.pk,
            partial_message(self.job.pk, self.preview, image, done, total),
            image_bytes(image),
        )


def partial_message(job_id: int, name: str, image: np.ndarray, done: int, total: int) -> dict:
    """The JSON half of a ``partial`` websocket message (the float32 bytes follow it)."""
    return {
        "type": "partial",
        "id": job_id,
        "name": name,
        "shape": list(image.shape),
        "dtype": "float32",
        "done": done,
        "total": total,
    }


class StopCheck:
    """True once the job should stop: cancel requested, or this attempt lost the job."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.stopped = False
        self._next = 0.0
        self._beat = time.monotonic()

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
        if not self.stopped and now - self._beat >= HEARTBEAT_SECONDS:
            self._beat = now
            with_db_retry(
                lambda: running_job(self.job).update(heartbeat=timezone.now()),
                what=f"job {self.job.pk}: heartbeat",
            )
        return self.stopped

    def _row(self) -> dict | None:
        return (
            Job.objects.filter(pk=self.job.pk)
            .values("status", "attempt", "cancel_requested")
            .first()
        )
