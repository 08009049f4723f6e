"""JSON API of the jobs app: masks, jobs, cancellation, the analysis catalogue."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.accounts.access import can_change, get_dataset, get_job
from apps.accounts.api import ApiError, api_view, json_body, required_id
from apps.core.analyses import describe_analyses
from apps.jobs import selectors, services
from apps.jobs.scheduling import QueueFull
from apps.jobs.serializers import job_json, job_urls, mask_json

JOB_FIELDS = {"dataset", "analysis", "params", "roi"}
LIST_LIMIT = 200


@api_view(("POST",))
def mask_create(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("file")
    if upload is None:
        raise ApiError(
            "Send the mask as a multipart field 'file' (.npy).", fields={"file": "is required."}
        )
    dataset = get_dataset(request.user, required_id(request.POST.get("dataset"), "dataset"))
    mask = services.mask_upload(
        user=request.user, dataset=dataset, file=upload, name=request.POST.get("name", "")
    )
    return JsonResponse(mask_json(mask), status=201)


@api_view(("GET", "POST"))
def job_collection(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _job_submit(request)
    dataset = request.GET.get("dataset")
    dataset_id = required_id(dataset, "dataset") if dataset is not None else None
    jobs = selectors.job_list(user=request.user, dataset_id=dataset_id)[:LIST_LIMIT]
    return JsonResponse({"jobs": [job_json(j, results=False) for j in jobs]})


def _job_submit(request: HttpRequest) -> HttpResponse:
    body = json_body(request)
    unknown = sorted(set(body) - JOB_FIELDS)
    if unknown:
        raise ApiError(
            f"Unknown field {unknown[0]!r}; send {', '.join(sorted(JOB_FIELDS))}.",
            fields={unknown[0]: "is not a field of a job."},
        )
    for name in ("dataset", "analysis"):
        if name not in body:
            raise ApiError(f"The field {name!r} is required.", fields={name: "is required."})
    dataset = get_dataset(request.user, required_id(body["dataset"], "dataset"))
    with queue_full_as_429():
        job = services.job_submit(
            user=request.user,
            dataset=dataset,
            analysis=body["analysis"],
            params=body.get("params", {}),
            roi=body.get("roi"),
        )
    return JsonResponse({"id": job.pk, "status": job.status, **job_urls(job.pk)}, status=202)


@api_view(("GET",))
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    return JsonResponse(job_json(get_job(request.user, job_id)))


@api_view(("POST",))
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_job(request.user, job_id)
    if not can_change(request.user, job):
        raise ApiError("Only the job's owner (or staff) can cancel it.", status=403)
    try:
        job = services.job_cancel(user=request.user, job=job)
    except services.JobEnded as exc:
        raise ApiError(str(exc), status=409, fields={"status": exc.job.status}) from exc
    return JsonResponse(job_json(job, results=False))


@api_view(("POST",))
def job_rerun(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_job(request.user, job_id)
    if not can_change(request.user, job):
        raise ApiError("Only the job's owner (or staff) can run it again.", status=403)
    with queue_full_as_429():
        new = services.job_rerun(user=request.user, job=job)
    return JsonResponse({"id": new.pk, "status": new.status, **job_urls(new.pk)}, status=202)


@api_view(("POST",))
def job_share(request: HttpRequest, job_id: int) -> HttpResponse:
    """``{"shared": true}``: everyone who may see the dataset may see the job; false: owner only."""
    job = get_job(request.user, job_id, related=("dataset", "owner"))
    body = json_body(request)
    if "shared" not in body:
        raise ApiError("The field 'shared' is required.", fields={"shared": "is required."})
    job = services.job_share(user=request.user, job=job, shared=body["shared"])
    return JsonResponse(job_json(job, results=False))


@contextmanager
def queue_full_as_429() -> Iterator[None]:
    try:
        yield
    except QueueFull as exc:
        raise ApiError(str(exc), status=429) from exc


@api_view(("GET",))
def analysis_list(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"analyses": describe_analyses()})
