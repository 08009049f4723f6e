"""Writes of the jobs app: submitting and cancelling jobs, uploading masks."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.analyses.base import Analysis
from apps.core.errors import DataSetError, ParameterError
from apps.datasets.access import can_change, visible_datasets
from apps.datasets.models import Dataset
from apps.datasets.services import dataset_identity_current
from apps.jobs import queue
from apps.jobs.access import visible_jobs
from apps.jobs.analysis import build_analysis, params_with_calibration
from apps.jobs.cache import cache_key, reusable_job
from apps.jobs.limits import check_queue_room, queue_moved
from apps.jobs.masks import mask_stack_from_upload
from apps.jobs.models import Job, Mask
from apps.jobs.quotas import quota_check
from apps.jobs.roi import roi_array
from apps.jobs.selectors import usable_mask
from apps.live.events import cancelled_message, publish, publish_access_changed
from apps.results.npy import npy_dumps

logger = logging.getLogger(__name__)


def job_submit(
    *,
    user: Any,
    dataset: Dataset,
    analysis: Any,
    params: Any,
    roi: Any = None,
    replaces: Job | None = None,
    reuse: bool = True,
    partitioning: list[list[int]] | None = None,
) -> Job:
    """Validate, save and enqueue a job; returns at once (the job runs elsewhere).

    The caller has checked that ``user`` may see ``dataset``. Invalid input raises
    ParameterError naming the field, too many waiting jobs QueueFull, a quota of the user
    (or of one of its groups) used up QuotaExceeded; nothing is saved.
    ``replaces``: the user's job on the same dataset that this one makes obsolete (the
    analysis page's previous edit); if it is still waiting or running it is cancelled and
    recorded as superseded by the new job, see :func:`_supersede`.
    With ``reuse``, a finished identical job ``user`` may see answers it: the job is of the
    kind ``reused`` and copies that job's results (:mod:`apps.jobs.cache`).
    ``partitioning``: the frame ranges to compute in (a reproduction, see
    :func:`apps.jobs.reproduce.job_reproduce`).
    """
    if replaces is not None:
        _check_replaceable(user, dataset, replaces)
    if dataset.status != Dataset.Status.READY:
        raise ParameterError("dataset", f"{dataset.name} is {dataset.status}, not ready.")
    params = params_with_calibration(
        dataset=dataset, analysis=analysis, params=params if params is not None else {}
    )
    built = build_analysis(
        dataset=dataset,
        analysis=analysis,
        params=params,
        mask_lookup=lambda pk: usable_mask(user=user, mask_id=pk),
        job_lookup=lambda pk: visible_jobs(user).select_related("dataset").filter(pk=pk).first(),
    )
    selected = roi_array(roi, dataset.nav_shape)
    # frames read: an analysis of several passes reads each frame once per pass
    total = built.passes * (dataset.n_frames if selected is None else int(selected.sum()))
    quota_check(user)
    key = _cache_key(dataset, built, selected)
    source = reusable_job(user=user, key=key) if reuse else None
    with transaction.atomic():
        # cancelled first: a replaced job that was waiting makes room in the queue
        stopped = replaces is not None and _stop(user, replaces)
        check_queue_room(user.pk)
        job = Job.objects.create(
            owner=user,
            dataset=dataset,
            analysis=built.name,
            params=params,
            roi=roi,
            frames_total=total,
            cache_key=key,
            kind=Job.Kind.ANALYSIS if source is None else Job.Kind.REUSED,
            reused_from=source,
            partitioning=partitioning,
        )
        if stopped:
            _supersede(replaces, job)
        start = queue.enqueue if source is None else queue.enqueue_reused
        transaction.on_commit(lambda: start(job.pk))
    return job


def _cache_key(dataset: Dataset, analysis: Analysis, roi: Any) -> str:
    """The job's cache key; none if the data cannot be opened now (the job then fails,
    saying why, as it would have without the cache)."""
    try:
        identity = dataset_identity_current(dataset)
    except DataSetError:
        return ""
    return cache_key(dataset=dataset, identity=identity, analysis=analysis, roi=roi)


def _check_replaceable(user: Any, dataset: Dataset, old: Job) -> None:
    if old.owner_id != user.pk:
        raise PermissionDenied(f"Job {old.pk} is not yours; a new job replaces only your own.")
    if old.dataset_id != dataset.pk:
        raise ParameterError(
            "replaces", f"job {old.pk} is on another dataset; a job replaces one on its own."
        )


def _stop(user: Any, old: Job) -> bool:
    """Cancel ``old``; False if it had ended (then it stands as a result of its own).

    An ended job never runs again, so one read as ended (by this request) needs no statement:
    a drag replaces a finished job at almost every step."""
    if old.is_terminal:
        return False
    try:
        job_cancel(user=user, job=old)
    except JobEnded:
        return False
    return True


def _supersede(old: Job, new: Job) -> None:
    """Record that ``new`` replaced ``old``: lists fold ``old`` under ``new``, and with it the
    jobs ``old`` had replaced, so a whole drag folds under the job that ends it."""
    Job.objects.filter(Q(pk=old.pk) | Q(superseded_by=old.pk)).update(superseded_by=new)


def job_rerun(*, user: Any, job: Job) -> Job:
    """A new job of ``user`` with ``job``'s dataset, analysis, parameters and ROI.

    Only an analysis runs again this way (ParameterError naming ``job`` otherwise): an
    ingestion is started again from its dataset, with its own checks.
    """
    if job.kind not in Job.ANALYSES:
        raise ParameterError(
            "job",
            f"job {job.pk} is an {job.kind} job, not an analysis; only analyses can be re-run "
            f"(start an {job.kind} from the dataset instead).",
        )
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
        publish(cancelled_message(job.pk, job.kind))
        # the jobs behind it move up, once the cancel is committed
        transaction.on_commit(lambda: queue_moved(job.owner_id))
    elif not Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(cancel_requested=True):
        job.refresh_from_db()
        raise JobEnded(job)
    job.refresh_from_db()
    logger.info("job %s: cancel requested by %s (%s)", job.pk, user, job.status)
    return job


def jobs_follow_sharing(*, dataset: Dataset, **signal: Any) -> None:
    """A dataset's groups changed (``dataset_shared``, inside that transaction): the jobs of
    owners who lost it stop, and the sockets watching its jobs check their access again."""
    jobs_cancel_lost(dataset=dataset)
    job_ids = list(dataset.jobs.values_list("pk", flat=True))
    transaction.on_commit(lambda: publish_access_changed(job_ids))


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
