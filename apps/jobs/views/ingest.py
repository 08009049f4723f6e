"""Ingestion of a dataset onto the data nodes, started from its page or the API: an ingest job."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.core.errors import ParameterError
from apps.datasets.access import get_dataset
from apps.jobs.ingestion import PLACEMENTS, dataset_ingest
from apps.jobs.limits import QueueFull
from apps.jobs.quotas import QuotaExceeded
from apps.jobs.serializers import JOB_CREATED, job_urls
from apps.jobs.views.api import submission_refusals
from apps.web.api import api_view, json_body
from apps.web.apidoc import STRING, Operation, Reply, array, nullable, obj


@login_required
@require_POST
def dataset_ingest_page(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    try:
        job = dataset_ingest(
            user=request.user,
            dataset=dataset,
            partitions=request.POST.get("partitions") or None,
            nodes=request.POST.getlist("nodes") or None,
            replicas=request.POST.get("replicas") or 1,
            placement=request.POST.get("placement") or None,
        )
    except (ParameterError, QueueFull, QuotaExceeded) as exc:
        messages.error(request, str(exc))
        return redirect("dataset_detail", pk=dataset.pk)
    messages.success(request, f"Ingesting {dataset.name} onto the data nodes.")
    return redirect("job_detail", job.pk)


@api_view(
    post=Operation(
        "Copy a dataset onto the data nodes' storage as partitioned raw (an ingest job)",
        body=obj(
            "IngestRequest",
            partitions=nullable({"type": "integer", "minimum": 1})
            | {"description": "How many partitions (default: from the dataset's size)."},
            nodes=nullable(array(STRING))
            | {"description": "Names of DATA_NODES to place them on (default: all)."},
            replicas={"type": "integer", "minimum": 1, "default": 1},
            placement={
                "type": "string",
                "enum": list(PLACEMENTS),
                "default": PLACEMENTS[0],
                "description": "round-robin over the nodes, or free-space: each partition on "
                "the nodes with the most free space (measured on the nodes).",
            },
        ),
        replies={202: Reply("The ingest job, queued.", JOB_CREATED)},
        errors={
            400: "Besides malformed input: no DATA_NODES configured, an unknown node, more "
            "replicas than nodes, an unknown placement, a dataset being ingested.",
            403: "You may see the dataset but are not its owner (or staff), or a compute-time "
            "quota is used up (the field quota names it).",
            429: "",
        },
    )
)
def api_dataset_ingest(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    body = json_body(request)
    with submission_refusals():
        job = dataset_ingest(
            user=request.user,
            dataset=dataset,
            partitions=body.get("partitions"),
            nodes=body.get("nodes"),
            replicas=body.get("replicas", 1),
            placement=body.get("placement"),
        )
    return JsonResponse({"id": job.pk, "status": job.status, **job_urls(job.pk)}, status=202)
