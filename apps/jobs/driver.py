"""The job driver: claim a queued job, run its kind's body, always end it; one for every kind.

The driver owns the lifecycle; a kind (``apps.jobs.kinds``) supplies only its body and its finish
hook. Every write after the claim is guarded by the job's ``attempt`` (its fencing token) and
status ``running``: a run that lost its job (reaped, or cancelled while queued) writes nothing
more. Every ending is retried on a new connection while the database is away (``dbretry``).
Whatever happens, the job ends finished, failed with a sentence, or cancelled.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from apps.core.errors import CoreError, JobCancelled
from apps.jobs.claim_read import queued_job_locked
from apps.jobs.dbretry import with_db_retry
from apps.jobs.executor import (
    current_executor,
    executor_connected,
    executor_stopping,
    prepare_executor,
)
from apps.jobs.failures import failure_message
from apps.jobs.final_image import preview_name, small_enough
from apps.jobs.kinds import job_kind
from apps.jobs.kinds.base import Ending, JobKind, JobRun, Outcome, UnknownJobKind
from apps.jobs.limits import queue_moved
from apps.jobs.models import Job
from apps.jobs.progress import running_job, running_job_update
from apps.jobs.selectors import job_seconds, job_throughput
from apps.live.events import ended_message, finished_message, publish, status_message
from apps.results.models import Result
from apps.results.serializers import result_json
from apps.results.store import StaleAttempt, final_results

logger = logging.getLogger(__name__)


def run_job(job_id: int) -> Job | None:
    """Run job ``job_id`` if it is still queued; the claimed job, or None if it was not (a
    duplicate delivery, a cancelled job, or its owner has no free slot: nothing ran)."""
    prepare_executor()
    try:
        job = with_db_retry(lambda: job_claim(job_id), what=f"job {job_id}: claim")
    except DatabaseError:
        # Not claimed, so still queued: a retry of the task (or a reaper) can start it.
        logger.exception("job %s: could not claim it", job_id)
        raise
    if job is None:
        logger.info("job %s is not queued any more (or waits for a slot); not run now", job_id)
        return None
    queue_moved(job.owner_id)
    with Heartbeat(job):
        _run_claimed(job)
    return job


def job_claim(job_id: int) -> Job | None:
    """queued -> running with a new attempt, atomically; None if it was not queued, or its
    owner already runs ``MAX_RUNNING_JOBS_PER_USER`` jobs (it then waits, see limits; a
    reused job never waits for a slot).

    Two statements: the job with its dataset and owner, locking the job's and the owner's rows
    (claims of one owner's jobs one at a time; SQLite's write transaction does the same;
    :mod:`apps.jobs.claim_read`), and the update, guarded by the owner's count of running
    jobs (see limits).
    """
    with transaction.atomic():
        job = queued_job_locked(job_id)
        if job is None:
            return None
        now = timezone.now()
        # A reused job computes nothing: it takes no slot of its owner's.
        if not _claimed(job, now, slot_free_or=job.kind == Job.Kind.REUSED):
            return None
        job.status = Job.Status.RUNNING
        job.attempt += 1
        job.started = job.heartbeat = now
        job.frames_done = 0
        job.error = ""
    return job


_CLAIM = (
    "UPDATE {job} SET status = %s, attempt = attempt + 1, started = %s, heartbeat = %s,"
    " frames_done = 0, error = '' WHERE id = %s AND status = %s AND (%s OR"
    " (SELECT COUNT(*) FROM {job} WHERE owner_id = %s AND status = %s) < %s)"
)


def _claimed(job: Job, now: datetime, *, slot_free_or: bool) -> bool:
    """The claim's update of the locked row, guarded by the owner's count of running jobs
    (unless ``slot_free_or``), as one statement written out: built by the ORM it cost more
    CPU than the query and the count apart (0.3 ms on SQLite)."""
    table = connection.ops.quote_name(Job._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    sql = _CLAIM.format(job=table)  # the model's table name; every value a parameter
    running, queued = Job.Status.RUNNING.value, Job.Status.QUEUED.value
    limit = settings.MAX_RUNNING_JOBS_PER_USER
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [running, stamp, stamp, job.pk, queued, slot_free_or, job.owner_id, running, limit]
        )
        return cursor.rowcount == 1


def _run_claimed(job: Job) -> None:
    publish(status_message(job.pk, job.kind, job.status, done=0, total=job.frames_total))
    try:
        kind = job_kind(job.kind)
    except UnknownJobKind as exc:
        _end(job, None, Ending(Job.Status.FAILED, str(exc)))
        return
    outcome = None
    try:
        outcome = kind.body(JobRun(job))
        _finish_ok(job, kind, outcome)
    except StaleAttempt:
        logger.warning("job %s attempt %s lost its job; stopping", job.pk, job.attempt)
    except JobCancelled:
        # A cancel that came after the body's work, before the finish, hands that work over to
        # be undone.
        _end(job, kind, Ending(Job.Status.CANCELLED, "cancelled", outcome=outcome))
    except CoreError as exc:
        _end(job, kind, Ending(Job.Status.FAILED, _failure_message(exc)))
    except Exception as exc:
        logger.exception("job %s: internal error", job.pk)
        _end(job, kind, Ending(Job.Status.FAILED, _failure_message(exc)))


def _failure_message(exc: Exception) -> str:
    return failure_message(
        exc,
        stopping=executor_stopping(),
        scheduler_lost=not executor_connected(current_executor()),
    )


def _finish_ok(job: Job, kind: JobKind, outcome: Outcome) -> None:
    saved = with_db_retry(lambda: _store_finish(job, kind, outcome), what=f"job {job.pk}: finish")
    logger.info("job %s (%s) finished: %s frames", job.pk, job.title, outcome.frames)
    results = [result_json(r) for r in saved]
    total = outcome.frames
    message = finished_message(
        job.pk, job.kind, done=total, total=total, results=results, **_run_figures(job)
    )
    # The page shows the preview as the final image: its .npy comes with the message, which
    # saves the page a request (a round trip through the busy web process) after every job.
    # (a reused job's too: it finishes here, with byte copies of another job's results)
    shown = next((r for r in saved if r.name == preview_name(job)), None)
    if shown is not None and small_enough(shown):
        publish({**message, "image": shown.name}, bytes(shown.data))
    else:
        publish(message)


def _run_figures(job: Job) -> dict[str, float | None]:
    """The finished run's ``seconds`` and ``throughput_gbs`` as ``GET /api/jobs/<id>/`` gives
    them, so a page need not ask (none if this attempt did not see its finish written)."""
    if job.status != Job.Status.FINISHED:
        return {}
    return {"seconds": job_seconds(job), "throughput_gbs": job_throughput(job)}


def _store_finish(job: Job, kind: JobKind, outcome: Outcome) -> list[Result]:
    now = timezone.now()
    with transaction.atomic():
        # The guarded update locks the row and proves the attempt current; then the kind's
        # finish. A cancel requested before this commit wins: the job ends cancelled.
        finished = {
            "status": Job.Status.FINISHED.value,
            "frames_done": outcome.frames,
            "frames_total": outcome.frames,
            "bytes_read": outcome.nbytes,
            "partitions": outcome.partitions,
            "provenance": outcome.provenance,
            "finished": now,
            "heartbeat": now,
            "error": "",
        }
        updated = running_job_update(job, finished, not_cancelled=True)
        saved = kind.finish(job, Ending(Job.Status.FINISHED, outcome=outcome)) if updated else None
    if saved is not None:
        # As the row now says: the finished message reports the run's time and throughput.
        job.status, job.finished, job.bytes_read = Job.Status.FINISHED, now, outcome.nbytes
        return saved
    # Only this attempt can finish the job: a try whose commit reached the server before its
    # connection was lost did it, and the retry finds it done.
    if Job.objects.filter(pk=job.pk, attempt=job.attempt, status=Job.Status.FINISHED).exists():
        return final_results(job)
    if running_job(job).exists():
        raise JobCancelled()
    raise StaleAttempt(f"job {job.pk} is no longer running attempt {job.attempt}.")


def _end(job: Job, kind: JobKind | None, ending: Ending) -> None:
    """End ``job`` as failed or cancelled; the kind's finish undoes what its body began."""

    def end() -> int:
        # A job must not stay "running" because the database hiccuped (a lock, a restart).
        now = timezone.now()
        with transaction.atomic():
            updated = running_job(job).update(
                status=ending.status, error=ending.error, finished=now, heartbeat=now
            )
            if updated and kind is not None:
                kind.finish(job, ending)
        return updated

    if not with_db_retry(end, what=f"job {job.pk}: record {ending.status}"):
        logger.warning(
            "job %s attempt %s: not running any more, %s not recorded",
            job.pk,
            job.attempt,
            ending.status,
        )
        return
    logger.info("job %s %s: %s", job.pk, ending.status, ending.error)
    publish(ended_message(job.pk, job.kind, status=ending.status, error=ending.error))


class Heartbeat:
    """Writes the job's heartbeat every ``JOB_HEARTBEAT_SECONDS`` from a thread while the run
    lasts, also while no partition completes (the reaper takes a silent job for a dead one).
    The only heartbeat writer (a progress write refreshes it as well, in the same statement)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.interval = float(settings.JOB_HEARTBEAT_SECONDS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job.pk}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    running_job(self.job).update(heartbeat=timezone.now())
                except DatabaseError:
                    logger.warning("job %s: heartbeat not written", self.job.pk, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()
