"""Result downloads: ``/api/jobs/<id>/results/<name>.<fmt>``, the latest partial preview, and
a finished job's thumbnail."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse

from apps.core.analyses import ANALYSES
from apps.jobs.access import get_job
from apps.jobs.models import Job
from apps.results.exports import CONTENT_TYPES, PREVIEW_FORMATS, export
from apps.results.models import Result
from apps.results.store import result_array
from apps.results.thumbnail import THUMBNAIL_PIXELS, thumbnail_png
from apps.web.api import api_view
from apps.web.apidoc import Operation, Reply


@api_view(
    get=Operation(
        "Download a result of a finished job as .npy, .h5 (with provenance), .tiff or .png",
        replies={200: Reply("The file.", files=tuple(dict.fromkeys(CONTENT_TYPES.values())))},
        errors={
            400: "The format does not fit the result (tiff needs a 2-d result).",
            404: "No such job or result, or a job you may not see.",
        },
    )
)
def result_download(request: HttpRequest, job_id: int, name: str, fmt: str) -> HttpResponse:
    job = get_job(request.user, job_id)
    row = _result(job.pk, name, partial=False)
    return _download(request, job, row, fmt, f"job-{job.pk}-{name}")


@api_view(
    get=Operation(
        "The latest partial preview of a running job (a 2-d float32 image)",
        replies={200: Reply("The file.", files=tuple(CONTENT_TYPES[f] for f in PREVIEW_FORMATS))},
        errors={404: "No such job or preview (yet), or a job you may not see."},
    )
)
def partial_download(request: HttpRequest, job_id: int, name: str, fmt: str) -> HttpResponse:
    """The latest partial preview image (2-d float32) of a running job."""
    job = get_job(request.user, job_id)
    row = _result(job.pk, name, partial=True)
    return _download(request, job, row, fmt, f"job-{job.pk}-{name}-partial")


@api_view(
    get=Operation(
        f"A finished analysis's preview result as a small PNG (at most {THUMBNAIL_PIXELS} px "
        "a side, coloured min to max)",
        description="A finished job's results never change: the answer may be cached, and "
        "If-None-Match with its ETag answers 304.",
        replies={
            200: Reply("The PNG.", files=("image/png",)),
            304: Reply("Unchanged since the ETag sent in If-None-Match."),
        },
        errors={404: "No such job, not a finished analysis, or a job you may not see."},
    )
)
def job_thumbnail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_job(request.user, job_id)
    cls = ANALYSES.get(job.analysis)
    if job.status != Job.Status.FINISHED or cls is None:
        raise Http404(f"Job {job.pk} is not a finished analysis; only those have a thumbnail.")
    row = _result(job.pk, cls.declaration.preview, partial=False)
    etag = f'"thumb-{job.pk}-{row.pk}"'
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponse(status=304)
    else:
        png = thumbnail_png(result_array(row), nav_shape=tuple(job.dataset.nav_shape))
        response = HttpResponse(png, content_type="image/png")
    response["ETag"] = etag
    # private: only those who may see the job get it, so no shared cache may keep it
    response["Cache-Control"] = "private, max-age=86400"
    return response


def _result(job_id: int, name: str, *, partial: bool) -> Result:
    row = Result.objects.filter(job_id=job_id, name=name, partial=partial).first()
    if row is None:
        kind = "partial result" if partial else "result"
        raise Http404(f"Job {job_id} has no {kind} named {name!r}.")
    return row


def _download(request: HttpRequest, job: Job, row: Result, fmt: str, stem: str) -> HttpResponse:
    body = export(result_array(row), fmt, job=job, name=row.name, viewer=request.user)
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    disposition = "inline" if fmt == "png" else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{stem}.{fmt}"'
    return response
