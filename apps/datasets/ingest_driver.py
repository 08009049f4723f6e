"""Run a claimed ``ingest`` job: write the dataset to the data nodes, then repoint the catalogue.

Called by the job driver (``apps.jobs.driver``) after it claimed the job, inside its heartbeat.
The dataset is ``ingesting`` while this runs; on success the row points at the new sidecar
(format raw, status ready, placement in ``partitions``) in the same transaction that finishes
the job. On failure or cancellation the source is untouched, no sidecar exists and the dataset
is ``error`` with the reason; running the ingestion again keeps the partitions already written.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.errors import CoreError, JobCancelled
from apps.core.ingest import ingest, plan_folder
from apps.core.io import open_dataset
from apps.datasets.models import Dataset
from apps.datasets.paths import read_scope
from apps.datasets.services import dataset_open_for_job
from apps.jobs.compute import get_executor
from apps.jobs.dbretry import with_db_retry
from apps.jobs.models import Job
from apps.jobs.progress import StopCheck, running_job
from apps.live.events import publish
from apps.results.store import StaleAttempt

logger = logging.getLogger(__name__)


def run_claimed_ingest(job: Job) -> None:
    """Ingest ``job.dataset`` as ``job.params`` say; always ends the job."""
    total = job.frames_total
    publish(
        job.pk,
        {
            "type": "status",
            "id": job.pk,
            "status": job.status,
            "progress": {"done": 0, "total": total},
        },
    )
    with_db_retry(
        lambda: Dataset.objects.filter(pk=job.dataset_id).update(
            status=Dataset.Status.INGESTING, error=""
        ),
        what=f"ingest job {job.pk}: start",
    )
    try:
        doc, sidecar = _ingest(job)
        _finish_ok(job, doc, sidecar)
    except StaleAttempt:
        logger.warning("ingest job %s attempt %s lost its job; stopping", job.pk, job.attempt)
    except JobCancelled:
        _finish(job, Job.Status.CANCELLED, "cancelled")
    except CoreError as exc:
        _finish(job, Job.Status.FAILED, str(exc))
    except Exception as exc:
        logger.exception("ingest job %s: internal error", job.pk)
        _finish(job, Job.Status.FAILED, f"internal error: {type(exc).__name__}: {exc}")


def _ingest(job: Job) -> tuple[dict[str, Any], Path]:
    source = dataset_open_for_job(job.dataset)
    params = job.params
    folder = plan_folder(source, params.get("partitions"), f"ds-{job.dataset_id}")
    root = Path(settings.INGEST_ROOT).resolve()
    root.mkdir(parents=True, exist_ok=True)
    sidecar = root / f"{folder}.json"
    executor = get_executor()
    logger.info("ingest job %s: %s -> %s on %s", job.pk, source, sidecar, params.get("nodes"))
    doc = ingest(
        source,
        sidecar=str(sidecar),
        roots={str(k): str(v) for k, v in settings.DATA_NODES.items()},
        folder=folder,
        partitions=params.get("partitions"),
        nodes=params.get("nodes"),
        replicas=int(params.get("replicas") or 1),
        client=getattr(executor, "client", None),
        on_progress=_Progress(job, source.frame_bytes),
        should_stop=StopCheck(job),
    )
    return doc, sidecar


class _Progress:
    def __init__(self, job: Job, frame_bytes: int) -> None:
        self.job = job
        self.frame_bytes = frame_bytes
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < settings.JOB_PROGRESS_INTERVAL:
            return
        self._last = now
        updated = with_db_retry(
            lambda: running_job(self.job).update(
                frames_done=done, bytes_read=done * self.frame_bytes, heartbeat=timezone.now()
            ),
            what=f"ingest job {self.job.pk}: progress",
        )
        if not updated:
            raise StaleAttempt(
                f"job {self.job.pk} is no longer running attempt {self.job.attempt}."
            )
        publish(self.job.pk, {"type": "progress", "id": self.job.pk, "done": done, "total": total})


def _finish_ok(job: Job, doc: dict[str, Any], sidecar: Path) -> None:
    scope = read_scope(str(sidecar), job.owner)
    written = open_dataset(str(sidecar), allowed=scope.allowed, node_roots=scope.node_roots)
    placement = [p.describe() for p in written.partitions()]
    records = _records(doc)
    with_db_retry(
        lambda: _store_finish(job, records, placement, sidecar),
        what=f"ingest job {job.pk}: finish",
    )
    written = sum(len(p["written"]) for p in doc["partitions"])
    logger.info("ingest job %s finished: %s copies written to %s", job.pk, written, sidecar)
    publish(
        job.pk,
        {
            "type": "finished",
            "id": job.pk,
            "done": job.frames_total,
            "total": job.frames_total,
            "results": [],
        },
    )


def _store_finish(
    job: Job, records: list[dict[str, Any]], placement: list[Any], sidecar: Path
) -> None:
    now = timezone.now()
    with transaction.atomic():
        updated = running_job(job).update(
            status=Job.Status.FINISHED,
            frames_done=job.frames_total,
            partitions=records,
            bytes_read=sum(r["nbytes"] for r in records),
            finished=now,
            heartbeat=now,
            error="",
        )
        if updated:
            Dataset.objects.filter(pk=job.dataset_id).update(
                path=str(sidecar),
                format="raw",
                params={},
                partitions=placement,
                status=Dataset.Status.READY,
                error="",
            )
            return
    # A try whose commit reached the server before its connection was lost finished it.
    if not Job.objects.filter(pk=job.pk, attempt=job.attempt, status=Job.Status.FINISHED).exists():
        raise StaleAttempt(f"job {job.pk} is no longer running attempt {job.attempt}.")


def _records(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per partition copy: the node that wrote (or kept) it, how long that took, and whether
    this run wrote it; shown like an analysis job's partitions (``worker``, ``gbs``)."""
    parts = doc["partitions"]
    return [
        {
            "index": c["index"],
            "start": parts[c["index"]]["start"],
            "stop": parts[c["index"]]["stop"],
            "worker": c["node"],
            "written": c["written"],
            "nbytes": c["nbytes"],
            "seconds": c["seconds"],
            "sha256": c["sha256"],
        }
        for c in doc["copies"]
    ]


def _finish(job: Job, status: str, error: str) -> None:
    updated = with_db_retry(
        lambda: _store_end(job, status, error), what=f"ingest job {job.pk}: record {status}"
    )
    if not updated:
        logger.warning("ingest job %s attempt %s: not running any more", job.pk, job.attempt)
        return
    logger.info("ingest job %s %s: %s", job.pk, status, error)
    publish(job.pk, {"type": status, "id": job.pk, "error": error})


def _store_end(job: Job, status: str, error: str) -> int:
    now = timezone.now()
    with transaction.atomic():
        updated = running_job(job).update(status=status, error=error, finished=now, heartbeat=now)
        if updated:
            Dataset.objects.filter(pk=job.dataset_id, status=Dataset.Status.INGESTING).update(
                status=Dataset.Status.ERROR,
                error=f"Ingestion {status}: {error.rstrip('.')}. Run it again to finish it.",
            )
    return updated
