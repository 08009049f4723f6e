"""Result downloads: ``/api/jobs/<id>/results/<name>.<fmt>`` and the latest partial preview."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse

from apps.accounts.access import get_job
from apps.accounts.api import api_view
from apps.jobs.models import Job
from apps.results.exports import CONTENT_TYPES, export
from apps.results.models import Result
from apps.results.store import result_array


@api_view(("GET",))
def result_download(request: HttpRequest, job_id: int, name: str, fmt: str) -> HttpResponse:
    job = get_job(request.user, job_id)
    row = _result(job.pk, name, partial=False)
    return _download(request, job, row, fmt, f"job-{job.pk}-{name}")


@api_view(("GET",))
def partial_download(request: HttpRequest, job_id: int, name: str, fmt: str) -> HttpResponse:
    """The latest partial preview image (2-d float32) of a running job."""
    job = get_job(request.user, job_id)
    row = _result(job.pk, name, partial=True)
    return _download(request, job, row, fmt, f"job-{job.pk}-{name}-partial")


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
