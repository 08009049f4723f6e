"""JSON API of the jobs app: masks, jobs, cancellation, the analysis catalogue."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.core.analyses import ANALYSES, describe_analyses, params_schema
from apps.datasets.access import can_change, get_dataset
from apps.jobs import reproduce, selectors, services
from apps.jobs.access import get_job
from apps.jobs.limits import QueueFull
from apps.jobs.models import Job, Mask
from apps.jobs.quotas import QuotaExceeded
from apps.jobs.serializers import (
    JOB,
    JOB_CREATED,
    MASK,
    ROI,
    job_json,
    job_urls,
    mask_json,
)
from apps.web.api import ApiError, api_view, json_body, required_id
from apps.web.apidoc import ID, STRING, Operation, Query, Reply, array, named, nullable, obj

JOB_FIELDS = {"dataset", "analysis", "params", "roi", "replaces", "reuse"}
#: The fields of a reproduction: a provenance record instead of dataset, analysis, ...
RECORD_FIELDS = {"record", "replaces", "reuse"}
LIST_LIMIT = 200
#: Besides malformed input, what only the dataset can decide.
DATA_DECIDES = (
    "Besides malformed input, the dataset decides: positions and radii must lie on its detector "
    "or scan, a mask must match its detector."
)


REPLACES = (
    "One of your jobs on the same dataset that this one makes obsolete (the previous step of "
    "an edit): cancelled if it still waits or runs, and then listed as superseded by the new "
    "job; one that has ended stays as it is."
)
REUSE = (
    "Whether a finished identical job you may see answers this one at once (default true): "
    "the job is then of the kind reused, with byte copies of that job's results; false "
    "computes it anew."
)
RECORD = (
    "A finished job's provenance record (its provenance, as GET /api/jobs/<id>/ gives it), "
    "in place of dataset, analysis, params and roi: the job is computed again in the "
    "recorded partitions, giving the same bytes; refused (400) if the dataset's files, the "
    "analysis's code or the engine version are not those recorded."
)
_STATUS = {"type": "string", "enum": list(Job.Status.values)}
_BOOLEAN = {"type": "boolean"}


def _params(name: str) -> dict:
    """The schema of ``params`` for analysis ``name``; null means no parameters, which only an
    analysis requiring none accepts."""
    schema = params_schema(name)
    if schema.get("required") or "oneOf" in schema:
        return schema
    return nullable(schema) | {"description": "Its parameters (or null: none)."}


def job_submit_schema() -> dict:
    """One variant per analysis: its name and the schema of its parameters."""
    variants = [
        obj(
            required=("dataset", "analysis"),
            dataset=ID,
            analysis={"const": name},
            params=_params(name),
            roi=nullable(ROI) | {"description": "Only these scan positions (default: all)."},
            replaces=nullable(ID) | {"description": REPLACES},
            reuse=_BOOLEAN | {"description": REUSE},
        )
        | {"additionalProperties": False}
        for name in ANALYSES
    ]
    reproduction = obj(
        required=("record",),
        record={"type": "object", "description": RECORD},
        replaces=nullable(ID) | {"description": REPLACES},
        reuse=_BOOLEAN | {"description": REUSE},
    ) | {"additionalProperties": False}
    return named("JobSubmit", {"oneOf": [*variants, reproduction]})


@api_view(
    post=Operation(
        "Upload a mask stack (.npy of shape (m, sy, sx) or (sy, sx)) for a dataset",
        form=obj(
            required=("file", "dataset"),
            file={"type": "string", "format": "binary", "description": "The .npy file."},
            dataset=ID,
            name=STRING | {"maxLength": Mask._meta.get_field("name").max_length},
        ),
        replies={201: Reply("The stored mask; submit it as the masks analysis's masks.", MASK)},
        errors={400: DATA_DECIDES, 404: "No such dataset, or one you may not see."},
    )
)
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


@api_view(
    get=Operation(
        f"Jobs you may see, newest first (at most {LIST_LIMIT}; without results)",
        query=(
            Query("dataset", ID, "Only the jobs of this dataset."),
            Query("analysis", STRING, "Only this analysis (or kind of job: ingest)."),
            Query("status", _STATUS, "Only the jobs in this state."),
            Query("owner", STRING, "Only the jobs of the user of this name."),
            Query(
                "superseded",
                _BOOLEAN,
                "true: only jobs a newer job replaced while they ran; false: only the others.",
            ),
            Query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": LIST_LIMIT},
                f"At most this many jobs (default {LIST_LIMIT}).",
            ),
        ),
        replies={200: Reply("The jobs.", obj(jobs=array(JOB, maxItems=LIST_LIMIT)))},
    ),
    post=Operation(
        "Submit an analysis job; the answer comes at once, the job runs in the background",
        body=job_submit_schema(),
        replies={202: Reply("Queued.", JOB_CREATED)},
        errors={
            400: DATA_DECIDES,
            403: "The job named in replaces is not yours, or a quota of yours (or of a group "
            "of yours) is used up: the field quota names it, the usage and the limit.",
            404: "No such dataset (or job to replace), or one you may not see.",
            429: "",
        },
    ),
)
def job_collection(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _job_submit(request)
    query = request.GET
    dataset = query.get("dataset")
    status = query.get("status")
    if status is not None and status not in Job.Status.values:
        expected = ", ".join(Job.Status.values)
        raise ApiError(
            f"The status {status[:40]!r} is not a job state; use one of {expected}.",
            fields={"status": f"must be one of {expected}."},
        )
    jobs = selectors.job_list(
        user=request.user,
        dataset_id=required_id(dataset, "dataset") if dataset is not None else None,
        analysis=query.get("analysis"),
        status=status,
        owner=query.get("owner"),
        superseded=_query_boolean(query, "superseded"),
    )
    limit = _query_limit(query)
    return JsonResponse({"jobs": [job_json(j, results=False) for j in jobs[:limit]]})


def _query_boolean(query: Any, name: str) -> bool | None:
    raw = query.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise ApiError(
            f"The query parameter {name!r} must be true or false, got {raw[:40]!r}.",
            fields={name: "must be true or false."},
        )
    return raw == "true"


def _query_limit(query: Any) -> int:
    raw = query.get("limit")
    if raw is None:
        return LIST_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= LIST_LIMIT:
        raise ApiError(
            f"The limit must be a whole number from 1 to {LIST_LIMIT}, got {raw[:40]!r}.",
            fields={"limit": f"must be a whole number from 1 to {LIST_LIMIT}."},
        )
    return int(raw)


def _job_submit(request: HttpRequest) -> HttpResponse:
    body = json_body(request)
    allowed = RECORD_FIELDS if "record" in body else JOB_FIELDS
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(
            f"Unknown field {unknown[0]!r}; send {', '.join(sorted(allowed))}.",
            fields={
                unknown[0]: "is not a field of a job"
                + (" with a record." if "record" in body else ".")
            },
        )
    reuse = body.get("reuse", True)
    if not isinstance(reuse, bool):
        raise ApiError(
            f"The field 'reuse' must be true or false, got {reuse!r:.40}.",
            fields={"reuse": "must be true or false."},
        )
    replaces = body.get("replaces")
    if replaces is not None:
        replaces = get_job(request.user, required_id(replaces, "replaces"))
    if "record" in body:
        with submission_refusals():
            job = reproduce.job_reproduce(
                user=request.user, record=body["record"], reuse=reuse, replaces=replaces
            )
        return JsonResponse({"id": job.pk, "status": job.status, **job_urls(job.pk)}, status=202)
    for name in ("dataset", "analysis"):
        if name not in body:
            raise ApiError(f"The field {name!r} is required.", fields={name: "is required."})
    dataset = get_dataset(request.user, required_id(body["dataset"], "dataset"))
    with submission_refusals():
        job = services.job_submit(
            user=request.user,
            dataset=dataset,
            analysis=body["analysis"],
            params=body.get("params", {}),
            roi=body.get("roi"),
            replaces=replaces,
            reuse=reuse,
        )
    return JsonResponse({"id": job.pk, "status": job.status, **job_urls(job.pk)}, status=202)


@api_view(
    get=Operation(
        "One job: status, progress in frames, error, results",
        replies={200: Reply("The job.", JOB)},
    )
)
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    return JsonResponse(job_json(get_job(request.user, job_id)))


@api_view(
    post=Operation(
        "Cancel a job: a queued one at once, a running one at its partitions' next tile",
        replies={200: Reply("The job (without results).", JOB)},
        errors={
            403: "You may see the job but are not its owner (or staff).",
            409: "The job has ended already.",
        },
    )
)
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_job(request.user, job_id)
    if not can_change(request.user, job):
        raise ApiError("Only the job's owner (or staff) can cancel it.", status=403)
    try:
        job = services.job_cancel(user=request.user, job=job)
    except services.JobEnded as exc:
        raise ApiError(str(exc), status=409, fields={"status": exc.job.status}) from exc
    return JsonResponse(job_json(job, results=False))


@api_view(
    post=Operation(
        "Run a job again with the same dataset, analysis, parameters and ROI (a new job)",
        replies={202: Reply("The new job, queued.", JOB_CREATED)},
        errors={
            400: "The job is not an analysis (an ingestion starts again from its dataset).",
            403: "You may see the job but are not its owner (or staff), or a quota is used up "
            "(the field quota names it).",
            429: "",
        },
    )
)
def job_rerun(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_job(request.user, job_id)
    if not can_change(request.user, job):
        raise ApiError("Only the job's owner (or staff) can run it again.", status=403)
    with submission_refusals():
        new = services.job_rerun(user=request.user, job=job)
    return JsonResponse({"id": new.pk, "status": new.status, **job_urls(new.pk)}, status=202)


@api_view(
    post=Operation(
        "Share a job with everyone who may see its dataset, or stop sharing it",
        body=obj(required=("shared",), shared={"type": "boolean"}),
        replies={200: Reply("The job (without results).", JOB)},
        errors={403: "You may see the job but are not its owner (or staff)."},
    )
)
def job_share(request: HttpRequest, job_id: int) -> HttpResponse:
    """``{"shared": true}``: everyone who may see the dataset may see the job; false: owner only."""
    job = get_job(request.user, job_id, related=("dataset", "owner"))
    body = json_body(request)
    if "shared" not in body:
        raise ApiError("The field 'shared' is required.", fields={"shared": "is required."})
    job = services.job_share(user=request.user, job=job, shared=body["shared"])
    return JsonResponse(job_json(job, results=False))


@contextmanager
def submission_refusals() -> Iterator[None]:
    """A job refused for its owner's limits: too many waiting (429), a quota used up (403,
    its field ``quota`` says which, the usage and the limit)."""
    try:
        yield
    except QueueFull as exc:
        raise ApiError(str(exc), status=429) from exc
    except QuotaExceeded as exc:
        use = exc.use
        detail = f"{use.scope} {use.holder}: {use.kind} {use.used:.0f} of {use.limit}"
        raise ApiError(str(exc), status=403, fields={"quota": detail}) from exc


@api_view(
    get=Operation(
        "The analyses: their parameters, results and controls",
        replies={200: Reply("The analyses.", obj(analyses=array({"type": "object"})))},
    )
)
def analysis_list(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"analyses": describe_analyses()})
