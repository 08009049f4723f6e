"""The job driver: claim a queued job, compute it on the executor, store results, always end.

Every write after the claim is guarded by the job's ``attempt`` (its fencing token) and status
``running``: a run that lost its job (reaped, or cancelled while queued) writes nothing more.
Whatever happens, the job ends finished, failed with a sentence, or cancelled.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from apps.core.errors import CoreError, JobCancelled
from apps.core.executor import RunResult
from apps.datasets.services import dataset_open_for_job
from apps.jobs.analysis import build_analysis
from apps.jobs.compute import current_executor, executor_connected, get_executor
from apps.jobs.dbretry import with_db_retry
from apps.jobs.models import Job, Mask
from apps.jobs.progress import ProgressReporter, StopCheck, running_job
from apps.jobs.roi import roi_array
from apps.jobs.scheduling import has_free_slot, jobs_dispatch
from apps.live.events import publish
from apps.results.models import Result
from apps.results.serializers import result_json
from apps.results.store import StaleAttempt, final_results, results_replace

logger = logging.getLogger(__name__)

INGEST = "ingest"  # the analysis name of ingestion jobs (apps.datasets.ingest_driver)


def run_job(job_id: int) -> None:
    """Run job ``job_id`` if it is still queued (a duplicate delivery does nothing)."""
    _prepare_executor()
    try:
        job = with_db_retry(lambda: job_claim(job_id), what=f"job {job_id}: claim")
    except DatabaseError:
        # Not claimed, so still queued: a retry of the task (or a reaper) can start it.
        logger.exception("job %s: could not claim it", job_id)
        raise
    if job is None:
        logger.info("job %s is not queued any more (or waits for a slot); not run now", job_id)
        return
    try:
        with Heartbeat(job):
            _run_claimed(job)
    finally:
        _dispatch_next(job)


def _prepare_executor() -> None:
    # The executor's questions to the scheduler travel while the job is claimed and opened
    # (only an executor that exists: the first job starts one, and a job not claimed none).
    executor = current_executor()
    if executor is None:
        return
    try:
        executor.prepare()
    except Exception:  # the run reports a lost scheduler; the claim must not wait for it
        logger.debug("could not prepare the executor", exc_info=True)


def _run_claimed(job: Job) -> None:
    if job.analysis == INGEST:
        from apps.datasets.ingest_driver import run_claimed_ingest

        run_claimed_ingest(job)
        return
    publish(
        job.pk,
        {
            "type": "status",
            "id": job.pk,
            "status": job.status,
            "progress": {"done": 0, "total": job.frames_total},
        },
    )
    try:
        run = _compute(job)
        _finish_ok(job, run)
    except StaleAttempt:
        logger.warning("job %s attempt %s lost its job; stopping", job.pk, job.attempt)
    except JobCancelled:
        _finish(job, Job.Status.CANCELLED, "cancelled")
    except CoreError as exc:
        _finish(job, Job.Status.FAILED, _failure_message(exc))
    except Exception as exc:
        logger.exception("job %s: internal error", job.pk)
        _finish(job, Job.Status.FAILED, _failure_message(exc))


def job_claim(job_id: int) -> Job | None:
    """queued -> running with a new attempt, atomically; None if it was not queued, or its
    owner already runs ``MAX_RUNNING_JOBS_PER_USER`` jobs (it then waits, see scheduling)."""
    with transaction.atomic():
        job = (
            Job.objects.select_for_update(of=("self",))
            .select_related("dataset", "owner")
            .filter(pk=job_id, status=Job.Status.QUEUED)
            .first()
        )
        if job is None or not has_free_slot(job.owner_id):
            return None
        now = timezone.now()
        job.status = Job.Status.RUNNING
        job.attempt += 1  # the row is locked (SQLite: the transaction holds the write lock)
        job.started = job.heartbeat = now
        job.frames_done = 0
        job.error = ""
        job.save(
            update_fields=["status", "attempt", "started", "heartbeat", "frames_done", "error"]
        )
    return job


def _compute(job: Job) -> RunResult:
    dataset = job.dataset
    analysis = build_analysis(
        dataset=dataset,
        analysis=job.analysis,
        params=job.params,
        mask_lookup=lambda pk: with_db_retry(
            lambda: Mask.objects.filter(pk=pk).first(), what=f"job {job.pk}: mask {pk}"
        ),
    )
    roi = roi_array(job.roi, dataset.nav_shape)
    data = dataset_open_for_job(dataset)
    logger.info("job %s: %s on %s (attempt %s)", job.pk, job.analysis, data, job.attempt)
    return get_executor().run(
        data,
        analysis,
        roi=roi,
        on_progress=ProgressReporter(job, preview=analysis.preview, frame_bytes=data.frame_bytes),
        should_stop=StopCheck(job),
    )


def _failure_message(exc: Exception) -> str:
    what = str(exc) if isinstance(exc, CoreError) else f"{type(exc).__name__}: {exc}"
    if not executor_connected(current_executor()):
        return (
            "The connection to the dask scheduler was lost while the job ran, so it stopped "
            f"({what}). Run it again once the cluster is back."
        )
    return what if isinstance(exc, CoreError) else f"internal error: {what}"


def _finish_ok(job: Job, run: RunResult) -> None:
    saved = with_db_retry(lambda: _store_finish(job, run), what=f"job {job.pk}: finish")
    logger.info("job %s finished: %s frames in %.2f s", job.pk, run.frames, run.seconds)
    results = [result_json(r) for r in saved]
    publish(
        job.pk,
        {
            "type": "finished",
            "id": job.pk,
            "done": run.frames,
            "total": run.frames,
            "results": results,
        },
    )


def _store_finish(job: Job, run: RunResult) -> list[Result]:
    now = timezone.now()
    with transaction.atomic():
        # The guarded update locks the row and proves the attempt current; then the results.
        # A cancel requested before this commit wins: the job ends cancelled, storing nothing.
        updated = running_job(job, cancel_requested=False).update(
            status=Job.Status.FINISHED,
            frames_done=run.frames,
            frames_total=run.frames,
            bytes_read=run.nbytes,
            partitions=[r.as_dict() for r in run.partitions],
            finished=now,
            heartbeat=now,
            error="",
        )
        if updated:
            return results_replace(job=job, results=run.results)
    # Only this attempt can finish the job: a try whose commit reached the server before its
    # connection was lost did it, and the retry finds it done.
    if Job.objects.filter(pk=job.pk, attempt=job.attempt, status=Job.Status.FINISHED).exists():
        return final_results(job)
    if running_job(job).exists():
        raise JobCancelled()
    raise StaleAttempt(f"job {job.pk} is no longer running attempt {job.attempt}.")


def _finish(job: Job, status: str, error: str) -> None:
    """End ``job`` as failed or cancelled, leaving no results behind."""
    updated = _end_with_retries(job, status, error)
    if not updated:
        logger.warning(
            "job %s attempt %s: not running any more, %s not recorded", job.pk, job.attempt, status
        )
        return
    logger.info("job %s %s: %s", job.pk, status, error)
    publish(job.pk, {"type": status, "id": job.pk, "error": error})


def _end_with_retries(job: Job, status: str, error: str) -> int:
    # A job must not stay "running" because the database hiccuped (a lock, a restart).
    def end() -> int:
        now = timezone.now()
        with transaction.atomic():
            updated = running_job(job).update(
                status=status, error=error, finished=now, heartbeat=now
            )
            if updated:
                Result.objects.filter(job_id=job.pk).delete()
        return updated

    return with_db_retry(end, what=f"job {job.pk}: record {status}")


def _dispatch_next(job: Job) -> None:
    # The owner may have jobs waiting for the slot this one held.
    try:
        with_db_retry(lambda: jobs_dispatch(job.owner_id), what=f"job {job.pk}: next job")
    except DatabaseError:
        logger.exception("job %s: could not start the owner's next job (the reaper will)", job.pk)


class Heartbeat:
    """Writes the job's heartbeat every ``JOB_HEARTBEAT_SECONDS`` from a thread while the run
    lasts, also while no partition completes (the reaper takes a silent job for a dead one)."""

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
