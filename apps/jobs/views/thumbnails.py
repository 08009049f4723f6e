"""Computing a dataset's thumbnails on request (the dataset page's button and the API): a
``thumbnail`` job owned by the dataset's owner (``apps.jobs.thumbnails``)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.datasets.access import get_dataset
from apps.jobs.serializers import JOB_CREATED, job_urls
from apps.jobs.thumbnails import thumbnails_refresh
from apps.web.api import api_view
from apps.web.apidoc import Operation, Reply


@login_required
@require_POST
def dataset_thumbnails_page(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    try:
        thumbnails_refresh(user=request.user, dataset=dataset)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Computing the thumbnails of {dataset.name}.")
    return redirect("dataset_detail", pk=dataset.pk)


@api_view(
    post=Operation(
        "Compute a dataset's thumbnails again (mean frame, annular dark field): a thumbnail job",
        replies={202: Reply("The thumbnail job (the one already waiting, if any).", JOB_CREATED)},
        errors={403: "You may see the dataset but are not its owner (or staff)."},
    )
)
def api_dataset_thumbnails(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    job = thumbnails_refresh(user=request.user, dataset=dataset)
    return JsonResponse({"id": job.pk, "status": job.status, **job_urls(job.pk)}, status=202)
