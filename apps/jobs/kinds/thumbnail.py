"""The thumbnail kind: a dataset's mean frame and virtual annular dark-field image for the
catalogue (``apps.core.overview``, two passes over the frames); its finish stores both as PNG
``Thumbnail`` rows of the dataset, replacing earlier ones. Any other end leaves them as they
were. Jobs of this kind are queued by ``apps.jobs.thumbnails``.
"""

from __future__ import annotations

import logging

from django.conf import settings

from apps.core.analyses.plugins import BUILTIN
from apps.core.overview import overview_analysis
from apps.datasets.models import Dataset, Thumbnail
from apps.datasets.services import dataset_open_for_job
from apps.jobs.dbretry import with_db_retry
from apps.jobs.executor import get_executor
from apps.jobs.kinds.base import Ending, JobKind, JobRun, Outcome
from apps.jobs.models import Job
from apps.results.models import Result
from apps.results.thumbnail import thumbnail_png

logger = logging.getLogger(__name__)

UNFINISHED = (Job.Status.QUEUED, Job.Status.RUNNING)


def thumbnail_job_create(dataset: Dataset) -> tuple[Job, bool]:
    """The dataset's waiting or running thumbnail job, else a new queued one (True); the
    caller enqueues it (or the driver's dispatch of the owner's queued jobs does)."""
    pending = Job.objects.filter(dataset=dataset, kind=Job.Kind.THUMBNAIL, status__in=UNFINISHED)
    job = pending.first()
    if job is not None:
        return job, False
    job = Job.objects.create(
        owner_id=dataset.owner_id,
        dataset=dataset,
        kind=Job.Kind.THUMBNAIL,
        frames_total=2 * dataset.n_frames,  # two passes
    )
    return job, True


def thumbnails_after_ingest(dataset_id: int) -> None:
    """Queue thumbnails for an ingested dataset that has none (the copy holds the same frames;
    the driver starts the job when the ingestion's ends, as it does the owner's next jobs)."""
    dataset = Dataset.objects.filter(pk=dataset_id, thumbnails__isnull=True).first()
    if dataset is not None and settings.THUMBNAILS_ON_REGISTER:
        thumbnail_job_create(dataset)


def thumbnail_body(run: JobRun) -> Outcome:
    job = run.job
    data = with_db_retry(lambda: dataset_open_for_job(job.dataset), what=f"job {job.pk}: open")
    analysis = overview_analysis(
        nav_shape=data.nav_shape, sig_shape=data.sig_shape, dtype=data.dtype
    )
    computed = get_executor().run(
        data,
        analysis,
        on_progress=run.progress(frame_bytes=data.frame_bytes),
        should_stop=run.should_stop,
    )
    logger.info("job %s: thumbnails of %s in %.2f s", job.pk, data, computed.seconds)
    return Outcome(
        frames=computed.frames,
        nbytes=computed.nbytes,
        partitions=[p.as_dict() for p in computed.partitions],
        payload=computed.results,
        provenance=BUILTIN.as_json(),
    )


def thumbnail_finish(job: Job, ending: Ending) -> list[Result]:
    if ending.status != Job.Status.FINISHED or ending.outcome is None:
        return []
    results = ending.outcome.payload
    cy, cx, ri, ro = (float(v) for v in results["ring"])
    images = {
        Thumbnail.Kind.MEAN: (results["mean"], {}),
        Thumbnail.Kind.ADF: (results["adf"], {"cy": cy, "cx": cx, "ri": ri, "ro": ro}),
    }
    for kind, (image, detail) in images.items():
        Thumbnail.objects.update_or_create(
            dataset_id=job.dataset_id,
            kind=kind,
            defaults={
                "png": thumbnail_png(image, nav_shape=tuple(job.dataset.nav_shape)),
                "detail": {**detail, "job": job.pk},
            },
        )
    return []


KIND = JobKind(name=Job.Kind.THUMBNAIL, body=thumbnail_body, finish=thumbnail_finish)
