"""The final image a job's websocket sends with the job's end, so the page need not fetch it.

The page shows an analysis's preview result as the final image. Its ``.npy`` bytes (as the
result's ``npy`` URL gives them) travel as the binary frame of the ``finished`` message, and of
the ``status`` message a socket gets on connect when the job has finished already (a fast job
often ends before the page's socket is open). docs/api.md, "The job websocket".
"""

from __future__ import annotations

from apps.core.analyses import ANALYSES
from apps.jobs.models import Job
from apps.results.models import Result

#: The largest preview result (.npy bytes) sent with the message: a 512 x 512 float32 image.
#: A larger one is fetched by the page as before.
FINAL_IMAGE_MAX_BYTES = (1 << 20) + 4096


def small_enough(row: Result | None) -> bool:
    return row is not None and len(row.data) <= FINAL_IMAGE_MAX_BYTES


def preview_name(job: Job) -> str | None:
    """The name of the result an analysis job (computed or reused) shows as its image."""
    cls = ANALYSES.get(job.analysis)
    if job.kind not in Job.ANALYSES or cls is None:
        return None
    return cls.declaration.preview


def stored_final_image(job: Job) -> Result | None:
    """The finished analysis job's stored preview result, if small enough to send."""
    name = preview_name(job)
    if job.status != Job.Status.FINISHED or name is None:
        return None
    row = Result.objects.filter(
        job_id=job.pk, name=name, partial=False, nbytes__lte=FINAL_IMAGE_MAX_BYTES
    ).first()
    return row if small_enough(row) else None
