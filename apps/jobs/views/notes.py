"""Notes, tags and annotations of a job: its page's form and the API."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.datasets.catalogue_views import NOTES_BODY
from apps.datasets.notes import parse_annotation_lines
from apps.jobs.access import get_job
from apps.jobs.notes import job_annotate
from apps.jobs.serializers import JOB, job_json
from apps.web.api import api_view, json_body
from apps.web.apidoc import Operation, Reply


@api_view(
    post=Operation(
        "Replace a job's notes, tags or annotations (those given)",
        body=NOTES_BODY,
        replies={200: Reply("The job with its new notes.", JOB)},
        errors={
            400: "A tag or key that is not a name, a value too long, notes that are not text.",
            403: "You may see the job (shared) but are not its owner (or staff).",
        },
    ),
)
def api_job_notes(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_job(request.user, job_id)
    data = json_body(request)
    changes = {f: data[f] for f in ("notes", "tags", "annotations") if f in data}
    job_annotate(user=request.user, job=job, **changes)
    return JsonResponse(job_json(get_job(request.user, job.pk)))


@login_required
@require_POST
def job_notes(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_job(request.user, job_id)
    try:
        job_annotate(
            user=request.user,
            job=job,
            notes=request.POST.get("notes", ""),
            tags=request.POST.get("tags", "").split(","),
            annotations=parse_annotation_lines(request.POST.get("annotations", "")),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Saved the notes of job {job.pk}.")
    return redirect("job_detail", job.pk)
