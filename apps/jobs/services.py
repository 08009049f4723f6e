"""Writes of the jobs app: submitting and cancelling jobs, uploading masks."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from apps.accounts.access import can_change, visible_datasets
from apps.core.errors import ParameterError
from apps.datasets.models import Dataset
from apps.jobs import runner
from apps.jobs.analysis import build_analysis
from apps.jobs.masks import mask_stack_from_upload
from apps.jobs.models import Job, Mask
from apps.jobs.roi import roi_array
from apps.jobs.scheduling import check_queue_room
from apps.jobs.selectors import usable_mask
from apps.live.events import publish, publish_access_changed
from apps.results.npy import npy_dumps

logger = logging.getLogger(__name__)


def job_submit(*, user: Any, dataset: Dataset, analysis: Any, params: Any, roi: Any = None) -> Job:
    """Validate, save and enqueue a job; returns at once (the job runs elsewhere).

    The caller has checked that ``user`` may see ``dataset``. Invalid input raises
    ParameterError naming the field, too many waiting jobs QueueFull; nothing is saved.
    """
    if dataset.status != Dataset.Status.READY:
        raise ParameterError("dataset", f"{dataset.name} is {dataset.status}, not ready.")
    built = build_analysis(
        dataset=dataset,
        analysis=analysis,
        params=params if params is not None else {},
        mask_lookup=lambda pk: usable_mask(user=user, mask_id=pk),
    )
    selected = roi_array(roi, dataset.nav_shape)
    total = dataset.n_frames if selected is None else int(selected.sum())
    with transaction.atomic():
        check_queue_room(user.pk)
        job = Job.objects.create(
            owner=user,
            dataset=dataset,
            analysis=built.name,
            params=params if params is not None else {},
            roi=roi,
            frames_total=total,
        )
        transaction.on_commit(lambda: runner.enqueue(job.pk))
    return job


def job_rerun(*, user: Any, job: Job) -> Job:
    """A new job of ``user`` with ``job``'s dataset, analysis, parameters and ROI."""
    return job_submit(
        user=user, dataset=job.dataset, analysis=job.analysis, params=job.params, roi=job.roi
    )


class JobEnded(Exception):
    """A cancel arrived after the job ended (its results, if any, are stored)."""

    def __init__(self, job: Job) -> None:
        super().__init__(
            f"Job {job.pk} has already {_ENDED[job.status]}; there is nothing to cancel."
        )
        self.job = job


_ENDED = {
    Job.Status.FINISHED: "finished",
    Job.Status.FAILED: "failed",
    Job.Status.CANCELLED: "been cancelled",
}


def job_share(*, user: Any, job: Job, shared: Any) -> Job:
    """Show ``job`` to everyone who may see its dataset (``shared``), or to its owner only.

    Owner or staff only (PermissionDenied otherwise); ParameterError unless ``shared`` is a
    boolean.
    """
    if not can_change(user, job):
        raise PermissionDenied("Only the job's owner (or staff) can share it.")
    if not isinstance(shared, bool):
        raise ParameterError("shared", f"must be true or false, got {shared!r:.40}.")
    Job.objects.filter(pk=job.pk).update(shared=shared)
    job.shared = shared
    if not shared:
        transaction.on_commit(lambda: publish_access_changed([job.pk]))
    return job


def job_cancel(*, user: Any, job: Job) -> Job:
    """Cancel ``job``: a queued job at once, a running one at its partitions' next tile (or at
    its finish, which stores no results once a cancel is requested). Raises :class:`JobEnded`
    when the job had already ended."""
    now = timezone.now()
    queued = Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED)
    if queued.update(
        status=Job.Status.CANCELLED, error="cancelled", finished=now, cancel_requested=True
    ):
        publish(job.pk, {"type": "cancelled", "id": job.pk, "error": "cancelled"})
    elif not Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(cancel_requested=True):
        job.refresh_from_db()
        raise JobEnded(job)
    job.refresh_from_db()
    logger.info("job %s: cancel requested by %s (%s)", job.pk, user, job.status)
    return job


def jobs_cancel_lost(*, dataset: Dataset) -> list[int]:
    """Cancel the queued and running jobs on ``dataset`` whose owners may no longer see it.

    Called when a dataset is shared with fewer groups: such a job's results would be out of its
    owner's sight, and computing on data its owner lost is what unsharing must stop.
    Returns the ids of the jobs asked to stop.
    """
    active = dataset.jobs.filter(status__in=(Job.Status.QUEUED, Job.Status.RUNNING))
    stopped = []
    for job in active.select_related("owner"):
        if visible_datasets(job.owner).filter(pk=dataset.pk).exists():
            continue
        try:
            job_cancel(user=job.owner, job=job)
        except JobEnded:
            continue  # ended meanwhile; its results are hidden from its owner all the same
        stopped.append(job.pk)
    return stopped


def mask_upload(*, user: Any, dataset: Dataset, file: UploadedFile, name: str = "") -> Mask:
    """Store an uploaded ``.npy`` mask stack for ``dataset`` (checked against its detector)."""
    if file.size is not None and file.size > settings.MAX_MASK_UPLOAD_BYTES:
        raise ParameterError(
            "file",
            f"{file.name}: {file.size} bytes is larger than the limit of "
            f"{settings.MAX_MASK_UPLOAD_BYTES} bytes.",
        )
    stack = mask_stack_from_upload(
        file.read(), sig_shape=dataset.sig_shape, filename=file.name or "upload"
    )
    return Mask.objects.create(
        owner=user,
        dataset=dataset,
        name=(name or file.name or "")[:200],
        shape=list(stack.shape),
        dtype=stack.dtype.str,
        data=npy_dumps(stack),
    )
